"""Calibration, the review flag and the held-out record: checked against scipy/scikit-learn and
on the tiny trained models (issue 16)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from sklearn.metrics import accuracy_score, log_loss

import stance
from stance.constants import CALIBRATION_FILE, LABELS
from stance.errors import ModelError
from stance.evaluation.calibration import (
    Calibrator,
    calibration_summary,
    coverage_curve,
    fit_calibrator,
    fit_platt,
    fit_temperature,
    review_threshold,
)
from stance.evaluation.metrics import expected_calibration_error
from stance.inference.predictor import clear_cache, load, predict_file


def _overconfident(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw probabilities from logits three times too sharp, and labels drawn from the truth."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 1.5
    gold = np.array([rng.choice(3, p=p) for p in scipy_softmax(logits, axis=1)])
    return scipy_softmax(logits * 3.0, axis=1), gold


# --- the estimators --------------------------------------------------------------------------


def test_temperature_apply_equals_softmax_of_scaled_logits():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    cal = Calibrator("temperature", temperature=2.5)
    got = cal.apply(scipy_softmax(logits, axis=1))
    assert got == pytest.approx(scipy_softmax(logits / 2.5, axis=1), abs=1e-12)


def test_fitted_temperature_minimises_log_loss_like_a_grid_search():
    probs, gold = _overconfident()
    t = fit_temperature(probs, gold)
    grid = np.exp(np.linspace(np.log(0.2), np.log(10), 2001))
    losses = [log_loss(gold, Calibrator("temperature", temperature=g).apply(probs), labels=[0, 1, 2])
              for g in grid]  # fmt: skip
    assert t == pytest.approx(grid[int(np.argmin(losses))], rel=0.01)
    assert t == pytest.approx(3.0, rel=0.25)  # the logits were made 3x too sharp


def test_platt_gradient_and_identity_start():
    from scipy.optimize import check_grad

    probs, gold = _overconfident(200)
    w, b = fit_platt(probs, gold)
    cal = Calibrator("platt", weights=w.tolist(), bias=b.tolist())
    assert Calibrator("platt", weights=np.eye(3).tolist(), bias=[0, 0, 0]).apply(probs) == (
        pytest.approx(probs, abs=1e-9)
    )
    assert log_loss(gold, cal.apply(probs)) < log_loss(gold, probs)
    # the fitted map is a stationary point of NLL + ridge (numerical vs analytic gradient)
    x = np.log(probs)
    y = np.eye(3)[gold]

    def f(theta):
        z = x @ theta[:9].reshape(3, 3).T + theta[9:]
        return -np.sum(y * np.log(scipy_softmax(z, axis=1))) + 0.5 * np.sum(
            (theta[:9].reshape(3, 3) - np.eye(3)) ** 2
        )

    def g(theta):
        z = x @ theta[:9].reshape(3, 3).T + theta[9:]
        d = scipy_softmax(z, axis=1) - y
        return np.concatenate([(d.T @ x + theta[:9].reshape(3, 3) - np.eye(3)).ravel(), d.sum(0)])

    theta = np.concatenate([w.ravel(), b])
    assert check_grad(f, g, theta) < 1e-3
    assert np.abs(g(theta)).max() < 1e-2


def test_calibration_lowers_ece_on_fresh_data():
    probs, gold = _overconfident(600, seed=1)
    test_probs, test_gold = _overconfident(600, seed=2)
    for method in ("temperature", "platt"):
        cal = fit_calibrator(probs, [LABELS[i] for i in gold], LABELS, method)
        assert cal.method == method
        before = expected_calibration_error(test_probs.max(1), test_probs.argmax(1) == test_gold)
        after_p = cal.apply(test_probs)
        after = expected_calibration_error(after_p.max(1), after_p.argmax(1) == test_gold)
        assert after < before / 2


def test_platt_falls_back_to_temperature_when_a_label_is_missing():
    probs, gold = _overconfident(50)
    gold = np.where(gold == 2, 0, gold)
    assert fit_calibrator(probs, [LABELS[i] for i in gold], LABELS, "platt").method == "temperature"


def test_review_threshold_known_answer():
    conf = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [True, True, True, False, True, False]
    out = review_threshold(conf, correct, target=0.8)
    # >= 0.6: 4 of 5 right (0.8) is the lowest threshold reaching 0.8; >= 0.5: 4/6
    assert out["threshold"] == 0.6 and out["reached"]
    assert out["n_accepted"] == 5 and out["precision"] == pytest.approx(0.8)
    assert out["coverage"] == pytest.approx(5 / 6)
    unreachable = review_threshold(conf, [False] * 6, target=0.9)
    assert unreachable["threshold"] is None and not unreachable["reached"]


def test_coverage_curve_matches_sklearn_accuracy_on_accepted():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0.34, 1, 200)
    correct = rng.uniform(size=200) < conf
    for row in coverage_curve(conf, correct):
        keep = conf >= row["threshold"]
        assert row["accepted"] == keep.sum() and row["coverage"] == pytest.approx(keep.mean())
        if keep.any():
            assert row["accuracy"] == pytest.approx(
                accuracy_score(np.ones(keep.sum()), correct[keep])
            )


def test_damaged_calibrator_is_one_line_model_error():
    with pytest.raises(ModelError, match="temperature must be > 0"):
        Calibrator.from_dict({"method": "temperature", "temperature": -1}, 3, "x.json")
    with pytest.raises(ModelError, match="expected weights 3x3"):
        Calibrator.from_dict({"method": "platt", "weights": [[1]], "bias": [0]}, 3, "x.json")


# --- on the trained models ----------------------------------------------------------------------


@pytest.fixture(params=["baseline", "transformer"])
def model_dir(request):
    return request.getfixturevalue(f"{request.param}_model")


def test_training_stores_calibration_with_checksum(model_dir):
    meta = json.loads((model_dir / "metadata.json").read_text())
    record = json.loads((model_dir / CALIBRATION_FILE).read_text())
    assert CALIBRATION_FILE in meta["checksums"]
    assert meta["calibration"]["file"] == CALIBRATION_FILE
    assert meta["calibration"]["review_threshold"] == record["review"]["threshold"]
    assert record["fitted_on"] == "validation"
    validation = meta["config"]["data"]["validation"]
    n_val = len(open(validation, encoding="utf-8").read().splitlines())
    assert record["n"] == n_val == np.sum(record["held_out"]["confusion"])


def test_predictions_are_calibrated_and_flagged(model_dir):
    clf = load(model_dir, device="cpu")
    texts = ["We back the vanguard.", "Scrap the lot.", "Only if the money follows."]
    preds = clf.predict(texts)
    raw = clf.predict_proba(texts)
    expected = clf.calibrator.apply(raw)
    for p, row, raw_row in zip(preds, expected, raw):
        assert list(p.scores.values()) == pytest.approx(row.tolist(), abs=1e-9)
        assert list(p.raw_scores.values()) == pytest.approx(raw_row.tolist(), abs=1e-9)
        threshold = clf.review_threshold
        assert p.needs_review == (threshold is None or p.confidence < threshold)
        assert p.to_dict()["needs_review"] == p.needs_review
    if clf.kind == "transformer":  # temperature scaling never changes the label
        assert [p.label for p in preds] == [LABELS[i] for i in raw.argmax(1)]


def test_predict_file_writes_calibrated_scores_and_needs_review(baseline_model, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["We back it.", "No way."]))
    predict_file(src, tmp_path / "out.jsonl", baseline_model)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    preds = stance.predict([r["text"] for r in rows], model=baseline_model)
    for row, p in zip(rows, preds):
        assert row["needs_review"] is p.needs_review
        assert [row[f"p_{lb}"] for lb in LABELS] == pytest.approx(list(p.scores.values()))


def test_old_model_without_calibration_still_loads(baseline_model, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(baseline_model, old)
    meta = json.loads((old / "metadata.json").read_text())
    meta.pop("calibration")
    meta["checksums"].pop(CALIBRATION_FILE)
    (old / "metadata.json").write_text(json.dumps(meta))
    (old / CALIBRATION_FILE).unlink()
    clear_cache()
    p = stance.predict("We back it.", model=old)
    assert p.scores == p.raw_scores and p.needs_review


def test_tampered_calibration_is_refused(baseline_model, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(baseline_model, bad)
    record = json.loads((bad / CALIBRATION_FILE).read_text())
    record["review"]["threshold"] = 0.0
    (bad / CALIBRATION_FILE).write_text(json.dumps(record))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load(bad)


def test_evaluate_reports_ece_before_and_after(baseline_model, tiny_splits, tmp_path):
    from stance.evaluation.evaluate import evaluate

    result = evaluate(baseline_model, tiny_splits["test"], n_resamples=20, report_dir=tmp_path)
    clf = load(baseline_model)
    texts = [json.loads(x)["text"] for x in tiny_splits["test"].read_text().splitlines()]
    gold = [json.loads(x)["label"] for x in tiny_splits["test"].read_text().splitlines()]
    raw = clf.predict_proba(texts)
    cal = result["calibration"]
    assert cal["ece_raw"] == pytest.approx(
        expected_calibration_error(raw.max(1), np.array(LABELS)[raw.argmax(1)] == np.array(gold))
    )
    assert cal["ece"] == pytest.approx(result["ece"])
    assert result["coverage"]["accepted"] + result["coverage"]["needs_review"] == len(gold)
    assert (tmp_path / "coverage.png").stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert "ECE before calibration" in report and "coverage" in report.lower()


def test_calibration_summary_without_threshold_flags_everything():
    probs, gold = _overconfident(30)
    out = calibration_summary([LABELS[i] for i in gold], probs, probs, LABELS, {})
    assert out["coverage"]["needs_review"] == 30 and out["coverage"]["accuracy_accepted"] is None
    assert out["calibration"]["ece_raw"] == out["calibration"]["ece"]
