"""The calibration-size simulation (scripts/calibration_size.py): its draws never let a
labelled sample see the quotes it is scored on, and a flag refitted where confidence separates
right from wrong keeps its promise."""

from __future__ import annotations

import numpy as np
import pytest

from stance.constants import LABELS
from stance.evaluation.calibration import fit_held_out
from tests.conftest import load_script


@pytest.fixture(scope="module")
def sim():
    return load_script("calibration_size")


def test_new_article_draws_keep_each_article_out_of_its_own_sample(sim):
    articles = ["a"] * 5 + ["b"] * 7 + ["c"] * 4
    rng = np.random.default_rng(1)
    for n in (3, 10, None):
        parts = list(sim.new_article_draws(articles, n, rng))
        assert len(parts) == 3
        held = np.concatenate([h for _, h in parts])
        assert sorted(held.tolist()) == list(range(len(articles)))  # each quote scored once
        for fit_idx, held_idx in parts:
            article = {articles[i] for i in held_idx}
            assert len(article) == 1 and not article & {articles[i] for i in fit_idx}
            assert len(set(fit_idx.tolist())) == len(fit_idx)  # without replacement
            others = sum(a not in article for a in articles)
            assert len(fit_idx) == (others if n is None else min(n, others))


def test_same_source_draws_split_without_overlap(sim):
    ((fit_idx, rest),) = sim.same_source_draws(20, 6, np.random.default_rng(2))
    assert len(fit_idx) == 6 and len(rest) == 14
    assert sorted([*fit_idx.tolist(), *rest.tolist()]) == list(range(20))


def _separable(n_right: int, n_wrong: int) -> tuple[np.ndarray, list[str]]:
    """Right predictions at confidence 0.9, wrong ones at 0.5: a threshold can split them."""
    right = np.tile([0.9, 0.05, 0.05], (n_right, 1))
    wrong = np.tile([0.5, 0.3, 0.2], (n_wrong, 1))
    return np.vstack([right, wrong]), ["support"] * n_right + ["oppose"] * n_wrong


def test_a_refitted_flag_accepts_exactly_the_right_quotes_when_confidence_separates(sim):
    probs, gold = _separable(30, 10)
    ((fit_idx, rest),) = sim.same_source_draws(len(gold), 20, np.random.default_rng(3))
    outcome = sim.simulate_draw(probs, gold, iter([(fit_idx, rest)]))
    # Every right quote among the 20 scored is accepted, every wrong one flagged.
    assert outcome["precision"] == 1.0
    assert outcome["coverage"] == pytest.approx(np.mean(rest < 30))
    calibrator, threshold = sim.refit_flag(probs, gold)
    cal = calibrator.apply(probs)
    accepted = cal.max(axis=1) >= threshold
    assert accepted.tolist() == [True] * 30 + [False] * 10
    # The same numbers as the record `stance calibrate` writes.
    record = fit_held_out(probs, gold, LABELS, "temperature")
    assert record["review"]["threshold"] == threshold
    assert record["calibrator"]["temperature"] == calibrator.temperature


def test_a_flag_that_cannot_reach_the_target_accepts_nothing(sim):
    # Wrong answers at the highest confidence: no threshold makes accepted quotes 90% right.
    probs = np.vstack([np.tile([0.95, 0.03, 0.02], (10, 1)), np.tile([0.6, 0.3, 0.1], (10, 1))])
    gold = ["oppose"] * 10 + ["support"] * 10
    parts = iter([(np.arange(20), np.arange(20))])
    outcome = sim.simulate_draw(probs, gold, parts)
    assert outcome["coverage"] == 0.0 and outcome["precision"] is None


def test_prevalence_draw_scores_shares_against_the_truth(sim):
    # Perfect predictions: raw and corrected shares equal each article's true shares.
    gold = ["support"] * 6 + ["oppose"] * 3 + ["conditional"] * 3 + ["support", "oppose"] * 3
    articles = ["a"] * 12 + ["b"] * 6
    rng = np.random.default_rng(4)
    out = sim.prevalence_draw(gold, gold, sim.new_article_draws(articles, None, rng), None, rng)
    for name in ("raw", "adjusted"):
        assert out[name]["error"] == pytest.approx(0.0, abs=1e-12)
        assert out[name]["coverage"] == 1.0 and 0 < out[name]["width"] < 1
    # Predicting every quote as support: raw counting is off by the true non-support shares,
    # averaged over the 2 articles x 3 labels (article a: 0.5 too much support, 0.25 + 0.25
    # missing; article b: 0.5 too much, 0.5 missing).
    wrong = ["support"] * len(gold)
    identity = np.eye(3, dtype=int) * 10
    out = sim.prevalence_draw(
        wrong, gold, sim.new_article_draws(articles, None, rng), identity, rng
    )
    assert out["raw"]["error"] == pytest.approx((0.5 + 0.25 + 0.25 + 0.5 + 0.5 + 0) / 6)
