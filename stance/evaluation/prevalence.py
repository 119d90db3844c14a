"""Stance prevalence per group, corrected for the classifier's errors, with honest intervals.

Counting predicted labels ("classify and count") is biased whenever the classifier errs: with
a recall of 0.7 for ``oppose`` and a few ``support`` quotes misread as ``oppose``, the counted
share of ``oppose`` drifts toward the model's own habits, by tens of points on real data.

The **adjusted** estimate (adjusted classify-and-count, ACC; Forman 2008) inverts the model's
measured error rates. With ``M[i, j] = P(predicted j | true i)`` from the model's held-out
(validation) confusion matrix, the expected predicted shares are ``q = M^T p``; the adjusted
shares solve that system for ``p`` (pseudo-inverse), then are clipped to [0, 1] and renormalised.

The **95% interval** is a percentile bootstrap over *both* sources of error: each resample
redraws the group's predicted-label shares and each row of ``M`` (the held-out predictions of
one true label), and solves again. The draws are a Bayesian bootstrap (Dirichlet over the
counts with a Jeffreys prior of 1/2): like resampling quotes, but a group whose quotes all got
one label still gets an honest interval instead of [1, 1]. A label with no held-out examples
has no measured error rate: both the estimate and every resample assume its quotes are always
predicted right, and the result says so (:func:`unmeasured_labels`). Groups
with fewer than :data:`~stance.constants.MIN_GROUP_SIZE` quotes are flagged ``small``: the
interval is reported, the point estimate should not be quoted on its own.

The adjustment assumes the error rates measured on the held-out data hold for the quotes
being counted. When the quotes differ (authored validation statements vs. real news quotes),
that assumption fails and no interval can repair it: see ``docs/prevalence.md``.

Example:
    >>> import numpy as np
    >>> confusion = [[8, 2, 0], [1, 9, 0], [0, 0, 10]]      # rows: true label
    >>> adjusted_shares(np.array([0.44, 0.46, 0.10]), confusion).round(3).tolist()
    [0.5, 0.4, 0.1]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.constants import ALL_GROUP, DEFAULT_RESAMPLES, MIN_GROUP_SIZE, MISSING_GROUP
from stance.errors import DataError, ModelError

__all__ = [
    "MISSING_GROUP",
    "ALL_GROUP",
    "rate_matrix",
    "unmeasured_labels",
    "adjusted_shares",
    "estimate_group",
    "prevalence",
    "model_confusion",
    "prevalence_file",
    "plot_prevalence",
]

CONFIDENCE_LEVEL = 0.95
# Jeffreys prior of the Dirichlet draws behind the intervals (see estimate_group).
_PRIOR = 0.5


def rate_matrix(confusion: Any) -> np.ndarray:
    """``M[..., i, j] = P(predicted j | true i)`` from confusion counts (rows = true label).

    A true label with no held-out examples has no measured error rate; its row is taken as
    "always predicted correctly" (the identity row), which leaves its share unadjusted.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    totals = cm.sum(axis=-1, keepdims=True)
    eye = np.broadcast_to(np.eye(cm.shape[-1]), cm.shape)
    return np.where(totals > 0, cm / np.where(totals > 0, totals, 1.0), eye)


def unmeasured_labels(labels: Sequence[str], confusion: Any) -> list[str]:
    """The labels with no held-out examples (an all-zero confusion row): their error rate is
    assumed (always predicted right, see :func:`rate_matrix`), not measured."""
    totals = np.asarray(confusion, dtype=np.float64).sum(axis=-1)
    return [label for label, total in zip(labels, totals) if total == 0]


def adjusted_shares(observed: np.ndarray, confusion: Any) -> np.ndarray:
    """Adjusted classify-and-count: solve ``M^T p = q`` for the true shares ``p``.

    Args:
        observed: predicted-label shares ``q``, shape (..., k) (rows sum to 1).
        confusion: held-out confusion counts (..., k, k), rows = true label; leading axes
            broadcast with ``observed`` (one matrix per bootstrap resample).

    Returns:
        Shares (..., k), clipped to [0, 1] and renormalised to sum to 1 (the raw shares where
        every adjusted share clips to 0).
    """
    q = np.asarray(observed, dtype=np.float64)
    m = rate_matrix(confusion)
    p = (np.linalg.pinv(np.swapaxes(m, -1, -2)) @ q[..., None])[..., 0]
    p = np.clip(p, 0.0, 1.0)
    total = p.sum(axis=-1, keepdims=True)
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), q)


def _interval(values: np.ndarray, level: float) -> np.ndarray:
    alpha = (1 - level) / 2
    return np.quantile(values, [alpha, 1 - alpha], axis=0).T  # (k, 2)


def estimate_group(
    counts: Sequence[int],
    confusion: Any,
    n_resamples: int = DEFAULT_RESAMPLES,
    rng: np.random.Generator | None = None,
    level: float = CONFIDENCE_LEVEL,
) -> dict[str, np.ndarray]:
    """Raw and adjusted shares of one group, each with a percentile-bootstrap interval.

    Args:
        counts: the group's number of quotes predicted with each label.
        confusion: held-out confusion counts (k, k), rows = true label.
        n_resamples: bootstrap resamples.
        rng: the random generator (seeded by the caller).
        level: interval coverage.

    Returns:
        ``{"raw", "raw_ci", "adjusted", "adjusted_ci"}``: arrays (k,) and (k, 2); the point
        estimates are the plain shares and their ACC correction (no prior). A label with no
        held-out examples keeps its assumed identity row in every resample too (see
        :func:`unmeasured_labels`).
    """
    rng = rng or np.random.default_rng(0)
    counts = np.asarray(counts, dtype=np.int64)
    cm = np.asarray(confusion, dtype=np.int64)
    n, k = int(counts.sum()), counts.size
    q = counts / max(n, 1)
    # Bayesian bootstrap of the counts (Dirichlet, Jeffreys prior 1/2): like resampling the
    # quotes, but a group whose quotes all got one label still gets an interval, not [1, 1].
    q_boot = rng.dirichlet(counts + _PRIOR, size=n_resamples)
    # The same for the held-out predictions of each true label: the error-rate uncertainty.
    cm_boot = np.stack([rng.dirichlet(cm[i] + _PRIOR, size=n_resamples) for i in range(k)], axis=1)
    # A label with no held-out examples has no measured rate: the point estimate assumes the
    # identity row, so every resample must too. Drawn from the prior alone, the row would say
    # that label's quotes get random predictions and stretch every interval toward [0, 1].
    # (All rows are still drawn, so the other rows' draws do not depend on which are empty.)
    unmeasured = cm.sum(axis=1) == 0
    cm_boot[:, unmeasured] = np.eye(k)[unmeasured]
    return {
        "raw": q,
        "raw_ci": _interval(q_boot, level),
        "adjusted": adjusted_shares(q, cm),
        "adjusted_ci": _interval(adjusted_shares(q_boot, cm_boot), level),
    }


def prevalence(
    predicted: Sequence[str],
    groups: Sequence[Any] | None,
    labels: Sequence[str],
    confusion: Any,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    min_group: int = MIN_GROUP_SIZE,
    level: float = CONFIDENCE_LEVEL,
) -> list[dict[str, Any]]:
    """Per-group shares of each label: raw counting, adjusted, and 95% intervals.

    Args:
        predicted: the predicted label of each quote.
        groups: the group of each quote (None: one group of all quotes); a missing value
            (None or "") is the group :data:`MISSING_GROUP`.
        labels: the label set, in the confusion matrix's order.
        confusion: the model's held-out confusion counts (rows = true label).
        n_resamples, seed, level: bootstrap settings.
        min_group: groups with fewer quotes are flagged ``small``.

    Returns:
        One row per group, the largest first, then :data:`ALL_GROUP` for all quotes:
        ``{"group", "n", "small", "counts": {label: n}, "shares": {label: {"raw", "raw_ci",
        "adjusted", "adjusted_ci"}}}``.

    Raises:
        ValueError: a predicted label is not in ``labels``, or the lengths differ.
    """
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(p) for p in predicted} - set(index))
    if unknown:
        raise ValueError(
            f"predicted label(s) {', '.join(unknown)} are not among {', '.join(labels)}"
        )
    if groups is not None and len(groups) != len(predicted):
        raise ValueError(
            f"groups and predicted differ in length ({len(groups)} vs {len(predicted)})"
        )
    keys = [
        MISSING_GROUP if g in (None, "") else str(g)
        for g in (groups or [ALL_GROUP] * len(predicted))
    ]
    members: dict[str, np.ndarray] = {}
    for key, label in zip(keys, predicted):
        members.setdefault(key, np.zeros(len(labels), dtype=np.int64))[index[label]] += 1
    order = sorted(members, key=lambda g: (-members[g].sum(), g))
    if groups is not None:
        order.append(ALL_GROUP)
        members[ALL_GROUP] = sum(members.values(), np.zeros(len(labels), dtype=np.int64))
    rng = np.random.default_rng(seed)
    return [
        _row(g, members[g], labels, confusion, n_resamples, rng, level, min_group) for g in order
    ]


def _row(group: str, counts: np.ndarray, labels: list[str], confusion: Any, n_resamples: int,
         rng: np.random.Generator, level: float, min_group: int) -> dict[str, Any]:  # fmt: skip
    est = estimate_group(counts, confusion, n_resamples, rng, level)
    shares = {
        label: {"raw": float(est["raw"][i]), "raw_ci": est["raw_ci"][i].tolist(),
                "adjusted": float(est["adjusted"][i]), "adjusted_ci": est["adjusted_ci"][i].tolist()}
        for i, label in enumerate(labels)
    }  # fmt: skip
    n = int(counts.sum())
    return {"group": group, "n": n, "small": n < min_group,
            "counts": dict(zip(labels, counts.tolist())), "shares": shares}  # fmt: skip


# --- from a model directory and a file ------------------------------------------------------------


def model_confusion(model: Any) -> tuple[list[str], list[list[int]], dict[str, Any]]:
    """``(labels, held-out confusion counts, calibration summary)`` of a model directory or
    loaded predictor, as recorded at training time.

    A directory is not loaded: only its metadata and calibration record are read (the latter
    checked against its recorded sha256), so asking for the error rates of a model already
    loaded on a GPU, or by ONNX Runtime, never loads its weights a second time.

    Raises:
        ModelError: the model records no held-out predictions (trained without a validation
            split, or before this was recorded): retrain it with a validation split.
    """
    from stance.evaluation.calibration import read_calibration
    from stance.inference.predictor import Predictor

    if isinstance(model, Predictor):
        model_dir, metadata, shown = model.model_dir, model.metadata, model.model_dir
    else:
        model_dir, metadata = _checked_metadata(model)
        shown = model_dir if model is None else model  # as the user named it
    record = None if model_dir is None else read_calibration(model_dir, metadata)
    if not record or "confusion" not in record.get("held_out", {}):
        raise ModelError(
            f"{model_dir}: expected held-out error rates (calibration.json), found none; "
            "retrain the model with a validation split (data.validation in its config)"
        )
    summary = {"model": str(shown), "fitted_on": record.get("fitted_on"),
               "n_held_out": record.get("n")}  # fmt: skip
    return list(metadata["labels"]), record["held_out"]["confusion"], summary


def _checked_metadata(model: str | Path | None) -> tuple[Path, dict[str, Any]]:
    """A model directory's metadata, with its calibration file's checksum verified."""
    from stance.constants import CALIBRATION_FILE
    from stance.inference.predictor import check_version, resolve_model_dir
    from stance.models.artifacts import read_metadata, verify_checksums

    model_dir = resolve_model_dir(model)
    metadata = read_metadata(model_dir)
    check_version(model_dir, metadata)
    name = str((metadata.get("calibration") or {}).get("file", CALIBRATION_FILE))
    recorded = metadata.get("checksums") or {}
    if name in recorded:
        verify_checksums(model_dir, {"checksums": {name: recorded[name]}})
    return model_dir, metadata


_SKIP_REASON = "no predicted label (a row stance predict --skip-invalid left unscored)"
# Lines of skipped rows quoted in the result (the count is always complete).
_MAX_SKIPPED_LINES = 10


def _read_input(path: Path, by: str, text_column: str, prob_prefix: str, labels: Sequence[str],
                predictor: Any, label_column: str) -> tuple[list[str], list[Any], list[dict], bool, list[int]]:  # fmt: skip
    """Predicted labels, groups and records of a file, whether it came scored, and the lines of
    the rows skipped; a file without the probability columns of ``stance predict --output``
    is scored first."""
    from stance.data.io import iter_records

    numbered = list(iter_records(path))
    records = [r for _, r in numbered]
    if not records:
        raise DataError(path, "no records; expected quotes, one per line or row")
    if by not in records[0] and not any(by in r for r in records):
        found = ", ".join(map(str, records[0])) or "none"
        raise DataError(
            path, f"no column {by!r} to group by (found: {found}); choose one with --by"
        )
    scored = (
        all(f"{prob_prefix}{label}" in records[0] for label in labels)
        and label_column in records[0]
    )
    if scored:
        kept, predicted, skipped = _scored_labels(path, numbered, labels, label_column)
        _check_argmax(path, [numbered[i] for i in kept], labels, label_column, prob_prefix)
    else:
        texts = [r.get(text_column) for r in records]
        if any(not isinstance(t, str) for t in texts):
            raise DataError(path, f"rows without a {text_column!r} string: expected quotes to score "
                            "(or the output of stance predict); name the column with --text-column")  # fmt: skip
        predicted = [p.label for p in predictor.predict(texts)]
        kept, skipped = list(range(len(records))), []
    return (predicted, [records[i].get(by) for i in kept], [records[i] for i in kept], scored,
            skipped)  # fmt: skip


def _scored_labels(path: Path, numbered: list[tuple[int, dict]], labels: Sequence[str],
                   label_column: str) -> tuple[list[int], list[str], list[int]]:  # fmt: skip
    """``(indices of the rows kept, their labels, lines of the rows skipped)`` of a scored file.

    A row with an empty label is one that ``stance predict --skip-invalid`` could not score:
    it is skipped and counted. Any other label the model does not have (``Support``, a gold
    label column of another scheme) is an error: counting it as something would be a guess.
    """
    kept, predicted, skipped = [], [], []
    for i, (line, record) in enumerate(numbered):
        value = record.get(label_column)
        if value is None or value == "":
            skipped.append(line)
        elif value in labels:
            kept.append(i)
            predicted.append(value)
        else:
            raise DataError(path, f"predicted label {value!r} in column {label_column!r} is not one "
                            f"of the model's labels ({', '.join(labels)}; case matters); score the "
                            "file with this model (stance predict --output)",
                            line=line)  # fmt: skip
    if not kept:
        raise DataError(path, f"no row has a predicted label in column {label_column!r} ({len(skipped)} "
                        "rows, all empty); expected the output of stance predict --output")  # fmt: skip
    return kept, predicted, skipped


# Probabilities as written (JSON floats, or CSV text read back) can differ in the last digits.
_ARGMAX_TOLERANCE = 1e-6


def _check_argmax(path: Path, numbered: list[tuple[int, dict]], labels: Sequence[str],
                  label_column: str, prob_prefix: str) -> None:  # fmt: skip
    """Refuse a scored file whose label column is not the argmax of its probabilities.

    ``stance predict`` always writes the most probable label, so a disagreement means the
    column holds something else: most often gold labels sitting beside predictions written
    under another ``--label-column``. Counting them as predictions and then correcting them
    for the model's errors would report a wrong, confident share.
    """
    columns = [f"{prob_prefix}{label}" for label in labels]
    for line, record in numbered:
        try:
            probs = [float(record[c]) for c in columns]
        except (KeyError, TypeError, ValueError):
            found = [record.get(c) for c in columns]
            raise DataError(path, f"expected a number in each of {', '.join(columns)} (a scored row), "
                            f"found {found}", line=line) from None  # fmt: skip
        best = labels[probs.index(max(probs))]
        if probs[labels.index(record[label_column])] < max(probs) - _ARGMAX_TOLERANCE:
            raise DataError(path, f"column {label_column!r} says {record[label_column]!r} but "
                            f"{', '.join(columns)} make {best!r} most probable, so it does not hold "
                            "this model's predictions (gold labels?); name the predicted columns with "
                            f"--label-column and --prob-prefix, or drop the {prob_prefix}* columns to "
                            "score the quotes afresh", line=line)  # fmt: skip


def prevalence_file(
    input_path: str | Path,
    by: str,
    model: Any = None,
    text_column: str = "text",
    label_column: str = "label",
    prob_prefix: str = "p_",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    min_group: int = MIN_GROUP_SIZE,
    plot: str | Path | None = None,
) -> dict[str, Any]:
    """Prevalence by the column ``by`` of a JSONL/CSV file of quotes, raw or already scored.

    A file with ``label_column`` and one ``<prob_prefix><label>`` column per label (what
    ``stance predict --output`` writes) is used as scored; any other file is scored with
    ``model`` first. ``model`` is a model directory, a loaded predictor, or None (the
    default model); the error rates always come from it (use the model that scored the
    file). When the file has a ``year`` column (and ``by`` is another column), the result
    also holds the prevalence by year.

    Returns:
        ``{"input", "by", "n", "scored_input", "labels", "error_rates": {model, fitted_on,
        n_held_out, confusion, unmeasured}, "groups": [rows of :func:`prevalence`], "by_year":
        rows or None, "settings", "skipped": {rows, lines, reason}, "warnings", "plot"}``.
        ``n`` counts the quotes used; ``skipped`` the rows of a scored file with an empty label
        (left unscored by ``stance predict --skip-invalid``; ``lines``: the first few).
        ``unmeasured`` lists the labels with no held-out examples (their error rate is
        assumed, see :func:`unmeasured_labels`). ``warnings`` says both in words.

    Raises:
        DataError: unreadable file, no such column, rows without text to score, or (scored
            file) a predicted label the model does not have, or a label column that is not the
            most probable label of its probability columns (gold labels?); names the line.
        ModelError: the model is missing or records no held-out error rates.
    """
    from stance.inference.predictor import Predictor, resolve_predictor

    predictor = resolve_predictor(model, {})  # a path (or None: the default) or a Predictor
    labels, confusion, source = model_confusion(predictor)
    if model is not None and not isinstance(model, Predictor):
        source["model"] = str(model)  # the path as the user gave it, not the resolved one
    path = Path(input_path)
    predicted, groups, records, scored, skipped = _read_input(
        path, by, text_column, prob_prefix, labels, predictor, label_column
    )
    settings = {"n_resamples": n_resamples, "seed": seed, "confidence_level": CONFIDENCE_LEVEL,
                "min_group": min_group, "estimator": "adjusted classify-and-count (ACC)",
                "ci_method": "percentile bootstrap over the quotes and the held-out error rates"}  # fmt: skip
    run = dict(
        labels=labels, confusion=confusion, n_resamples=n_resamples, seed=seed, min_group=min_group
    )
    years = [r.get("year") for r in records]
    by_year = None
    if by != "year" and any(y not in (None, "") for y in years):
        by_year = prevalence(predicted, years, **run)
    unmeasured = unmeasured_labels(labels, confusion)
    result = {
        "input": str(path), "by": by, "n": len(predicted), "scored_input": scored, "labels": labels,
        "error_rates": {**source, "confusion": confusion, "unmeasured": unmeasured},
        "groups": prevalence(predicted, groups, **run), "by_year": by_year, "settings": settings,
        "skipped": {"rows": len(skipped), "lines": skipped[:_MAX_SKIPPED_LINES],
                    "reason": _SKIP_REASON},
        "warnings": _warnings(path, label_column, skipped, source, unmeasured),
    }  # fmt: skip
    if plot is not None:
        result["plot"] = str(plot_prevalence(result, plot))
    return result


def _warnings(path: Path, label_column: str, skipped: list[int], source: dict[str, Any],
              unmeasured: list[str]) -> list[str]:  # fmt: skip
    """One sentence for the skipped rows, one per label whose error rate is assumed."""
    out = []
    if skipped:
        shown = ", ".join(map(str, skipped[:_MAX_SKIPPED_LINES]))
        more = ", ..." if len(skipped) > _MAX_SKIPPED_LINES else ""
        out.append(f"{path}: skipped {len(skipped)} row(s) with no predicted label in column "
                   f"{label_column!r} (line{'s' if len(skipped) > 1 else ''} {shown}{more}): rows "
                   "stance predict --skip-invalid left unscored; they are not counted")  # fmt: skip
    out += [
        f"{source['model']}: no held-out examples of {label!r} in its {source['fitted_on']} split, "
        f"so its error rate is assumed (quotes that are {label!r} always predicted so), not "
        "measured; retrain with a validation split that has every label"
        for label in unmeasured
    ]
    return out


def plot_prevalence(result: dict[str, Any], path: str | Path) -> Path:
    """Adjusted share of each label per group with 95% intervals (raw counting as open marks);
    a second panel by year when the result has one. Small groups are drawn faded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(f"by {result['by']}", result["groups"])]
    if result.get("by_year"):
        panels.append(
            (
                "by year",
                sorted(result["by_year"], key=lambda r: (r["group"] == ALL_GROUP, str(r["group"]))),
            )
        )
    height = max(2.5, 0.45 * max(len(rows) for _, rows in panels) + 1.5)
    fig = Figure(figsize=(6.5 * len(panels), height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    colours = ["#4c72b0", "#c44e52", "#dd8452", "#55a868", "#8172b2"]
    for ax, (title, rows) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        for j, label in enumerate(result["labels"]):
            for y, row in enumerate(rows):
                s = row["shares"][label]
                yy = y + (j - 1) * 0.22
                low, high = s["adjusted_ci"]
                alpha = 0.35 if row["small"] else 1.0
                ax.plot([low, high], [yy, yy], color=colours[j % 5], alpha=alpha, linewidth=2,
                        label=label if y == 0 else None)  # fmt: skip
                if not row["small"]:
                    ax.plot(s["adjusted"], yy, "o", color=colours[j % 5])
                ax.plot(s["raw"], yy, "x", color=colours[j % 5], alpha=0.6)
        ax.set_yticks(
            range(len(rows)),
            [f"{r['group']} (n={r['n']}{', small' if r['small'] else ''})" for r in rows],
        )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of quotes (dot: adjusted, line: 95% interval, x: raw counting)")
        ax.set_title(f"Stance prevalence {title}")
        ax.legend(loc="lower right", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
