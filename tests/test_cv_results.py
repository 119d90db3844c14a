"""scripts/cv_results.py: averaging cv results (the out-of-fold ensemble) and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stance.constants import LABELS
from stance.evaluation.evaluate import cross_validate
from tests.conftest import load_script


def _script():
    return load_script("cv_results")


@pytest.fixture(scope="module")
def cv_result(baseline_config) -> dict:
    return cross_validate(baseline_config, n_resamples=50)


def _member(result: dict, rng: np.random.Generator) -> dict:
    """A copy of ``result`` with other (random) raw and calibrated probabilities per quote."""
    copy = json.loads(json.dumps(result))
    for e in copy["predictions"]:
        raw, cal = rng.dirichlet(np.ones(len(LABELS)), size=2)
        e["raw_probabilities"] = dict(zip(LABELS, raw.tolist()))
        e["probabilities"] = dict(zip(LABELS, cal.tolist()))
    return copy


def test_cv_keeps_raw_probabilities(cv_result, baseline_model, tiny_splits):
    """Each out-of-fold entry keeps the model's raw probabilities beside the calibrated ones:
    an ensemble averages the raw ones. Checked on a calibrated model (the tiny cv folds have no
    validation rows, so no calibration) through the same entry builder."""
    from stance.data.io import load_labelled
    from stance.evaluation.evaluate import _fold_predictions, predict_data
    from stance.inference.predictor import load_uncached

    for e in cv_result["predictions"]:
        assert sum(e["raw_probabilities"].values()) == pytest.approx(1.0)
    predictor = load_uncached(baseline_model)
    test = load_labelled(tiny_splits["test"])
    entries = _fold_predictions(test, range(len(test)), predict_data(predictor, test), "c.txt", 1,
                                "support")  # fmt: skip
    raw = np.asarray(predictor.predict_proba(list(test.texts)))
    for e, row in zip(entries, raw):
        kept = [e["raw_probabilities"][lb] for lb in predictor.labels]
        assert kept == pytest.approx(row.tolist())
    assert any(e["raw_probabilities"] != e["probabilities"] for e in entries)


def test_average_of_raw_probabilities_is_the_numpy_mean(cv_result):
    rng = np.random.default_rng(0)
    members = [_member(cv_result, rng) for _ in range(3)]
    members[1]["predictions"].reverse()  # matched by quote id, not by position
    out = _script().average(members, ["a", "b", "c"])
    assert out["averaged"] == "raw" and out["corpus_sha256"] == cv_result["corpus_sha256"]
    by_id = [{e["id"]: e for e in m["predictions"]} for m in members]
    for e in out["predictions"]:
        raw = np.mean([[b[e["id"]]["raw_probabilities"][lb] for lb in LABELS] for b in by_id], 0)
        assert [e["probabilities"][lb] for lb in LABELS] == pytest.approx(raw.tolist())
        # The ensemble's label: a temperature on the mean does not move the top label.
        assert e["predicted"] == LABELS[int(raw.argmax())]


def test_average_without_raw_probabilities_says_it_approximates(cv_result):
    rng = np.random.default_rng(1)
    members = [_member(cv_result, rng) for _ in range(2)]
    for e in members[0]["predictions"]:
        del e["raw_probabilities"]
    out = _script().average(members, ["old", "new"])
    assert out["averaged"] == "calibrated" and "approximates" in out["source"]
    e = out["predictions"][0]
    cal = np.mean([[m["predictions"][0]["probabilities"][lb] for lb in LABELS] for m in members], 0)
    assert [e["probabilities"][lb] for lb in LABELS] == pytest.approx(cal.tolist())


@pytest.mark.parametrize("damage, message", [
    (lambda r: r.update(corpus_sha256="0" * 64), "expected a cv result of the corpus"),
    (lambda r: r.pop("corpus_sha256"), "expected a cv result of the corpus"),
    (lambda r: r["predictions"][0].update(id=None), "its own quote id"),
    (lambda r: r["predictions"][1].update(id=r["predictions"][0]["id"]), "its own quote id"),
    (lambda r: r["predictions"][0].update(id="elsewhere"), "quote ids differ"),
    (lambda r: r["predictions"][0].update(fold=99), "another gold label, article or fold"),
    (lambda r: r["predictions"][0].update(article="x.txt"), "another gold label, article or fold"),
])  # fmt: skip
def test_average_refuses_results_that_are_not_one_corpus(cv_result, damage, message):
    other = json.loads(json.dumps(cv_result))
    damage(other)
    with pytest.raises(SystemExit, match=message) as err:
        _script().average([cv_result, other], ["first.json", "second.json"])
    assert "second.json" in str(err.value)


def test_cv_keeps_one_fold_model_on_disk_at_a_time(baseline_config, monkeypatch):
    """Each fold's model is deleted once it has predicted (an ensemble config's folds are
    several whole models each), so every fold starts in an empty folder."""
    import stance.evaluation.evaluate as ev

    seen = []
    original = ev._train_fold

    def spy(config, *args, **kwargs):
        seen.append(sorted(p.name for p in Path(config.output_dir).parent.iterdir()))
        return original(config, *args, **kwargs)

    monkeypatch.setattr(ev, "_train_fold", spy)
    cross_validate(baseline_config, n_resamples=20)
    assert len(seen) == 3 and all(names == [] for names in seen)
