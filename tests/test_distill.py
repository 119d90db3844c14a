"""Distillation (stance.models.distill): the mixed loss against an independent computation, a
tiny student trained from a tiny teacher through the real Trainer, and the refusals that keep
held-out quotes out of the teacher's soft targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from stance.errors import ConfigError
from stance.models.hf_trainer import distillation_loss
from stance.models.training import train


def _numpy_loss(logits, labels, teacher, weight, class_weights):
    """The documented formula, written out independently in numpy."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    w = class_weights[labels]
    hard = -(w * logp[np.arange(len(labels)), labels]).sum() / w.sum()
    soft = -(teacher * logp).sum(axis=1).mean()
    return (1 - weight) * hard + weight * soft


def test_distillation_loss_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 3))
    labels = rng.integers(0, 3, size=7)
    teacher = rng.dirichlet(np.ones(3), size=7)
    cw = np.array([0.8, 1.3, 1.0])
    for weight in (0.0, 0.3, 1.0):
        got = distillation_loss(
            torch.tensor(logits, dtype=torch.float32), torch.tensor(labels),
            torch.tensor(teacher, dtype=torch.float32), weight, torch.tensor(cw, dtype=torch.float32),
        )  # fmt: skip
        assert float(got) == pytest.approx(
            _numpy_loss(logits, labels, teacher, weight, cw), rel=1e-5
        )
    # Weight 0, no class weights: scikit-learn's log loss on the softmax.
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    plain = distillation_loss(torch.tensor(logits), torch.tensor(labels), None, 0.7)
    assert float(plain) == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2]), rel=1e-6)


def test_student_trains_from_teacher_and_records_it(
    transformer_config, transformer_model, tmp_path
):
    result = train(
        transformer_config,
        output_dir=tmp_path / "student",
        overrides={
            "transformer.distill_from": str(transformer_model),
            "transformer.distill_weight": 0.7,
        },
    )
    meta = json.loads((tmp_path / "student" / "metadata.json").read_text(encoding="utf-8"))
    teacher_meta = json.loads((transformer_model / "metadata.json").read_text(encoding="utf-8"))
    record = meta["distillation"]
    assert record["teacher"] == str(transformer_model)
    assert record["weight"] == 0.7
    assert record["teacher_checksums"] == teacher_meta["checksums"]
    assert meta["config"]["transformer"]["distill_from"] == str(transformer_model)
    assert result.metrics["validation"]["n"] > 0
    card = (tmp_path / "student" / "README.md").read_text(encoding="utf-8")
    assert f"teacher model {transformer_model} (distillation)" in card
    # A model without a teacher records none.
    assert teacher_meta.get("distillation") is None


def test_teacher_must_have_trained_on_the_students_training_file(
    transformer_config, transformer_model, tiny_splits, tmp_path
):
    other = tmp_path / "other_train.jsonl"
    lines = tiny_splits["train"].read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="distill_from.*trained on this config's training file"):
        train(
            transformer_config,
            output_dir=tmp_path / "student",
            overrides={
                "transformer.distill_from": str(transformer_model),
                "data.train": str(other),
            },
        )
    assert not (tmp_path / "student").exists()


def test_missing_teacher_is_a_one_line_config_error(transformer_config, tmp_path, monkeypatch):
    # Checked from the teacher's metadata before the student's backbone is even resolved.
    def no_backbone(name):
        raise AssertionError(f"backbone {name} resolved before the teacher was checked")

    monkeypatch.setattr("stance.models.transformer.resolve_backbone", no_backbone)
    with pytest.raises(ConfigError) as info:
        train(
            transformer_config,
            output_dir=tmp_path / "student",
            overrides={"transformer.distill_from": str(tmp_path / "no_teacher")},
        )
    message = str(info.value)
    assert "\n" not in message and "distill_from" in message and "train the teacher" in message


def test_distilled_configs_are_not_cross_validated(transformer_config, transformer_model):
    from stance.config import load_config
    from stance.evaluation.evaluate import cross_validate

    config = load_config(transformer_config, {"transformer.distill_from": str(transformer_model)})
    with pytest.raises(ConfigError, match="cannot be cross-validated"):
        cross_validate(config, folds=1)


def test_distill_weight_is_range_checked(transformer_config):
    from stance.config import load_config

    with pytest.raises(ConfigError, match=r"transformer.distill_weight.*\[0, 1\]"):
        load_config(transformer_config, {"transformer.distill_weight": 1.5})
