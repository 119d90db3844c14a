"""Classification metrics that hold up on small test sets: point estimates with intervals.

Everything here is plain numpy (no scikit-learn at run time; the tests check every number
against scikit-learn). Conventions, chosen to match ``sklearn.metrics`` exactly:

- macro-F1 averages over *every* label of the label set, not just the labels present in the
  data: a label with no gold examples and no predictions counts as F1 = 0 (sklearn's
  ``f1_score(average="macro", labels=LABELS, zero_division=0)``). On a small test set that
  lacks a label this is pessimistic, but it never hides a label the model cannot predict.
- precision (recall) of a label never predicted (never present) is 0.
- confusion matrices have gold labels in rows and predictions in columns.

Uncertainty: with a few hundred quotes a macro-F1 of 0.70 may really be anything from 0.6 to
0.8, so every headline number comes with a 95% percentile-bootstrap interval
(:func:`bootstrap_ci`: quotes resampled with replacement, fixed seed). Two models scored on
the same quotes are compared with a *paired* bootstrap of the macro-F1 difference
(:func:`paired_bootstrap`) and McNemar's test on accuracy (:func:`mcnemar`).

Example:
    >>> y = ["support", "oppose", "conditional", "support"]
    >>> p = ["support", "oppose", "support", "support"]
    >>> round(macro_f1(y, p, ["support", "oppose", "conditional"]), 3)
    0.6
    >>> summary = classification_summary(y, p, ["support", "oppose", "conditional"], n_resamples=200)
    >>> sorted(summary)[:3]
    ['accuracy', 'accuracy_ci', 'accuracy_ci_quotes']
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from stance.constants import ALL_GROUP, DEFAULT_RESAMPLES, MIN_GROUP_SIZE, MISSING_GROUP

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_BINS",
    "EXACT_MCNEMAR_BELOW",
    "encode_labels",
    "confusion_matrix",
    "accuracy",
    "per_label_scores",
    "macro_f1",
    "classification_report_dict",
    "split_scores",
    "bootstrap_ci",
    "paired_bootstrap",
    "mcnemar",
    "reliability_table",
    "expected_calibration_error",
    "classification_summary",
    "subgroup_scores",
]

DEFAULT_BINS = 10
CONFIDENCE_LEVEL = 0.95
# McNemar: below this many discordant pairs the chi-square approximation is poor, so the
# exact binomial test is used (the usual rule of thumb, e.g. Fagerland et al. 2013).
EXACT_MCNEMAR_BELOW = 25
# Bootstrap resamples are drawn in chunks of at most this many (resample x quote) indices,
# so memory stays bounded (~40 MB) however large the test file is.
_CHUNK_CELLS = 5_000_000


# --- encoding ---------------------------------------------------------------------------


def encode_labels(values: Sequence[Any], labels: Sequence[str], what: str = "labels") -> np.ndarray:
    """Map label names to their index in ``labels``.

    Args:
        values: label names (or already-encoded integers in ``range(len(labels))``).
        labels: the label set, in index order.
        what: how to name ``values`` in the error message.

    Returns:
        An int64 array of indices.

    Raises:
        ValueError: a value is not in ``labels`` (the message lists the unknown and allowed ones).
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D sequence, found shape {arr.shape}")
    if arr.size and np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() >= len(labels):
            raise ValueError(f"{what}: integer labels must lie in 0..{len(labels) - 1}")
        return arr.astype(np.int64)
    index = {str(name): i for i, name in enumerate(labels)}
    unknown = sorted({str(v) for v in arr.tolist()} - set(index))
    if unknown:
        raise ValueError(
            f"{what}: unknown label(s) {', '.join(unknown)}; allowed labels: {', '.join(map(str, labels))}"
        )
    return np.fromiter((index[str(v)] for v in arr.tolist()), dtype=np.int64, count=arr.size)


def _pair(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    t = encode_labels(y_true, labels, "y_true")
    p = encode_labels(y_pred, labels, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length ({t.size} vs {p.size})")
    if t.size == 0:
        raise ValueError("no examples to score (y_true is empty)")
    return t, p


# --- scores from confusion matrices (vectorised over any leading axes) ----------------------


def _confusion_from_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices from pair codes ``true * k + pred``; ``codes`` is (..., n)."""
    lead = codes.shape[:-1]
    flat = codes.reshape(-1, codes.shape[-1])
    offsets = (np.arange(flat.shape[0]) * (k * k))[:, None]
    counts = np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * k * k)
    return counts.reshape(*lead, k, k)


def _prf_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall, F1 and support from confusion matrices (..., k, k).

    A 0/0 is 0 (sklearn's ``zero_division=0``). F1 is computed as 2tp / (2tp + fp + fn),
    which equals the harmonic mean of precision and recall and is 0 when tp = 0.
    """
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)  # row sums: gold count per label
    predicted = cm.sum(axis=-2)  # column sums: predicted count per label
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = support + predicted  # = 2tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return precision, recall, f1, support


def _macro_f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    return _prf_from_confusion(cm)[2].mean(axis=-1)


def _accuracy_from_confusion(cm: np.ndarray) -> np.ndarray:
    return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))


# --- point estimates --------------------------------------------------------------------


def confusion_matrix(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> np.ndarray:
    """Counts of (gold, predicted) pairs: rows = gold label, columns = predicted, in ``labels`` order.

    Example:
        >>> confusion_matrix(["a", "b", "b"], ["a", "a", "b"], ["a", "b"]).tolist()
        [[1, 0], [1, 1]]
    """
    t, p = _pair(y_true, y_pred, labels)
    return _confusion_from_codes(t * len(labels) + p, len(labels))


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Fraction of predictions equal to the gold label.

    Raises:
        ValueError: empty input or different lengths.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D of the same length, found {t.shape} and {p.shape}"
        )
    if t.size == 0:
        raise ValueError("no examples to score (y_true is empty)")
    return float(np.mean(t == p))


def per_label_scores(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support (gold count) of every label in ``labels``.

    Returns:
        ``{label: {"precision", "recall", "f1", "support"}}`` in ``labels`` order.
    """
    return _per_label_from_confusion(confusion_matrix(y_true, y_pred, labels), labels)


def _per_label_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    precision, recall, f1, support = _prf_from_confusion(cm)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]) -> float:
    """Unweighted mean of the per-label F1 over *all* of ``labels`` (absent labels count as 0).

    Example:
        >>> macro_f1(["a", "b"], ["a", "a"], ["a", "b", "c"])   # F1: a 2/3, b 0, c 0
        0.2222222222222222
    """
    return float(_macro_f1_from_confusion(confusion_matrix(y_true, y_pred, labels)))


def classification_report_dict(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> dict[str, Any]:
    """n, accuracy, macro-F1, per-label scores and the confusion matrix in one JSON-ready dict."""
    cm = confusion_matrix(y_true, y_pred, labels)
    return {
        "n": int(cm.sum()),
        "accuracy": float(_accuracy_from_confusion(cm)),
        "macro_f1": float(_macro_f1_from_confusion(cm)),
        "per_label": _per_label_from_confusion(cm, labels),
        "confusion_matrix": {"labels": list(labels), "matrix": cm.tolist()},
    }


def split_scores(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> dict[str, Any]:
    """The compact scores trainers record per split in metadata.json: n, accuracy, macro-F1
    (over every label, absent ones as 0) and the F1 of each label."""
    report = classification_report_dict(y_true, y_pred, labels)
    return {
        "n": report["n"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
        "per_label_f1": {label: s["f1"] for label, s in report["per_label"].items()},
    }  # fmt: skip


# --- bootstrap ----------------------------------------------------------------------------


def _resample_chunks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays (chunk, n) of quotes drawn with replacement; n_resamples rows in all.

    The same seed always gives the same resamples (and the same for every model scored on
    the same n quotes, which is what makes a paired comparison paired).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, found {n_resamples}")
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for start in range(0, n_resamples, step):
        size = min(step, n_resamples - start)
        yield rng.integers(0, n, size=(size, n))


def _interval(values: np.ndarray, level: float = CONFIDENCE_LEVEL) -> list[float]:
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return [float(low), float(high)]


def _encode_groups(groups: Sequence[Any] | None, n: int) -> tuple[np.ndarray, int] | None:
    """Group index of each quote and the number of groups; None when no grouping applies.

    A missing group (None or "") makes the quote a group of its own, so it is never pooled
    with other ungrouped quotes. Fewer than two groups cannot be resampled: None.
    """
    if groups is None:
        return None
    values = list(groups)
    if len(values) != n:
        raise ValueError(f"groups: expected one group per quote ({n}), found {len(values)}")
    keys = [f"g:{v}" if v not in (None, "") else f"q:{i}" for i, v in enumerate(values)]
    _, inverse = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    n_groups = int(inverse.max()) + 1 if n else 0
    return (inverse.astype(np.int64), n_groups) if n_groups >= 2 else None


def _group_confusions(codes: np.ndarray, group_of: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(n_groups, k * k) confusion counts of each group's quotes."""
    flat = np.bincount(group_of * (k * k) + codes, minlength=n_groups * k * k)
    return flat.reshape(n_groups, k * k)


def _resampled_confusions(codes: np.ndarray, k: int, n_resamples: int, seed: int,
                          grouping: tuple[np.ndarray, int] | None) -> Iterator[np.ndarray]:  # fmt: skip
    """Confusion matrices (chunk, k, k) of bootstrap resamples, of quotes or of whole groups.

    Grouped (cluster bootstrap): each resample draws ``n_groups`` groups with replacement and
    takes all quotes of every drawn group, so quotes of one article stay together. Its
    confusion matrix is the sum of the drawn groups' matrices, i.e. (draw counts) @ (group
    matrices), computed without materialising the quotes.
    """
    if grouping is None:
        for idx in _resample_chunks(codes.size, n_resamples, seed):
            yield _confusion_from_codes(codes[idx], k)
        return
    group_of, n_groups = grouping
    per_group = _group_confusions(codes, group_of, n_groups, k)
    for idx in _resample_chunks(n_groups, n_resamples, seed):
        offsets = (np.arange(idx.shape[0]) * n_groups)[:, None]
        draws = np.bincount((idx + offsets).ravel(), minlength=idx.shape[0] * n_groups)
        yield (draws.reshape(idx.shape[0], n_groups) @ per_group).reshape(-1, k, k)


def bootstrap_ci(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    labels: Sequence[str],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = CONFIDENCE_LEVEL,
    groups: Sequence[Any] | None = None,
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals for macro-F1 and accuracy.

    The quotes are resampled with replacement ``n_resamples`` times (one seeded generator);
    each resample is scored exactly like the full set (macro-F1 over all labels), and the
    interval is the (2.5%, 97.5%) quantile range of those scores. Vectorised: 1000 resamples
    of a few hundred quotes take milliseconds.

    Quotes of one article are not independent. With ``groups`` (the article of each quote)
    whole articles are resampled instead (the cluster bootstrap), which is the honest interval
    when the test set is a few articles; with fewer than two distinct groups it falls back to
    quotes (see :func:`classification_summary`, which records which one was used).

    Args:
        y_true, y_pred: gold and predicted labels (names or indices into ``labels``).
        labels: the label set.
        n_resamples: number of bootstrap resamples.
        seed: seed of the resampling generator.
        level: coverage of the interval.
        groups: optional group (article) of each quote, for the cluster bootstrap.

    Returns:
        ``{"macro_f1": [low, high], "accuracy": [low, high]}``.

    Example:
        >>> bootstrap_ci(["a", "b"] * 5, ["a", "b"] * 5, ["a", "b"])
        {'macro_f1': [1.0, 1.0], 'accuracy': [1.0, 1.0]}
    """
    t, p = _pair(y_true, y_pred, labels)
    k = len(labels)
    grouping = _encode_groups(groups, t.size)
    f1s, accs = [], []
    for cm in _resampled_confusions(t * k + p, k, n_resamples, seed, grouping):
        f1s.append(_macro_f1_from_confusion(cm))
        accs.append(_accuracy_from_confusion(cm))
    return {
        "macro_f1": _interval(np.concatenate(f1s), level),
        "accuracy": _interval(np.concatenate(accs), level),
    }


def paired_bootstrap(
    y_true: Sequence[Any],
    pred_a: Sequence[Any],
    pred_b: Sequence[Any],
    labels: Sequence[str],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = CONFIDENCE_LEVEL,
    groups: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Paired bootstrap of the macro-F1 difference between two models on the same quotes.

    Each resample draws the same quotes (with ``groups``: the same whole articles) for both
    models, so quote difficulty cancels out and the interval is much narrower than comparing
    two separate intervals.

    The two-sided p-value is ``2 * min(share of resampled differences <= 0, share >= 0)``,
    each share with an add-one correction ``(count + 1) / (n_resamples + 1)`` so it is never
    reported as exactly 0, capped at 1. It agrees with the interval: p < 0.05 roughly when
    the 95% interval excludes 0. Identical predictions give a difference of 0 and p = 1.

    Args:
        y_true: gold labels.
        pred_a, pred_b: the two models' predictions, aligned with ``y_true``.
        labels: the label set.
        n_resamples: number of bootstrap resamples.
        seed: seed of the resampling generator.
        level: coverage of the interval.
        groups: optional group (article) of each quote: resample whole groups.

    Returns:
        ``{"macro_f1_a", "macro_f1_b", "difference" (a - b), "ci": [low, high], "p_value",
        "n_resamples", "unit" ("group" or "quote")}``.
    """
    t, a = _pair(y_true, pred_a, labels)
    _, b = _pair(y_true, pred_b, labels)
    k = len(labels)
    grouping = _encode_groups(groups, t.size)
    # The same seed gives both streams identical draws: each resample scores both models on
    # the same quotes (the same articles), which is what makes the comparison paired.
    d = np.concatenate([
        _macro_f1_from_confusion(cm_a) - _macro_f1_from_confusion(cm_b)
        for cm_a, cm_b in zip(
            _resampled_confusions(t * k + a, k, n_resamples, seed, grouping),
            _resampled_confusions(t * k + b, k, n_resamples, seed, grouping),
        )
    ])  # fmt: skip
    # Exact ties matter (identical models give d == 0 everywhere): compare with a tolerance
    # far below any real macro-F1 step (1/n^2 scale) so float noise is not a "difference".
    eps = 1e-12
    low_share = (np.sum(d <= eps) + 1) / (d.size + 1)
    high_share = (np.sum(d >= -eps) + 1) / (d.size + 1)
    f1_a = float(_macro_f1_from_confusion(_confusion_from_codes(t * k + a, k)))
    f1_b = float(_macro_f1_from_confusion(_confusion_from_codes(t * k + b, k)))
    return {
        "macro_f1_a": f1_a,
        "macro_f1_b": f1_b,
        "difference": f1_a - f1_b,
        "ci": _interval(d, level),
        "p_value": float(min(1.0, 2 * min(low_share, high_share))),
        "n_resamples": int(d.size),
        "unit": "quote" if grouping is None else "group",
    }


# --- McNemar ------------------------------------------------------------------------------


def mcnemar(y_true: Sequence[Any], pred_a: Sequence[Any], pred_b: Sequence[Any]) -> dict[str, Any]:
    """McNemar's test: do two models on the same quotes differ in accuracy?

    Only the discordant quotes count: ``b`` = A right and B wrong, ``c`` = A wrong and B
    right. With ``b + c < 25`` the exact two-sided binomial test (``2 * P(X <= min(b, c))``,
    X ~ Binomial(b + c, 1/2), capped at 1) is used; otherwise the chi-square statistic with
    continuity correction ``max(0, |b - c| - 1)^2 / (b + c)`` on 1 degree of freedom (the
    correction never pushes the statistic below 0, so b = c gives statistic 0 and p = 1).

    Returns:
        ``{"a_right_b_wrong": b, "a_wrong_b_right": c, "method": "exact" | "chi2",
        "statistic", "p_value"}``; for the exact test ``statistic`` is ``min(b, c)``.

    Example:
        >>> mcnemar(["x"] * 12, ["x"] * 10 + ["y"] * 2, ["y"] * 10 + ["x"] * 2)["p_value"]  # b=10, c=2
        0.03857421875
    """
    t, a, b_pred = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (t.shape == a.shape == b_pred.shape) or t.ndim != 1:
        raise ValueError(
            f"y_true, pred_a and pred_b must be 1-D of one length, found {t.shape}, {a.shape}, {b_pred.shape}"
        )
    right_a, right_b = a == t, b_pred == t
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    n = b + c
    if n < EXACT_MCNEMAR_BELOW:
        k = min(b, c)
        # Exact binomial tail in integers (no float drift), then one division.
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n if n else 1.0
        return {
            "a_right_b_wrong": b, "a_wrong_b_right": c, "method": "exact",
            "statistic": float(k), "p_value": float(min(1.0, 2 * tail)),
        }  # fmt: skip
    statistic = max(0, abs(b - c) - 1) ** 2 / n
    # Survival function of chi-square with 1 df: P(X > s) = erfc(sqrt(s / 2)).
    p_value = math.erfc(math.sqrt(statistic / 2))
    return {
        "a_right_b_wrong": b, "a_wrong_b_right": c, "method": "chi2",
        "statistic": float(statistic), "p_value": float(p_value),
    }  # fmt: skip


# --- calibration --------------------------------------------------------------------------


def _bin_index(confidences: np.ndarray, n_bins: int) -> np.ndarray:
    # Bins (0, 0.1], (0.1, 0.2], ..., (0.9, 1]; a confidence of exactly 0 goes in the first.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, n_bins - 1)


def _check_calibration_input(
    confidences: Sequence[float], correct: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape or conf.ndim != 1:
        raise ValueError(
            f"confidences and correct must be 1-D of one length, found {conf.shape} and {ok.shape}"
        )
    if conf.size == 0:
        raise ValueError("no examples (confidences is empty)")
    if np.any(~np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
        raise ValueError("confidences must be probabilities in [0, 1]")
    return conf, ok


def reliability_table(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = DEFAULT_BINS
) -> list[dict[str, Any]]:
    """Accuracy against confidence in ``n_bins`` equal-width bins of the top-label probability.

    Returns:
        One dict per bin, lowest first: ``{"bin": [low, high], "count", "mean_confidence",
        "accuracy"}``; the last two are None for an empty bin.
    """
    conf, ok = _check_calibration_input(confidences, correct)
    which = _bin_index(conf, n_bins)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=conf, minlength=n_bins)
    ok_sum = np.bincount(which, weights=ok.astype(np.float64), minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for i in range(n_bins):
        filled = count[i] > 0
        rows.append({
            "bin": [round(float(edges[i]), 6), round(float(edges[i + 1]), 6)],
            "count": int(count[i]),
            "mean_confidence": float(conf_sum[i] / count[i]) if filled else None,
            "accuracy": float(ok_sum[i] / count[i]) if filled else None,
        })  # fmt: skip
    return rows


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = DEFAULT_BINS
) -> float:
    """ECE: the count-weighted mean gap between accuracy and mean confidence over the bins.

    ``sum_b (n_b / n) * |accuracy_b - mean_confidence_b|`` with the bins of
    :func:`reliability_table`. 0 means perfectly calibrated; a model that says 0.9 and is
    right 60% of the time scores 0.3.

    Example:
        >>> expected_calibration_error([0.9, 0.9, 0.9, 0.9], [True, True, True, False])  # 0.9 vs 0.75
        0.15000000000000002
    """
    return _ece_from_table(reliability_table(confidences, correct, n_bins))


def _ece_from_table(rows: Sequence[dict[str, Any]]) -> float:
    # The one ECE formula: every ECE the package reports comes through here.
    n = sum(r["count"] for r in rows)
    return float(
        sum(r["count"] / n * abs(r["accuracy"] - r["mean_confidence"]) for r in rows if r["count"])
    )


# --- everything at once ----------------------------------------------------------------------


def classification_summary(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    labels: Sequence[str],
    confidences: Sequence[float] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_bins: int = DEFAULT_BINS,
    groups: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """All metrics of one set of predictions, JSON-ready.

    Args:
        y_true, y_pred: gold and predicted labels.
        labels: the label set (macro-F1 averages over all of it).
        confidences: probability of each predicted label; when None, ECE and the reliability
            table are None (e.g. for a constant majority-class predictor).
        n_resamples, seed: bootstrap settings (see :func:`bootstrap_ci`).
        n_bins: calibration bins.
        groups: the group (article) of each quote. With two or more groups the main intervals
            (``accuracy_ci``, ``macro_f1_ci``) come from the cluster bootstrap over groups;
            the quote-level ones are kept beside them (``*_ci_quotes``) for comparison.

    Returns:
        ``{"n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "ci_unit" ("group" or
        "quote"), "n_groups", "accuracy_ci_quotes", "macro_f1_ci_quotes", "per_label",
        "confusion_matrix", "ece", "reliability"}``.
    """
    out = classification_report_dict(y_true, y_pred, labels)
    quotes = bootstrap_ci(y_true, y_pred, labels, n_resamples=n_resamples, seed=seed)
    grouping = _encode_groups(groups, out["n"])
    ci = quotes if grouping is None else bootstrap_ci(
        y_true, y_pred, labels, n_resamples=n_resamples, seed=seed, groups=groups
    )  # fmt: skip
    out["macro_f1_ci"], out["accuracy_ci"] = ci["macro_f1"], ci["accuracy"]
    out["ci_unit"] = "quote" if grouping is None else "group"
    out["n_groups"] = None if grouping is None else grouping[1]
    out["macro_f1_ci_quotes"], out["accuracy_ci_quotes"] = quotes["macro_f1"], quotes["accuracy"]
    if confidences is not None:
        t, p = _pair(y_true, y_pred, labels)
        correct = t == p
        table = reliability_table(confidences, correct, n_bins)
        out["ece"] = _ece_from_table(table)
        out["reliability"] = table
    else:
        out["ece"] = None
        out["reliability"] = None
    # A stable key order for humans reading the JSON.
    order = ["n", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "ci_unit", "n_groups",
             "accuracy_ci_quotes", "macro_f1_ci_quotes", "per_label",
             "confusion_matrix", "ece", "reliability"]  # fmt: skip
    return {key: out[key] for key in order}


# --- scores within subgroups ------------------------------------------------------------------


def subgroup_scores(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    subgroups: Sequence[Any],
    labels: Sequence[str],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = CONFIDENCE_LEVEL,
    groups: Sequence[Any] | None = None,
    min_group: int = MIN_GROUP_SIZE,
) -> list[dict[str, Any]]:
    """Accuracy and label shares within each subgroup (each speaker role, year, outlet...).

    Researchers compare groups ("what share of BMA leaders oppose?"). A model that errs more,
    or differently, in one group moves that group's counted shares and not the others', which
    one overall score cannot show. For every subgroup this gives the accuracy and, per label,
    the gold share, the predicted share and their gap (predicted - gold: positive means the
    model over-counts the label there), each gap with an interval from the same resamples as
    the accuracy's. Resamples draw whole articles when ``groups`` names two or more within the
    subgroup (the cluster bootstrap of :func:`bootstrap_ci`), else quotes; each row says which
    (``ci_unit``, ``n_groups``), since a subgroup inside one article can only resample quotes.

    Args:
        y_true, y_pred: gold and predicted labels.
        subgroups: the subgroup of each quote; None or "" is :data:`MISSING_GROUP`.
        labels: the label set.
        n_resamples, seed, level: bootstrap settings.
        groups: the article of each quote, for the cluster bootstrap.
        min_group: subgroups with fewer quotes are flagged ``small``.

    Returns:
        One row per subgroup, the largest first (ties by name), then :data:`ALL_GROUP`:
        ``{"group", "n", "small", "ci_unit" ("group" or "quote"), "n_groups", "accuracy",
        "accuracy_ci", "shares": {label: {"gold", "predicted", "gap", "gap_ci"}}}``.

    Example:
        >>> rows = subgroup_scores(["a", "b", "a"], ["a", "a", "a"], ["x", "x", "y"], ["a", "b"], 200)
        >>> [(r["group"], r["accuracy"], r["shares"]["b"]["gap"]) for r in rows]
        [('x', 0.5, -0.5), ('y', 1.0, 0.0), ('(all)', 0.6666666666666666, -0.3333333333333333)]
    """
    t, p = _pair(y_true, y_pred, labels)
    names = [MISSING_GROUP if g in (None, "") else str(g) for g in subgroups]
    if len(names) != t.size:
        raise ValueError(f"subgroups: expected one per quote ({t.size}), found {len(names)}")
    articles = list(groups) if groups is not None else None
    sizes = Counter(names)
    order = sorted(sizes, key=lambda g: (-sizes[g], g))
    rows = []
    for name in [*order, ALL_GROUP]:
        idx = np.arange(t.size) if name == ALL_GROUP else np.flatnonzero(np.asarray(names) == name)
        sub_groups = None if articles is None else [articles[i] for i in idx]
        codes = t[idx] * len(labels) + p[idx]
        row = _subgroup_row(codes, labels, n_resamples, seed, level, sub_groups)
        rows.append({"group": name, "n": int(idx.size), "small": bool(idx.size < min_group), **row})
    return rows


def _subgroup_row(codes: np.ndarray, labels: Sequence[str], n_resamples: int, seed: int,
                  level: float, groups: Sequence[Any] | None) -> dict[str, Any]:  # fmt: skip
    """Accuracy and (gold, predicted, gap) shares of one subgroup's pair codes, with intervals."""
    k = len(labels)
    cm = _confusion_from_codes(codes, k).astype(float)
    grouping = _encode_groups(groups, codes.size)
    accs, gaps = [], []
    for batch in _resampled_confusions(codes, k, n_resamples, seed, grouping):
        n = batch.sum(axis=(1, 2)).astype(float)
        accs.append(np.trace(batch, axis1=1, axis2=2) / n)
        gaps.append((batch.sum(axis=1) - batch.sum(axis=2)) / n[:, None])  # predicted - gold
    accs_all, gaps_all = np.concatenate(accs), np.concatenate(gaps)
    gold, predicted = cm.sum(axis=1) / codes.size, cm.sum(axis=0) / codes.size
    shares = {
        label: {"gold": float(gold[j]), "predicted": float(predicted[j]),
                "gap": float(predicted[j] - gold[j]), "gap_ci": _interval(gaps_all[:, j], level)}
        for j, label in enumerate(labels)
    }  # fmt: skip
    return {"ci_unit": "quote" if grouping is None else "group",
            "n_groups": None if grouping is None else grouping[1],
            "accuracy": float(np.trace(cm) / codes.size), "accuracy_ci": _interval(accs_all, level),
            "shares": shares}  # fmt: skip
