"""Recalibration on held-out labelled quotes, and calibration fitted on correctly ordered predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from stance.cli import app


def test_training_calibration_sees_predictions_in_label_order(transformer_model):
    """Length-grouped training must not permute the held-out predictions the calibrator reads:
    the calibration's raw held-out accuracy is the validation accuracy of the same model."""
    meta = json.loads((transformer_model / "metadata.json").read_text())
    record = json.loads((transformer_model / "calibration.json").read_text())
    assert record["held_out"]["raw"]["accuracy"] == meta["metrics"]["validation"]["accuracy"]


def test_recalibrate_rewrites_calibration_and_checksums(baseline_model, tiny_splits, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    weights_before = (model / "model.skops").read_bytes()
    result = CliRunner().invoke(
        app, ["calibrate", "--model", str(model), "--data", str(tiny_splits["validation"])]
    )
    assert result.exit_code == 0, result.output
    assert "recalibrated" in result.output and "ECE" in result.output
    meta = json.loads((model / "metadata.json").read_text())
    record = json.loads((model / "calibration.json").read_text())
    held = tiny_splits["validation"]
    assert record["fitted_on"] == str(held) == meta["calibration"]["fitted_on"]
    assert meta["recalibrated"]["n"] == sum(1 for _ in open(held))
    # What the new threshold accepts on these quotes, and that this is an in-sample figure.
    review = record["review"]
    if review["reached"]:
        line = f"accepts {review['n_accepted']} of {review['n']} quotes ({review['coverage']:.0%})"
    else:
        line = "every prediction needs review"
    assert line in result.stdout
    assert "measured on the same quotes the threshold was fitted on" in result.stderr
    assert (model / "model.skops").read_bytes() == weights_before
    # The rewritten directory still loads and passes its checksums.
    import stance
    from stance.inference.predictor import load_uncached

    preds = load_uncached(model).predict(["The federation works for us."])
    assert np.isclose(sum(preds[0].scores.values()), 1.0)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary copy left behind
    del stance


def test_recalibrate_bad_file_is_one_line(baseline_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "maybe"}\n', encoding="utf-8")
    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    result = CliRunner().invoke(app, ["calibrate", "--model", str(model), "--data", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_recalibrate_refuses_the_models_own_splits(baseline_model, tiny_splits, tmp_path):
    """Fitting calibration on the training split makes scores look certain; on the test split,
    it makes every later evaluation there in-sample. Both are one-line errors, nothing changed."""
    model = tmp_path / "model"
    shutil.copytree(baseline_model, model)
    before = (model / "metadata.json").read_bytes()
    for split, role in (("train", "training"), ("test", "test")):
        result = CliRunner().invoke(
            app, ["calibrate", "--model", str(model), "--data", str(tiny_splits[split])]
        )
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
        assert f"found the {role} split of {model}" in result.output
    assert (model / "metadata.json").read_bytes() == before
