"""Likely label errors in a labelled file, found with confident learning (cleanlab).

Each statement gets probabilities from a model that never saw its article (grouped
cross-validation, :func:`stance.labelling.folds.out_of_fold_proba`); cleanlab's
``find_label_issues`` then flags the statements whose given label is unlikely given how the
model confuses labels overall, ranked by self-confidence (the out-of-fold probability of the
given label, lowest first). A flag is a question for a person, not an answer: decide each one
against data/GUIDELINES.md.

Example:
    >>> result = find_label_errors("configs/baseline.yaml")        # doctest: +SKIP
    >>> [(r["id"], r["label"], r["suggested"]) for r in result["issues"][:3]]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig, resolve_config
from stance.data.io import LabelledData, load_labelled

__all__ = ["DEFAULT_CONFIG", "find_label_errors", "issue_rows", "write_issues"]

# The fast model: five baseline trainings take about a minute on the bundled corpus.
DEFAULT_CONFIG = "configs/baseline.yaml"


def find_label_errors(
    config: TrainConfig | str | Path = DEFAULT_CONFIG,
    data: str | Path | None = None,
    folds: int = 5,
    quiet: bool = True,
    progress: Callable[[int, int], None] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Rank the statements of a labelled file by how likely their label is wrong.

    Args:
        config: the model to use (baseline by default; a transformer config works too).
        data: a labelled JSONL/CSV file (``text`` and ``label`` at least); default the
            config's corpus. ``id``, ``source`` and ``pair_id`` are used when present.
        folds: grouped cross-validation folds.
        quiet: no trainer output.
        progress: called as ``progress(fold, folds)`` after each fold.
        overrides: dotted config keys to set (on a path or a config), e.g. ``{"baseline.C_grid":
            [30.0]}`` to skip the baseline's C search in every fold (5x faster).

    Returns:
        ``{"data", "config", "kind", "n", "folds", "n_groups", "oof": {accuracy, macro_f1},
        "n_issues", "issues": [row, ...], "seconds"}``; each row is ``{"rank", "id", "line",
        "label", "suggested", "score", "p_suggested", "source", "speaker", "text"}`` where
        ``score`` is the out-of-fold probability of the given label (low = suspect).

    Raises:
        ConfigError, DataError: bad config or file, or too few groups for the folds.
    """
    from stance.labelling.folds import out_of_fold_proba, review_groups

    started = time.perf_counter()
    config = resolve_config(config, overrides)
    d = config.data
    path = Path(data) if data is not None else Path(d.corpus)
    labelled = load_labelled(
        path, labels=d.labels, text_column=d.text_column, label_column=d.label_column
    )
    groups = review_groups(labelled.records, d.group_column)
    proba, info = out_of_fold_proba(config, labelled, groups, folds, quiet, progress)
    rows, oof = issue_rows(labelled, proba, list(d.labels))
    return {
        "data": str(path),
        "config": config.source,
        "kind": config.kind,
        "n": len(labelled),
        **info,
        "oof": oof,
        "n_issues": len(rows),
        "issues": rows,
        "seconds": round(time.perf_counter() - started, 3),
    }


def issue_rows(
    data: LabelledData, proba: np.ndarray, labels: list[str]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """cleanlab's label issues as ranked rows, and the out-of-fold accuracy and macro-F1."""
    from cleanlab.filter import find_label_issues

    from stance.evaluation.metrics import accuracy, encode_labels, macro_f1

    given = encode_labels(data.labels, labels)
    ranked = find_label_issues(given, proba, return_indices_ranked_by="self_confidence")
    # The best label other than the given one: what a relabel would most likely be.
    others = proba.copy()
    others[np.arange(len(given)), given] = -1.0
    suggested = others.argmax(axis=1)
    predicted = [labels[i] for i in proba.argmax(axis=1)]
    oof = {
        "accuracy": accuracy(data.labels, predicted),
        "macro_f1": macro_f1(data.labels, predicted, labels),
    }
    rows = []
    for rank, i in enumerate(ranked.tolist(), start=1):
        record = data.records[i] if data.records else {}
        rows.append({
            "rank": rank,
            "id": record.get("id"),
            "line": data.lines[i] if data.lines else None,
            "label": data.labels[i],
            "suggested": labels[suggested[i]],
            "score": round(float(proba[i, given[i]]), 4),
            "p_suggested": round(float(proba[i, suggested[i]]), 4),
            "source": record.get("source"),
            "speaker": record.get("speaker"),
            "text": data.texts[i],
        })  # fmt: skip
    return rows, oof


def write_issues(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the ranked rows as JSONL (atomically)."""
    from stance.data.corpus import write_jsonl

    return write_jsonl(path, rows)
