"""Numeric precision: the auto/fp32/bf16 setting for training and inference, on the tiny model
through the real code paths (loading, predicting, the CLI, a training run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import ConfigError
from stance.inference.predictor import clear_cache, load
from stance.models import precision
from stance.models.training import train

TEXTS = [
    "Federations have given our practices a real voice.",
    "We would back the vanguard only if the money follows the patients, and not otherwise.",
    "This reorganisation is a distraction.",
]
runner = CliRunner()


def test_resolve_precision(monkeypatch):
    monkeypatch.setattr(precision, "bf16_is_native", lambda device: device == "cpu")
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.resolve_precision("auto", "mps") == "fp32"
    # Forced values are honoured whatever the hardware.
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "mps") == "bf16"
    with pytest.raises(ValueError, match="one of auto, fp32, bf16, found 'fp16'"):
        precision.resolve_precision("fp16", "cpu")


def test_bf16_is_never_native_on_unknown_devices():
    assert precision.bf16_is_native("mps") is False
    assert isinstance(precision.bf16_is_native("cpu"), bool)


def test_fp32_and_bf16_predictions_agree(transformer_model):
    clear_cache()
    exact = load(transformer_model, device="cpu", precision="fp32")
    half = load(transformer_model, device="cpu", precision="bf16")
    assert (exact.precision, half.precision) == ("fp32", "bf16")
    assert str(next(half.model.parameters()).dtype) == "torch.bfloat16"
    p32, p16 = exact.predict_proba(TEXTS), half.predict_proba(TEXTS)
    assert p16.dtype == np.float64 and np.allclose(p16.sum(axis=1), 1.0)
    # bfloat16 keeps 8 bits of mantissa: probabilities move by well under 0.05 on a tiny model.
    assert np.abs(p32 - p16).max() < 0.05


def test_auto_follows_the_hardware(transformer_model, monkeypatch):
    clear_cache()
    monkeypatch.setattr(precision, "bf16_is_native", lambda device: False)
    assert load(transformer_model, device="cpu").precision == "fp32"
    clear_cache()
    monkeypatch.setattr(precision, "bf16_is_native", lambda device: True)
    assert load(transformer_model, device="cpu").precision == "bf16"
    clear_cache()


def test_bad_precision_lists_the_allowed_values(transformer_model):
    with pytest.raises(ValueError, match="one of auto, fp32, bf16, found 'half'"):
        load(transformer_model, device="cpu", precision="half")


def test_precision_is_refused_with_onnx_and_ignored_by_the_baseline(
    transformer_model, baseline_model
):
    with pytest.raises(ValueError, match="applies to the torch backend"):
        load(transformer_model, backend="onnx", precision="bf16")
    assert load(baseline_model, precision="bf16").predict(TEXTS[:1])[0].label


def test_cli_precision_option(transformer_model, baseline_model):
    ok = runner.invoke(app, ["predict", *TEXTS, "--model", str(transformer_model),
                             "--precision", "fp32", "--json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert len(ok.output.strip().splitlines()) == len(TEXTS)
    bad = runner.invoke(
        app, ["predict", "x", "--model", str(transformer_model), "--precision", "fp16"]
    )
    assert bad.exit_code != 0 and "expected one of auto, fp32, bf16" in bad.output
    base = runner.invoke(
        app, ["predict", "x", "--model", str(baseline_model), "--precision", "bf16"]
    )
    assert base.exit_code == 1
    assert "--precision applies to transformer models" in base.output


def test_evaluate_and_compare_take_and_record_precision(
    transformer_model, baseline_model, tiny_splits
):
    args = ["--data", str(tiny_splits["test"]), "--resamples", "20", "--json"]
    out = runner.invoke(app, ["evaluate", "--model", str(transformer_model), *args,
                              "--precision", "bf16"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["precision"] == "bf16"
    both = runner.invoke(app, ["compare", str(transformer_model), str(baseline_model), *args,
                               "--precision", "fp32"])  # fmt: skip
    assert both.exit_code == 0, both.output
    # Each compared model records how it ran: fp32 for the transformer, none for the baseline.
    ran = {Path(m["model"]).name: m["precision"] for m in json.loads(both.output)["models"]}
    assert ran == {transformer_model.name: "fp32", baseline_model.name: None}
    text = runner.invoke(app, ["compare", str(transformer_model), str(baseline_model),
                               *args[:-1], "--precision", "bf16"])  # fmt: skip
    assert text.exit_code == 0, text.output
    # One entry, the transformer's (display names are made unique, e.g. "transformer_cfg0/model").
    assert re.search(r"^  transformer precision: [^,\s]+ bf16$", text.output, re.M), text.output
    only_base = runner.invoke(app, ["evaluate", "--model", str(baseline_model), *args,
                                    "--precision", "fp32"])  # fmt: skip
    assert (
        only_base.exit_code == 1 and "--precision applies to transformer models" in only_base.output
    )


def test_training_records_its_precision(transformer_config, tmp_path):
    out = train(
        transformer_config,
        output_dir=tmp_path / "m",
        overrides={"transformer.precision": "bf16", "transformer.num_epochs": 1},
        quiet=True,
    ).model_dir
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["precision"] == "bf16"
    assert meta["config"]["transformer"]["precision"] == "bf16"
    assert "ran in bfloat16 during training" in (out / "README.md").read_text()
    # The weights are saved in fp32 whatever the training precision (mixed precision).
    clear_cache()
    clf = load(out, device="cpu", precision="fp32")
    assert str(next(clf.model.parameters()).dtype) == "torch.float32"


def test_training_defaults_to_fp32(transformer_model):
    # bf16 training gives another model; the shipped configs' figures were measured in fp32.
    meta = json.loads((transformer_model / "metadata.json").read_text())
    assert meta["precision"] == "fp32" and meta["config"]["transformer"]["precision"] == "fp32"
    assert "bfloat16" not in (transformer_model / "README.md").read_text()


def test_bad_training_precision_is_a_config_error(transformer_config, tmp_path):
    with pytest.raises(ConfigError, match="transformer.precision"):
        train(transformer_config, output_dir=tmp_path / "m",
              overrides={"transformer.precision": "fp16"})  # fmt: skip
