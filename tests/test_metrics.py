"""stance.evaluation.metrics against scikit-learn and against answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from stance.constants import LABELS
from stance.evaluation.metrics import (
    accuracy,
    bootstrap_ci,
    classification_report_dict,
    classification_summary,
    confusion_matrix,
    encode_labels,
    expected_calibration_error,
    macro_f1,
    mcnemar,
    paired_bootstrap,
    per_label_scores,
    reliability_table,
    split_scores,
    subgroup_scores,
)

L = list(LABELS)


def _random_labels(seed: int, n: int, present: list[str] | None = None):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(present or L, size=n).tolist()
    y_pred = rng.choice(L, size=n).tolist()
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", [1, 2, 5, 37, 400])
def test_point_metrics_match_sklearn(seed, n):
    # Some runs lack a label entirely (n = 1, 2) or in the gold labels (present=2 labels).
    present = L[:2] if seed % 2 else None
    y_true, y_pred = _random_labels(seed, n, present)
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert macro_f1(y_true, y_pred, L) == pytest.approx(
        f1_score(y_true, y_pred, average="macro", labels=L, zero_division=0)
    )
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=L, zero_division=0)
    ours = per_label_scores(y_true, y_pred, L)
    assert list(ours) == L
    for i, label in enumerate(L):
        assert ours[label]["precision"] == pytest.approx(p[i])
        assert ours[label]["recall"] == pytest.approx(r[i])
        assert ours[label]["f1"] == pytest.approx(f[i])
        assert ours[label]["support"] == s[i]
    assert (
        confusion_matrix(y_true, y_pred, L).tolist()
        == sk_confusion_matrix(y_true, y_pred, labels=L).tolist()
    )


def test_report_dict_is_consistent():
    y_true, y_pred = _random_labels(3, 50)
    report = classification_report_dict(y_true, y_pred, L)
    assert report["n"] == 50
    assert report["confusion_matrix"]["labels"] == L
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == 50
    assert report["macro_f1"] == pytest.approx(
        np.mean([v["f1"] for v in report["per_label"].values()])
    )


def test_macro_f1_counts_a_label_absent_everywhere_as_zero():
    # 'conditional' never occurs and is never predicted: F1 0, so macro-F1 is 2/3, not 1.
    y = ["support", "oppose"] * 3
    assert macro_f1(y, y, L) == pytest.approx(2 / 3)
    assert macro_f1(y, y, L) == pytest.approx(
        f1_score(y, y, average="macro", labels=L, zero_division=0)
    )


def test_unknown_labels_are_rejected_with_the_allowed_ones():
    with pytest.raises(ValueError, match="neutral.*allowed labels: support, oppose, conditional"):
        encode_labels(["support", "neutral"], L)
    with pytest.raises(ValueError, match="empty"):
        macro_f1([], [], L)
    with pytest.raises(ValueError, match="length"):
        macro_f1(["support"], ["support", "oppose"], L)


# --- bootstrap ----------------------------------------------------------------------------


def test_perfect_classifier_has_ci_one_one():
    y = ["support", "oppose", "conditional"] * 10
    ci = bootstrap_ci(y, y, L, n_resamples=500, seed=1)
    assert ci == {"macro_f1": [1.0, 1.0], "accuracy": [1.0, 1.0]}


def test_constant_classifier_on_balanced_data_is_one_sixth():
    y = ["support", "oppose", "conditional"] * 20
    pred = ["support"] * len(y)
    # support: precision 1/3, recall 1 -> F1 0.5; the others 0 -> (0.5 + 0 + 0) / 3.
    assert macro_f1(y, pred, L) == 1 / 6
    ci = bootstrap_ci(y, pred, L, n_resamples=500, seed=0)
    assert ci["macro_f1"][0] <= 1 / 6 <= ci["macro_f1"][1]
    assert ci["accuracy"][0] <= 1 / 3 <= ci["accuracy"][1]


def test_bootstrap_matches_a_plain_loop_over_the_same_resamples():
    y_true, y_pred = _random_labels(5, 40)
    n_resamples, seed = 300, 11
    # The vectorised code draws all indices at once from default_rng(seed) (one chunk here).
    idx = np.random.default_rng(seed).integers(0, 40, size=(n_resamples, 40))
    t, p = np.array(y_true), np.array(y_pred)
    f1s = [f1_score(t[i], p[i], average="macro", labels=L, zero_division=0) for i in idx]
    accs = [accuracy_score(t[i], p[i]) for i in idx]
    ci = bootstrap_ci(y_true, y_pred, L, n_resamples=n_resamples, seed=seed)
    assert ci["macro_f1"] == pytest.approx(np.quantile(f1s, [0.025, 0.975]).tolist())
    assert ci["accuracy"] == pytest.approx(np.quantile(accs, [0.025, 0.975]).tolist())


def test_bootstrap_is_seeded_and_configurable():
    y_true, y_pred = _random_labels(2, 60)
    a = bootstrap_ci(y_true, y_pred, L, n_resamples=200, seed=3)
    assert a == bootstrap_ci(y_true, y_pred, L, n_resamples=200, seed=3)
    assert a != bootstrap_ci(y_true, y_pred, L, n_resamples=200, seed=4)
    point = macro_f1(y_true, y_pred, L)
    assert a["macro_f1"][0] <= point <= a["macro_f1"][1]
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(y_true, y_pred, L, n_resamples=0)


def test_bootstrap_chunks_large_inputs(monkeypatch):
    # Force many small chunks: the result must be the same as long as the draws are.
    import stance.evaluation.metrics as m

    y_true, y_pred = _random_labels(8, 30)
    whole = bootstrap_ci(y_true, y_pred, L, n_resamples=100, seed=2)
    monkeypatch.setattr(m, "_CHUNK_CELLS", 30 * 7)  # 7 resamples per chunk
    chunked = bootstrap_ci(y_true, y_pred, L, n_resamples=100, seed=2)
    assert chunked == whole


def test_paired_bootstrap_identical_models():
    y_true, y_pred = _random_labels(4, 80)
    result = paired_bootstrap(y_true, y_pred, list(y_pred), L, n_resamples=300, seed=0)
    assert result["difference"] == 0
    assert result["ci"] == [0.0, 0.0]
    assert result["p_value"] == 1.0


def test_paired_bootstrap_detects_a_clearly_better_model():
    y_true, noise = _random_labels(6, 150)
    result = paired_bootstrap(y_true, y_true, noise, L, n_resamples=500, seed=0)
    assert result["difference"] == pytest.approx(1 - macro_f1(y_true, noise, L))
    assert result["ci"][0] > 0
    assert result["p_value"] == pytest.approx(2 / 501)  # the add-one floor: no resample <= 0
    reverse = paired_bootstrap(y_true, noise, y_true, L, n_resamples=500, seed=0)
    assert reverse["difference"] == pytest.approx(-result["difference"])
    assert reverse["p_value"] == result["p_value"]


# --- McNemar ------------------------------------------------------------------------------


def _mcnemar_case(b: int, c: int, both_right: int = 3, both_wrong: int = 2):
    """Predictions with b quotes only A gets right and c only B gets right."""
    y = ["support"] * (b + c + both_right + both_wrong)
    a = ["support"] * b + ["oppose"] * c + ["support"] * both_right + ["oppose"] * both_wrong
    bb = ["oppose"] * b + ["support"] * c + ["support"] * both_right + ["oppose"] * both_wrong
    return y, a, bb


def test_mcnemar_exact_known_case():
    scipy_stats = pytest.importorskip("scipy.stats")
    result = mcnemar(*_mcnemar_case(10, 2))
    # 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert result["method"] == "exact"
    assert (result["a_right_b_wrong"], result["a_wrong_b_right"]) == (10, 2)
    assert result["p_value"] == pytest.approx(158 / 4096)
    assert result["p_value"] == pytest.approx(scipy_stats.binomtest(2, 12, 0.5).pvalue)


def test_mcnemar_chi_square_known_case():
    scipy_stats = pytest.importorskip("scipy.stats")
    result = mcnemar(*_mcnemar_case(30, 10))
    assert result["method"] == "chi2"
    assert result["statistic"] == pytest.approx((20 - 1) ** 2 / 40)  # 9.025
    assert result["p_value"] == pytest.approx(scipy_stats.chi2.sf(9.025, 1))
    assert result["p_value"] == pytest.approx(0.002663, abs=1e-6)


def test_mcnemar_without_discordant_pairs_is_p_one():
    y = ["support", "oppose"] * 5
    assert mcnemar(y, y, y)["p_value"] == 1.0
    assert mcnemar(*_mcnemar_case(3, 3))["p_value"] == 1.0


def test_mcnemar_equal_discordant_counts_give_p_one():
    """b = c: the continuity correction max(0, |b - c| - 1) is 0, so the statistic is 0, p = 1.

    The old formula (|b - c| - 1)^2 gave statistic 1/30 and p = 0.855 for b = c = 15.
    """
    scipy_stats = pytest.importorskip("scipy.stats")
    result = mcnemar(*_mcnemar_case(15, 15))
    assert result["method"] == "chi2"
    assert result["statistic"] == 0.0
    assert result["p_value"] == 1.0 == pytest.approx(scipy_stats.chi2.sf(0.0, 1))
    # |b - c| = 1 is also inside the correction: statistic 0, p = 1.
    assert mcnemar(*_mcnemar_case(16, 15))["p_value"] == 1.0
    # Away from the boundary the formula is unchanged: (|b - c| - 1)^2 / (b + c) on chi2(1).
    result = mcnemar(*_mcnemar_case(20, 12))
    assert result["statistic"] == pytest.approx(max(0, abs(20 - 12) - 1) ** 2 / 32)
    assert result["p_value"] == pytest.approx(scipy_stats.chi2.sf(49 / 32, 1))


# --- cluster (article-level) bootstrap -----------------------------------------------------------


def _grouped_case(seed: int, n_groups: int = 6):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 9, size=n_groups)
    groups = np.repeat([f"article{g}" for g in range(n_groups)], sizes).tolist()
    y_true, y_pred = _random_labels(seed, len(groups))
    return y_true, y_pred, groups


def _loop_cluster_bootstrap(y_true, y_pred, groups, n_resamples, seed, pred_b=None):
    """An independent cluster bootstrap: draw articles, concatenate their quotes, sklearn scores."""
    names = sorted(set(groups))  # the same group order as np.unique in the library
    members = {g: [i for i, x in enumerate(groups) if x == g] for g in names}
    draws = np.random.default_rng(seed).integers(0, len(names), size=(n_resamples, len(names)))
    t, p = np.array(y_true), np.array(y_pred)
    f1s, accs, diffs = [], [], []
    for row in draws:
        idx = [i for g in row for i in members[names[g]]]
        f1s.append(f1_score(t[idx], p[idx], average="macro", labels=L, zero_division=0))
        accs.append(accuracy_score(t[idx], p[idx]))
        if pred_b is not None:
            b = np.array(pred_b)[idx]
            diffs.append(f1s[-1] - f1_score(t[idx], b, average="macro", labels=L, zero_division=0))
    return f1s, accs, diffs


@pytest.mark.parametrize("seed", range(3))
def test_cluster_bootstrap_matches_an_independent_loop(seed):
    y_true, y_pred, groups = _grouped_case(seed)
    f1s, accs, _ = _loop_cluster_bootstrap(y_true, y_pred, groups, 400, seed)
    ci = bootstrap_ci(y_true, y_pred, L, n_resamples=400, seed=seed, groups=groups)
    assert ci["macro_f1"] == pytest.approx(np.quantile(f1s, [0.025, 0.975]).tolist())
    assert ci["accuracy"] == pytest.approx(np.quantile(accs, [0.025, 0.975]).tolist())


def test_paired_cluster_bootstrap_matches_an_independent_loop():
    y_true, pred_a, groups = _grouped_case(7, n_groups=5)
    _, pred_b = _random_labels(8, len(y_true))
    _, _, diffs = _loop_cluster_bootstrap(y_true, pred_a, groups, 300, 1, pred_b=pred_b)
    result = paired_bootstrap(y_true, pred_a, pred_b, L, n_resamples=300, seed=1, groups=groups)
    assert result["unit"] == "group"
    assert result["ci"] == pytest.approx(np.quantile(diffs, [0.025, 0.975]).tolist())
    d = np.array(diffs)
    share = min((np.sum(d <= 1e-12) + 1) / 301, (np.sum(d >= -1e-12) + 1) / 301)
    assert result["p_value"] == pytest.approx(min(1.0, 2 * share))


def test_cluster_bootstrap_of_one_quote_groups_is_the_quote_bootstrap():
    y_true, y_pred = _random_labels(3, 50)
    singletons = [f"g{i:02d}" for i in range(50)]  # sorted order = quote order
    assert bootstrap_ci(y_true, y_pred, L, 300, 5, groups=singletons) == bootstrap_ci(
        y_true, y_pred, L, 300, 5
    )


def test_cluster_intervals_are_wider_when_articles_differ():
    # Article 1 all right, article 2 all wrong: the quote bootstrap thinks accuracy ~0.5 is
    # known well; resampling the two articles gives resamples of accuracy 0, 0.5 and 1.
    y_true = ["support"] * 20 + ["oppose"] * 20
    y_pred = ["support"] * 20 + ["support"] * 20
    groups = ["a1"] * 20 + ["a2"] * 20
    summary = classification_summary(y_true, y_pred, L, n_resamples=500, seed=0, groups=groups)
    assert summary["ci_unit"] == "group" and summary["n_groups"] == 2
    assert summary["accuracy_ci"] == [0.0, 1.0]
    low, high = summary["accuracy_ci_quotes"]
    assert 0.3 < low < 0.5 < high < 0.7


def test_summary_without_usable_groups_falls_back_to_quotes():
    y_true, y_pred = _random_labels(2, 30)
    for groups in (None, ["one"] * 30):
        summary = classification_summary(y_true, y_pred, L, n_resamples=200, groups=groups)
        assert summary["ci_unit"] == "quote" and summary["n_groups"] is None
        assert summary["accuracy_ci"] == summary["accuracy_ci_quotes"]
    with pytest.raises(ValueError, match="one group per quote"):
        bootstrap_ci(y_true, y_pred, L, groups=["a"] * 29)


# --- calibration -------------------------------------------------------------------------------


def test_ece_known_case():
    # 10 quotes at 0.95 with 8 right, 10 at 0.55 with 5 right:
    # 0.5 * |0.8 - 0.95| + 0.5 * |0.5 - 0.55| = 0.075 + 0.025 = 0.1
    conf = [0.95] * 10 + [0.55] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5
    assert expected_calibration_error(conf, correct) == pytest.approx(0.1)
    table = reliability_table(conf, correct)
    assert len(table) == 10
    assert table[9] == {
        "bin": [0.9, 1.0],
        "count": 10,
        "mean_confidence": pytest.approx(0.95),
        "accuracy": 0.8,
    }
    assert table[5] == {
        "bin": [0.5, 0.6],
        "count": 10,
        "mean_confidence": pytest.approx(0.55),
        "accuracy": 0.5,
    }
    assert table[0] == {"bin": [0.0, 0.1], "count": 0, "mean_confidence": None, "accuracy": None}


def test_reliability_bin_edges():
    # Bins are (low, high]: 0.3 belongs to (0.2, 0.3]; 0 to the first bin, 1 to the last.
    table = reliability_table([0.0, 0.3, 0.30001, 1.0], [True] * 4)
    counts = [row["count"] for row in table]
    assert counts == [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]


def test_perfectly_calibrated_bins_give_zero_ece():
    conf = [0.75] * 4 + [1.0] * 3
    correct = [True, True, True, False, True, True, True]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([1.2], [True])


def test_summary_has_every_key_and_is_json_ready():
    import json

    y_true, y_pred = _random_labels(9, 30)
    conf = np.random.default_rng(0).uniform(0.34, 1.0, size=30)
    summary = classification_summary(y_true, y_pred, L, confidences=conf, n_resamples=100)
    for key in ("n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "per_label",
                "confusion_matrix", "ece", "reliability"):  # fmt: skip
        assert key in summary
    json.dumps(summary, allow_nan=False)
    correct = np.array(y_true) == np.array(y_pred)
    assert summary["ece"] == pytest.approx(expected_calibration_error(conf, correct))
    assert math.isclose(summary["accuracy"], correct.mean())


def test_split_scores_is_what_both_trainers_record():
    """One macro-F1: the trainers' per-split metrics come from metrics.split_scores (19.17)."""
    y_true, y_pred = _random_labels(9, 40, present=["support", "oppose"])
    scores = split_scores(y_true, y_pred, L)
    assert scores["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", labels=L, zero_division=0)
    )
    assert scores["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    per = f1_score(y_true, y_pred, average=None, labels=L, zero_division=0)
    assert scores["per_label_f1"] == pytest.approx(dict(zip(L, per)))
    # Encoded labels (what the transformer's Trainer hands over) give the same numbers.
    codes = split_scores(encode_labels(y_true, L), encode_labels(y_pred, L), L)
    assert codes == scores


# --- scores within subgroups -------------------------------------------------------------------


def test_subgroup_scores_match_sklearn_and_numpy_per_group():
    y_true, y_pred = _random_labels(4, 60)
    roles = np.random.default_rng(5).choice(["bma_leader", "minister", "nurse"], size=60).tolist()
    roles[:3] = [None, "", None]  # missing values are one group of their own
    rows = subgroup_scores(y_true, y_pred, roles, L, n_resamples=200, min_group=15)
    names = [r["group"] for r in rows]
    assert names[-1] == "(all)" and "(missing)" in names
    sizes = [r["n"] for r in rows[:-1]]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == 60 == rows[-1]["n"]
    t, p = np.array(y_true), np.array(y_pred)
    for row in rows:
        if row["group"] == "(all)":
            idx = np.arange(60)
        else:
            key = [None if row["group"] == "(missing)" else row["group"]]
            idx = np.array([i for i, r in enumerate(roles) if (r or None) in key])
        assert row["n"] == idx.size and row["small"] == (idx.size < 15)
        assert row["accuracy"] == pytest.approx(accuracy_score(t[idx], p[idx]))
        low, high = row["accuracy_ci"]
        assert low <= row["accuracy"] <= high
        for label in L:
            share = row["shares"][label]
            assert share["gold"] == pytest.approx(np.mean(t[idx] == label))
            assert share["predicted"] == pytest.approx(np.mean(p[idx] == label))
            assert share["gap"] == pytest.approx(share["predicted"] - share["gold"])
            assert share["gap_ci"][0] <= share["gap"] <= share["gap_ci"][1]


def test_subgroup_intervals_match_an_independent_loop():
    # One subgroup of quotes without articles: the library draws default_rng(seed) indices once.
    y_true, y_pred = _random_labels(9, 30)
    n_resamples, seed = 300, 2
    row = subgroup_scores(y_true, y_pred, ["x"] * 30, L, n_resamples=n_resamples, seed=seed)[0]
    idx = np.random.default_rng(seed).integers(0, 30, size=(n_resamples, 30))
    t, p = np.array(y_true), np.array(y_pred)
    accs = [accuracy_score(t[i], p[i]) for i in idx]
    assert row["accuracy_ci"] == pytest.approx(np.quantile(accs, [0.025, 0.975]).tolist())
    for label in L:
        gaps = [np.mean(p[i] == label) - np.mean(t[i] == label) for i in idx]
        assert row["shares"][label]["gap_ci"] == pytest.approx(
            np.quantile(gaps, [0.025, 0.975]).tolist()
        )


def test_subgroup_intervals_resample_articles_within_each_subgroup():
    # Two subgroups interleaved across six articles, and a third inside one article only.
    y_true, y_pred, articles = _grouped_case(3, n_groups=6)
    subgroups = ["x" if i % 2 else "y" for i in range(len(y_true))]
    inside = [i for i, a in enumerate(articles) if a == "article0"]
    for i in inside:
        subgroups[i] = "z"
    rows = {r["group"]: r for r in subgroup_scores(y_true, y_pred, subgroups, L, n_resamples=400,
                                                    seed=3, groups=articles)}  # fmt: skip
    for name in ("x", "y"):
        idx = [i for i, g in enumerate(subgroups) if g == name]
        parts = [[xs[i] for i in idx] for xs in (y_true, y_pred, articles)]
        _, accs, _ = _loop_cluster_bootstrap(*parts, 400, 3)
        assert rows[name]["ci_unit"] == "group" and rows[name]["n_groups"] == 5
        assert rows[name]["accuracy_ci"] == pytest.approx(
            np.quantile(accs, [0.025, 0.975]).tolist()
        )
    # One article: nothing to cluster, so the quotes are resampled, and the row says so.
    t, p = np.array(y_true)[inside], np.array(y_pred)[inside]
    idx = np.random.default_rng(3).integers(0, len(inside), size=(400, len(inside)))
    accs = [accuracy_score(t[i], p[i]) for i in idx]
    assert rows["z"]["ci_unit"] == "quote" and rows["z"]["n_groups"] is None
    assert rows["z"]["accuracy_ci"] == pytest.approx(np.quantile(accs, [0.025, 0.975]).tolist())
    assert rows["(all)"]["n_groups"] == 6


def test_subgroup_scores_reject_a_wrong_number_of_subgroups():
    with pytest.raises(ValueError, match="expected one per quote"):
        subgroup_scores(["support"] * 3, ["support"] * 3, ["a", "b"], L, n_resamples=10)
