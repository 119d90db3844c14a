"""Label smoothing (``transformer.label_smoothing``): the loss against an independent numpy
computation, a tiny model trained with it through the real Trainer, and the range check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stance.errors import ConfigError
from stance.models.hf_trainer import distillation_loss
from stance.models.training import train


def _smoothed_numpy(logits, labels, class_weights, smoothing):
    """torch's documented definition, written out: the target is ``1 - s`` on the gold label
    plus ``s / K`` on every label, each label's term weighted by its class weight, and the mean
    divided by the summed weights of the gold labels."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    k = logits.shape[1]
    rows = np.arange(len(labels))
    per = (1 - smoothing) * class_weights[labels] * -logp[rows, labels]
    per += smoothing / k * -(class_weights * logp).sum(axis=1)
    return per.sum() / class_weights[labels].sum()


def test_smoothed_loss_matches_an_independent_computation():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(9, 3))
    labels = rng.integers(0, 3, size=9)
    for cw in (np.ones(3), np.array([0.8, 1.3, 1.0])):
        for s in (0.0, 0.1, 0.4):
            got = distillation_loss(
                torch.tensor(logits), torch.tensor(labels), None, 0.0, torch.tensor(cw), s
            )
            assert float(got) == pytest.approx(_smoothed_numpy(logits, labels, cw, s), rel=1e-9)


def test_smoothing_only_touches_the_gold_term_of_a_distillation_loss():
    rng = np.random.default_rng(2)
    logits = torch.tensor(rng.normal(size=(5, 3)))
    labels = torch.tensor(rng.integers(0, 3, size=5))
    teacher = torch.tensor(rng.dirichlet(np.ones(3), size=5))
    hard = distillation_loss(logits, labels, None, 0.0, None, 0.2)
    soft = distillation_loss(logits, labels, teacher, 1.0, None, 0.2)
    mixed = distillation_loss(logits, labels, teacher, 0.3, None, 0.2)
    assert float(mixed) == pytest.approx(0.7 * float(hard) + 0.3 * float(soft), rel=1e-9)


def test_training_with_label_smoothing_records_it(transformer_config, tmp_path):
    plain = train(transformer_config, output_dir=tmp_path / "plain")
    smooth = train(
        transformer_config,
        output_dir=tmp_path / "smooth",
        overrides={"transformer.label_smoothing": 0.3},
    )
    meta = json.loads((tmp_path / "smooth" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["config"]["transformer"]["label_smoothing"] == 0.3
    assert plain.metadata["config"]["transformer"]["label_smoothing"] == 0.0
    # Same seed and data: only the training targets differ, so the first epoch's training loss
    # does too (a smoothed target can never be fitted to zero loss).
    assert smooth.metadata["history"][0]["train_loss"] != pytest.approx(
        plain.metadata["history"][0]["train_loss"], rel=1e-6
    )
    card = (tmp_path / "smooth" / "README.md").read_text(encoding="utf-8")
    assert "label smoothing 0.3" in card
    assert "label smoothing" not in (tmp_path / "plain" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_label_smoothing_is_range_checked(transformer_config, bad):
    from stance.config import load_config

    with pytest.raises(ConfigError, match=r"transformer.label_smoothing.*\[0, 1\)"):
        load_config(transformer_config, {"transformer.label_smoothing": bad})
