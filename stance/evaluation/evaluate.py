"""Evaluating models on labelled files: one model, several side by side, and grouped CV.

- :func:`evaluate` scores one model on one labelled JSONL/CSV file: accuracy and macro-F1
  with bootstrap intervals, per-label scores, the confusion matrix, calibration (ECE and a
  reliability table) and the misclassified quotes.
- :func:`compare` scores several models on the same quotes, next to a majority-class
  reference, and tests every pair (paired bootstrap of the macro-F1 difference, McNemar).
- :func:`cross_validate` runs leave-one-article-out cross-validation over the seed quotes of
  a corpus, training the config's model kind on each fold, and pools the out-of-fold
  predictions.

All three return plain JSON-ready dicts (what ``--json`` prints) and print nothing; reports
(Markdown + PNG) are written by :mod:`stance.evaluation.report` when ``report_dir`` is given.

Example:
    >>> result = evaluate("models/baseline", "data/splits/test.jsonl")        # doctest: +SKIP
    >>> result["macro_f1"], result["macro_f1_ci"]                              # doctest: +SKIP
    (0.71, [0.62, 0.79])
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig, load_config
from stance.constants import DEFAULT_BATCH_SIZE
from stance.data.io import LabelledData, load_labelled
from stance.errors import DataError, ModelError
from stance.evaluation.metrics import (
    CONFIDENCE_LEVEL,
    DEFAULT_BINS,
    DEFAULT_RESAMPLES,
    classification_report_dict,
    classification_summary,
    mcnemar,
    paired_bootstrap,
    subgroup_scores,
)
from stance.inference.predictor import Predictor, load_uncached
from stance.models.artifacts import file_sha256

__all__ = [
    "ModelPredictions",
    "load_eval_data",
    "predict_data",
    "majority_reference",
    "score",
    "evaluate",
    "compare",
    "compare_predictions",
    "compare_cv",
    "groups_of",
    "display_names",
    "cross_validate",
]

# How many misclassified quotes a result (and so the report) lists at most.
MAX_MISCLASSIFIED = 200


@dataclass
class ModelPredictions:
    """One model's predictions on a labelled file.

    Attributes:
        name: a short display name (unique among the models compared).
        model_dir: the model directory (None for an in-memory predictor without one).
        kind: ``"baseline"``, ``"transformer"`` or ``"ensemble"``.
        labels: the model's label names, in probability-column order.
        predicted: the predicted label of each quote.
        confidence: the probability of each predicted label.
        seconds: wall-clock prediction time.
        metadata: the model's ``metadata.json``.
        probabilities: (n, labels) probabilities of every label (None when not kept).
        raw_probabilities: the model's uncalibrated probabilities (None when not kept);
            ``probabilities`` are calibrated when the model has a calibrator.
        precision: how a transformer's weights ran (``"fp32"`` or ``"bf16"``); None for the
            baseline and for predictions read back from files.
    """

    name: str
    model_dir: str | None
    kind: str
    labels: tuple[str, ...]
    predicted: list[str]
    confidence: np.ndarray
    seconds: float
    metadata: dict[str, Any]
    probabilities: np.ndarray | None = None
    raw_probabilities: np.ndarray | None = None
    precision: str | None = None


# --- loading ---------------------------------------------------------------------------------


def _as_predictor(model: str | Path | Predictor, **options: Any) -> Predictor:
    if isinstance(model, Predictor):
        return model
    from stance.inference.predictor import load

    return load(model, **options)


def load_eval_data(
    path: str | Path,
    model_labels: Sequence[str],
    text_column: str = "text",
    label_column: str = "label",
    model_name: str = "the model",
) -> LabelledData:
    """Read a labelled file and check its labels against the model's.

    Columns other than ``text_column`` and ``label_column`` are ignored (kept in ``records``).

    Raises:
        DataError: the file is unreadable, or holds labels the model does not know (the message
            lists them, with the line of the first, and the model's labels).
    """
    data = load_labelled(path, labels=None, text_column=text_column, label_column=label_column)
    known = set(model_labels)
    unknown = sorted(set(data.labels) - known)
    if unknown:
        first = next(line for line, label in zip(data.lines, data.labels) if label not in known)
        raise DataError(
            path,
            f"label(s) {', '.join(unknown)} are not known to {model_name} "
            f"(its labels: {', '.join(model_labels)}); relabel the file or evaluate a model trained "
            "with these labels",
            line=first,
        )
    return data


def predict_data(predictor: Predictor, data: LabelledData, name: str | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> ModelPredictions:  # fmt: skip
    """Run a model over every text of ``data``; keep the top label and its probability."""
    started = time.perf_counter()
    raw = np.asarray(predictor.predict_proba(list(data.texts), batch_size=batch_size))
    probs = predictor.calibrate(raw)  # what predict() reports: calibrated if the model can be
    seconds = time.perf_counter() - started
    best = probs.argmax(axis=1)
    model_dir = _shown_path(predictor.model_dir) if predictor.model_dir is not None else None
    return ModelPredictions(
        name=name or (Path(model_dir).name if model_dir else predictor.kind),
        model_dir=model_dir,
        kind=predictor.kind,
        labels=tuple(predictor.labels),
        predicted=[predictor.labels[i] for i in best.tolist()],
        confidence=probs[np.arange(len(best)), best],
        seconds=seconds,
        metadata=dict(predictor.metadata or {}),
        probabilities=probs,
        raw_probabilities=raw,
        precision=getattr(predictor, "precision", None),
    )


def _shown_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies inside it (reports get committed)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def display_names(dirs: Sequence[str | None], kinds: Sequence[str]) -> list[str]:
    """Short unique names: the directory name, else the path below the common parent."""
    names = [Path(d).name if d else k for d, k in zip(dirs, kinds)]
    if len(set(names)) == len(names):
        return names
    if all(dirs) and len(set(dirs)) == len(dirs):
        parent = os.path.commonpath([str(Path(d).resolve()) for d in dirs])  # type: ignore[arg-type]
        names = [os.path.relpath(str(Path(d).resolve()), parent) for d in dirs]  # type: ignore[arg-type]
        if len(set(names)) == len(names):
            return names
    return [f"{i + 1}:{name}" for i, name in enumerate(names)]


# --- the majority-class reference ---------------------------------------------------------------


def _majority(counts: dict[str, int], labels: Sequence[str]) -> str:
    # Ties go to the first label in label-set order, so the choice is deterministic.
    return max(labels, key=lambda label: (counts.get(label, 0), -labels.index(label)))


def majority_reference(
    models: Sequence[ModelPredictions], data: LabelledData, labels: Sequence[str]
) -> dict[str, Any]:
    """The label a no-skill classifier would always predict, and where it was taken from.

    Using the most frequent label of the evaluated file itself would peek at the test set, so
    the majority label of a model's *training* data is used when its metadata records the
    counts (``data_counts.train``); only failing that, the evaluated file's (and the source
    says so: that reference is optimistic).

    Returns:
        ``{"label", "source", "from_training_data": bool}``.
    """
    labels = list(labels)
    for m in models:
        counts = (m.metadata.get("data_counts") or {}).get("train")
        if isinstance(counts, dict) and sum(counts.values()) > 0:
            label = _majority(counts, labels)
            return {
                "label": label,
                "source": f"most frequent label of the training data of {m.name} "
                f"({counts.get(label, 0)} of {sum(counts.values())}, from its metadata.json)",
                "from_training_data": True,
            }
    counts = Counter(data.labels)
    label = _majority(counts, labels)
    return {
        "label": label,
        "source": f"most frequent label of the evaluated file itself ({counts[label]} of {len(data)}): "
        "no model records its training label counts, so this reference is optimistic",
        "from_training_data": False,
    }


# --- scoring ---------------------------------------------------------------------------------


def _misclassified(
    data: LabelledData, preds: ModelPredictions, limit: int = MAX_MISCLASSIFIED
) -> list[dict[str, Any]]:
    rows = []
    for i, (gold, pred) in enumerate(zip(data.labels, preds.predicted)):
        if gold != pred:
            record = data.records[i] if data.records else {}
            rows.append({
                "line": data.lines[i] if data.lines else i + 1,
                "id": record.get("id"),
                "source": record.get("source"),
                "text": data.texts[i],
                "true": gold,
                "predicted": pred,
                "confidence": float(preds.confidence[i]),
            })  # fmt: skip
    # Most confident mistakes first: those are the ones worth reading.
    rows.sort(key=lambda r: -r["confidence"])
    return rows[:limit]


def groups_of(data: LabelledData, group_column: str | None) -> list[Any] | None:
    """The group (article) of each quote, or None when there is nothing to resample by.

    These drive the cluster bootstrap: quotes of one article are not independent, so the
    main intervals resample whole articles whenever the data says which article a quote is from.
    None when the file has no such column, or when the column cannot form two groups (every
    quote of one source, as in data/dev_positions.jsonl): the intervals then resample quotes,
    and the settings and reports must say so rather than name a cluster bootstrap that did not
    happen. A quote without a value is a group of its own, as in the bootstrap itself.
    """
    if not group_column or not data.records:
        return None
    values = data.column(group_column)
    named = {v for v in values if v not in (None, "")}
    unnamed = sum(v in (None, "") for v in values)
    return values if named and len(named) + unnamed >= 2 else None


def score(
    data: LabelledData,
    preds: ModelPredictions,
    labels: Sequence[str],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_bins: int = DEFAULT_BINS,
    groups: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """All metrics of one model's predictions on ``data`` (see :func:`stance.evaluation.metrics.classification_summary`),
    plus ``calibration`` (ECE before and after) and ``coverage`` (the coverage-accuracy curve)
    when the raw probabilities were kept (see :func:`stance.evaluation.calibration.calibration_summary`)."""
    out = classification_summary(
        data.labels, preds.predicted, labels, confidences=preds.confidence,
        n_resamples=n_resamples, seed=seed, n_bins=n_bins, groups=groups,
    )  # fmt: skip
    if preds.raw_probabilities is not None and preds.probabilities is not None:
        from stance.evaluation.calibration import calibration_summary

        out.update(calibration_summary(data.labels, preds.raw_probabilities, preds.probabilities,
                                       labels, preds.metadata, n_bins))  # fmt: skip
    return out


def _settings(n_resamples: int, seed: int, n_bins: int,
              group_column: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "n_resamples": n_resamples, "seed": seed, "confidence_level": CONFIDENCE_LEVEL,
        "calibration_bins": n_bins, "group_column": group_column,
        "ci_method": (f"percentile bootstrap over groups of column {group_column!r} (cluster "
                      "bootstrap), quote-level beside it" if group_column
                      else "percentile bootstrap over quotes"),
    }  # fmt: skip


def _majority_scores(data: LabelledData, majority: dict[str, Any], labels: Sequence[str],
                     n_resamples: int, seed: int,
                     groups: Sequence[Any] | None = None) -> dict[str, Any]:  # fmt: skip
    summary = classification_summary(
        data.labels, [majority["label"]] * len(data), labels, n_resamples=n_resamples, seed=seed,
        groups=groups,
    )  # fmt: skip
    for key in ("ece", "reliability"):  # a constant predictor has no confidence to calibrate
        summary.pop(key)
    return {**majority, **summary}


def evaluate(
    model: str | Path | Predictor,
    data_path: str | Path,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report_dir: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    n_bins: int = DEFAULT_BINS,
    group_column: str | None = "source",
    by: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score one model on a labelled JSONL/CSV file.

    Args:
        model: a model directory or an already loaded :class:`~stance.inference.predictor.Predictor`.
        data_path: the labelled file (``text`` and ``label`` columns; others ignored).
        n_resamples: bootstrap resamples for the intervals.
        seed: seed of the bootstrap.
        batch_size: texts per forward pass.
        report_dir: if given, also write ``report.md``, ``confusion_matrix.png`` and
            ``reliability.png`` there (see :func:`stance.evaluation.report.write_evaluation_report`).
        text_column, label_column: column names in the file.
        n_bins: calibration bins.
        group_column: the column naming each quote's article; when the file has it, the main
            intervals resample whole articles (cluster bootstrap; quote-level ones beside).
        by: a column to break the scores down by (``role``, ``year``...): accuracy and gold
            against predicted label shares within each of its values
            (:func:`stance.evaluation.metrics.subgroup_scores`).
        **options: passed to :func:`stance.inference.predictor.load` (e.g. ``device="cpu"``).

    Returns:
        A JSON-ready dict: ``model``, ``kind``, ``data``, ``data_sha256``, ``labels``, ``n``,
        ``accuracy``, ``accuracy_ci``, ``macro_f1``, ``macro_f1_ci``, ``per_label`` ({label:
        {precision, recall, f1, support}}), ``confusion_matrix`` ({labels, matrix}, rows =
        true), ``ece``, ``reliability``, ``majority`` (reference scores), ``misclassified``
        (most confident first, at most 200), ``settings``, ``predict_seconds``, ``in_sample``
        (``"training"``/``"validation"`` when the file is that split of the model, with a
        warning; else None), with ``by``, ``by`` (``{"column", "rows"}``) and, with
        ``report_dir``, ``report`` (the files written).

    Raises:
        ModelError: the model directory is missing or broken.
        DataError: the file is unreadable, has labels the model does not know, or has no
            ``by`` column.

    Example:
        >>> r = evaluate("models/baseline", "data/splits/test.jsonl", n_resamples=200)  # doctest: +SKIP
        >>> r["macro_f1_ci"]                                                          # doctest: +SKIP
    """
    predictor = _as_predictor(model, **options)
    labels = list(predictor.labels)
    name = str(predictor.model_dir) if predictor.model_dir is not None else predictor.kind
    data = load_eval_data(
        data_path, labels, text_column, label_column, model_name=f"the model {name}"
    )
    if by is not None:  # before predicting: a typo in the column must not cost a model run
        _check_column(data, by, data_path)
    preds = predict_data(predictor, data, batch_size=batch_size)
    groups = groups_of(data, group_column)
    result: dict[str, Any] = {
        "model": preds.model_dir,
        "kind": preds.kind,
        # How a transformer ran (fp32, or bf16 where the hardware has it): part of reproducing.
        "precision": preds.precision,
        "data": str(data_path),
        "data_sha256": file_sha256(data_path),
        "labels": labels,
        **score(data, preds, labels, n_resamples, seed, n_bins, groups),
    }
    result["in_sample"] = _in_sample(predictor.metadata, result["data_sha256"], data_path, name)
    result["majority"] = _majority_scores(
        data, majority_reference([preds], data, labels), labels, n_resamples, seed, groups
    )
    result["misclassified"] = _misclassified(data, preds)
    result["settings"] = _settings(n_resamples, seed, n_bins, group_column if groups else None)
    result["predict_seconds"] = round(preds.seconds, 3)
    if by is not None:
        result["by"] = _breakdown(data, preds, labels, by, n_resamples, seed, groups)
    if report_dir is not None:
        from stance.evaluation.report import write_evaluation_report

        result["report"] = {
            k: str(v) for k, v in write_evaluation_report(result, report_dir).items()
        }
    return result


def _breakdown(data: LabelledData, preds: ModelPredictions, labels: Sequence[str], by: str,
               n_resamples: int, seed: int, groups: Sequence[Any] | None) -> dict[str, Any]:  # fmt: skip
    """``{"column", "rows"}``: the scores within each value of the column ``by``."""
    rows = subgroup_scores(data.labels, preds.predicted, data.column(by), labels, n_resamples,
                           seed, groups=groups)  # fmt: skip
    return {"column": by, "rows": rows}


def _check_column(data: LabelledData, column: str, path: str | Path) -> None:
    """Raise a DataError naming the file's columns when no record has ``column``."""
    found = sorted({key for record in data.records for key in record})
    if column not in found:
        raise DataError(
            path,
            f"no column {column!r} to break the scores down by; its columns: {', '.join(found)} "
            "(pass one of them to --by)",
        )


def _in_sample(meta: dict[str, Any] | None, digest: str, data_path: str | Path,
               name: str) -> str | None:  # fmt: skip
    """``"training"`` or ``"validation"`` when the file is that split of the model (by the
    sha256 its metadata records), with a LeakageWarning: such scores are not held-out."""
    from stance.models.artifacts import recorded_split
    from stance.models.training import LeakageWarning

    found = recorded_split(meta, digest, ("train", "validation"))
    if found is None:
        return None
    role = "training" if found[0] == "train" else "validation"
    use = "trained on" if role == "training" else "chose its epoch and calibration on"
    warnings.warn(f"{data_path}: is the {role} split of {name} (same sha256), which it {use}: "
                  "these scores are in-sample, not held-out", LeakageWarning, stacklevel=3)  # fmt: skip
    return role


def compare(
    models: Sequence[str | Path | Predictor],
    data_path: str | Path,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report_dir: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    n_bins: int = DEFAULT_BINS,
    names: Sequence[str] | None = None,
    group_column: str | None = "source",
    **options: Any,
) -> dict[str, Any]:
    """Score several models on the same quotes and test every pair.

    Every model is scored as in :func:`evaluate` (with the same bootstrap resamples, because
    the seed and the quotes are the same). A majority-class reference row is added (see
    :func:`majority_reference`). Each pair (A, B) gets a paired bootstrap of macro-F1(A) -
    macro-F1(B) (difference, 95% interval, two-sided p-value) and McNemar's test on accuracy.
    When the file names each quote's article (``group_column``) the intervals and the paired
    bootstrap resample whole articles; the quote-level paired bootstrap is kept beside it.

    Args:
        models: two or more model directories or loaded predictors, with the same label set.
        data_path: the labelled file all are scored on.
        n_resamples, seed: bootstrap settings.
        batch_size: texts per forward pass.
        report_dir: if given, write the comparison report there (Markdown + PNGs per model).
        text_column, label_column: column names in the file.
        n_bins: calibration bins.
        names: display names of the models (default: their directory names, made unique).
        group_column: the column naming each quote's article (cluster bootstrap when present).
        **options: passed to :func:`stance.inference.predictor.load`.

    Returns:
        ``{"data", "data_sha256", "n", "labels", "models": [{name, model, kind, <metrics>,
        precision, misclassified, predict_seconds}], "majority": {label, source, from_training_data,
        <metrics>}, "pairs": [{"a", "b", "macro_f1": {difference, ci, p_value, unit, ...},
        "macro_f1_quotes", "mcnemar": {...}}], "settings"}``.

    Raises:
        ModelError: fewer than two models, or their label sets differ.
        DataError: the file is unreadable or has labels a model does not know.
    """
    if len(models) < 2:
        raise ModelError(f"compare needs at least two models, found {len(models)}")
    predictors = [_as_predictor(m, **options) for m in models]
    labels = list(predictors[0].labels)
    for p in predictors[1:]:
        if sorted(p.labels) != sorted(labels):
            raise ModelError(
                f"models with different label sets cannot be compared: {predictors[0].model_dir} has "
                f"{', '.join(labels)}; {p.model_dir} has {', '.join(p.labels)}"
            )
    dirs = [str(p.model_dir) if p.model_dir is not None else None for p in predictors]
    if names is None:
        names = display_names(dirs, [p.kind for p in predictors])
    elif len(names) != len(predictors) or len(set(names)) != len(names):
        raise ValueError(f"names: expected {len(predictors)} distinct names, found {list(names)}")
    data = load_eval_data(data_path, labels, text_column, label_column, model_name="the models")
    preds = [
        predict_data(p, data, name=n, batch_size=batch_size) for p, n in zip(predictors, names)
    ]
    groups = groups_of(data, group_column)
    majority = majority_reference(preds, data, labels)
    result = {
        "data": str(data_path),
        "data_sha256": file_sha256(data_path),
        **compare_predictions(data, preds, labels, majority, groups, n_resamples, seed, n_bins),
    }
    result["settings"] = _settings(n_resamples, seed, n_bins, group_column if groups else None)
    if report_dir is not None:
        from stance.evaluation.report import write_comparison_report

        result["report"] = {
            k: str(v) for k, v in write_comparison_report(result, report_dir).items()
        }
    return result


def compare_predictions(
    data: LabelledData,
    preds: Sequence[ModelPredictions],
    labels: Sequence[str],
    majority: dict[str, Any],
    groups: Sequence[Any] | None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_bins: int = DEFAULT_BINS,
    majority_predicted: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score models already run on the same quotes, next to a reference, and test every pair.

    The step shared by :func:`compare` (models run now) and :func:`compare_cv` (out-of-fold
    predictions read from ``stance cv`` results).

    Args:
        majority_predicted: the reference's prediction per quote (default: ``majority["label"]``
            for every quote; cross-validation uses each fold's own training majority).

    Returns:
        ``{"n", "labels", "models", "majority", "pairs"}`` (see :func:`compare`).
    """
    labels = list(labels)
    rows = [{
        "name": p.name, "model": p.model_dir, "kind": p.kind, "precision": p.precision,
        **score(data, p, labels, n_resamples, seed, n_bins, groups),
        "misclassified": _misclassified(data, p), "predict_seconds": round(p.seconds, 3),
    } for p in preds]  # fmt: skip
    reference = majority_predicted or [majority["label"]] * len(data)
    summary = classification_summary(data.labels, reference, labels, n_resamples=n_resamples,
                                     seed=seed, groups=groups)  # fmt: skip
    summary.pop("ece"), summary.pop("reliability")  # a constant predictor has no confidence
    pairs = []
    for i in range(len(preds)):
        for j in range(i + 1, len(preds)):
            a, b = preds[i], preds[j]
            pairs.append({
                "a": a.name, "b": b.name,
                "macro_f1": paired_bootstrap(data.labels, a.predicted, b.predicted, labels,
                                             n_resamples=n_resamples, seed=seed, groups=groups),
                "macro_f1_quotes": paired_bootstrap(data.labels, a.predicted, b.predicted, labels,
                                                    n_resamples=n_resamples, seed=seed),
                "accuracy_a": rows[i]["accuracy"], "accuracy_b": rows[j]["accuracy"],
                "mcnemar": mcnemar(data.labels, a.predicted, b.predicted),
            })  # fmt: skip
    return {"n": len(data), "labels": labels, "models": rows, "majority": {**majority, **summary},
            "pairs": pairs}  # fmt: skip


# --- grouped cross-validation ---------------------------------------------------------------------


def _read_corpus(config: TrainConfig) -> tuple[list[dict[str, Any]], LabelledData]:
    """The corpus named by the config, checked (schema, labels, duplicates) and as LabelledData."""
    from stance.data.corpus import ensure_valid
    from stance.data.io import iter_records

    d = config.data
    ensure_valid(d.corpus, labels=d.labels, text_column=d.text_column, label_column=d.label_column)
    lines, records = zip(*iter_records(d.corpus))
    data = LabelledData(
        texts=[r[d.text_column] for r in records],
        labels=[str(r[d.label_column]).strip() for r in records],
        records=list(records),
        lines=list(lines),
        path=str(d.corpus),
    )
    return list(records), data


def cross_validate(
    config: TrainConfig | str | Path,
    folds: int | None = None,
    quiet: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report_dir: str | Path | None = None,
    n_bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """Leave-one-article-out cross-validation of a config's model over its corpus' seed quotes.

    Folds come from :func:`stance.data.corpus.article_folds`: each holds out one article's seed
    quotes, trains on the rest (authored statements and the other articles' seeds) with a
    fixed set of authored statements kept for validation (early stopping). Each fold's model
    is trained through the normal trainer (``data=PreparedData(...)``) into a temporary
    directory, scores its held-out article, and is deleted. The out-of-fold predictions of all
    folds are pooled and scored like a test set; the main intervals resample whole articles
    (the folds), the quote-level ones are kept beside them. Per-fold scores are listed too (a
    single article often lacks a label, so per-fold macro-F1 is noisy and pessimistic).

    Every out-of-fold prediction is kept (``predictions``), so two cv results on the same
    corpus can be compared quote by quote (:func:`compare_cv`, ``stance compare A.json B.json``).

    Args:
        config: a :class:`~stance.config.TrainConfig` or the path of a YAML config (either kind).
        folds: run only the first ``folds`` folds (articles in name order), for quick checks.
        quiet: if False, print one line per fold to stderr (and the trainer's own progress).
        n_resamples, seed: bootstrap settings (training uses the config's seed).
        batch_size: texts per forward pass when predicting.
        report_dir: if given, write ``report.md`` and PNGs there.
        n_bins: calibration bins.

    Returns:
        ``{"config", "kind", "corpus", "corpus_sha256", "labels", "n_folds", "n_articles",
        <pooled metrics>, "majority", "folds": [{article, n_train, n_validation, n_test,
        accuracy, macro_f1, label_counts, train_seconds}], "predictions": [{id, line, article,
        fold, gold, predicted, confidence, probabilities, raw_probabilities, majority}],
        "misclassified", "settings", "seconds"}``.

    Raises:
        ConfigError, DataError: bad config or corpus; DataError also when the corpus has fewer
            than two articles.

    Example:
        >>> cv = cross_validate("configs/baseline.yaml")             # doctest: +SKIP
        >>> cv["macro_f1"], cv["macro_f1_ci"], len(cv["predictions"])  # doctest: +SKIP
    """
    if not isinstance(config, TrainConfig):
        config = load_config(config)
    if report_dir is not None:  # before the folds: hours of training must not end in "is a file"
        from stance.models.artifacts import check_directory_target

        check_directory_target(report_dir)
    started = time.perf_counter()
    records, data = _read_corpus(config)
    all_folds = _all_folds(config, records, data.lines)
    chosen = all_folds[:folds] if folds else all_folds
    hashes = {str(config.data.corpus): file_sha256(config.data.corpus)}
    fold_rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    cache = _stage_one_cache(config)
    with tempfile.TemporaryDirectory(prefix="stance-cv-") as tmp:
        for number, fold in enumerate(chosen, start=1):
            row, fold_predictions = _run_fold(config, data, hashes, fold, number, Path(tmp),
                                              batch_size, quiet, cache)  # fmt: skip
            fold_rows.append(row)
            predictions.extend(fold_predictions)
            _log_fold(quiet, number, len(chosen), row)
    result = _cv_result(config, data, hashes, len(chosen), len(all_folds), fold_rows,
                        predictions, n_resamples, seed, n_bins)  # fmt: skip
    result["seconds"] = round(time.perf_counter() - started, 3)
    if report_dir is not None:
        from stance.evaluation.report import write_cv_report

        result["report"] = {k: str(v) for k, v in write_cv_report(result, report_dir).items()}
    return result


def _all_folds(
    config: TrainConfig, records: list[dict[str, Any]], lines: list[int]
) -> list[tuple[str, list[int], list[int], list[int]]]:
    """CV step 1: the leave-one-article-out folds of the corpus (at least two articles)."""
    from stance.data.corpus import article_folds

    d = config.data
    all_folds = article_folds(records, group_column=d.group_column, path=d.corpus, lines=lines)
    if len(all_folds) < 2:
        raise DataError(
            config.data.corpus,
            f"leave-one-article-out needs at least two articles, found {len(all_folds)} "
            f"(column {config.data.group_column!r})",
        )
    return all_folds


def _cv_result(config: TrainConfig, data: LabelledData, hashes: dict[str, str], n_folds: int,
               n_articles: int, fold_rows: list[dict[str, Any]],
               predictions: list[dict[str, Any]], n_resamples: int, seed: int,
               n_bins: int) -> dict[str, Any]:  # fmt: skip
    """CV step 3: pool the out-of-fold predictions and assemble the result (documented order)."""
    result = _pooled_cv_result(config, data, predictions, n_resamples, seed, n_bins)
    result = {
        "config": config.source, "kind": config.kind, "corpus": str(config.data.corpus),
        "corpus_sha256": hashes[str(config.data.corpus)], "labels": list(config.data.labels),
        "n_folds": n_folds, "n_articles": n_articles, **result, "folds": fold_rows,
        "predictions": predictions,
    }  # fmt: skip
    result["misclassified"] = result.pop("misclassified")  # keep the documented key order
    result["settings"] = {
        **_settings(n_resamples, seed, n_bins, "article (the held-out fold)"),
        "train_seed": config.seed,
    }
    return result


def _stage_one_cache(config: TrainConfig) -> Any:
    """A cache for the first stage of an adapted transformer, or None. The folds differ only in
    their real quotes, so they share stage one (:mod:`stance.models.adaptation`)."""
    t = config.transformer
    if config.kind != "transformer" or t is None or not t.adaptation_epochs or t.ensemble_seeds:
        return None
    from stance.models.adaptation import StageOneCache

    return StageOneCache()


def _run_fold(config: TrainConfig, data: LabelledData, hashes: dict[str, str], fold: tuple,
              number: int, tmp: Path, batch_size: int, quiet: bool,
              cache: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """Train one fold's model, predict its held-out article; the fold row and its predictions."""
    from stance.models.training import PreparedData

    article, train_idx, val_idx, test_idx = fold
    labels = list(config.data.labels)
    fold_config = copy.deepcopy(config)
    fold_config.output_dir = str(tmp / f"fold{number:03d}")
    prepared = PreparedData(
        train=data.subset(train_idx),
        validation=data.subset(val_idx) if val_idx else None,
        test=data.subset(test_idx),
        hashes=hashes,
    )
    missing = sorted(set(labels) - set(prepared.train.labels))
    if missing:
        raise DataError(
            config.data.corpus,
            f"fold {article!r}: no training examples of label(s) {', '.join(missing)} once the "
            "article is held out; every label needs examples outside each article",
        )
    fold_started = time.perf_counter()
    trained = _train_fold(fold_config, prepared, quiet, cache)
    train_seconds = time.perf_counter() - fold_started
    # The fold predicts where it trained (transformer.device, e.g. set by `stance cv --device`).
    predictor = load_uncached(Path(trained.model_dir), getattr(config.transformer, "device", None))
    preds = predict_data(predictor, prepared.test, name=article, batch_size=batch_size)
    del predictor
    # Each fold is a whole model (an ensemble config's, several): keep one on disk at a time.
    for child in tmp.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    gold = prepared.test.labels
    # The no-skill reference of this fold: its own training data's majority label.
    majority = _majority(Counter(prepared.train.labels), labels)
    fold_summary = classification_report_dict(gold, preds.predicted, labels)
    row = {
        "article": article, "n_train": len(train_idx), "n_validation": len(val_idx),
        "n_test": len(test_idx), "accuracy": fold_summary["accuracy"],
        "macro_f1": fold_summary["macro_f1"],
        "label_counts": {label: Counter(gold).get(label, 0) for label in labels},
        "train_seconds": round(train_seconds, 3),
    }  # fmt: skip
    return row, _fold_predictions(prepared.test, test_idx, preds, article, number, majority)


def _fold_predictions(test: LabelledData, test_idx: Sequence[int], preds: ModelPredictions,
                      article: str, number: int, majority: str) -> list[dict[str, Any]]:  # fmt: skip
    """One JSON-ready entry per held-out quote: what was predicted, with every probability.

    ``raw_probabilities`` (before the fold model's calibration) are what an ensemble averages,
    so that averaged cv results (scripts/cv_results.py average) give the ensemble's labels."""
    probs = preds.probabilities
    raw = preds.raw_probabilities
    return [{
        "index": int(idx), "id": (test.records[i].get("id") if test.records else None),
        "line": test.lines[i] if test.lines else None, "article": article, "fold": number,
        "text": test.texts[i], "gold": test.labels[i], "predicted": preds.predicted[i],
        "confidence": float(preds.confidence[i]),
        "probabilities": {label: float(probs[i, j]) for j, label in enumerate(preds.labels)},
        "raw_probabilities": {label: float(raw[i, j]) for j, label in enumerate(preds.labels)},
        "majority": majority,
    } for i, idx in enumerate(test_idx)]  # fmt: skip


def _log_fold(quiet: bool, number: int, total: int, row: dict[str, Any]) -> None:
    if not quiet:
        print(
            f"fold {number}/{total} {row['article']}: n={row['n_test']} accuracy "
            f"{row['accuracy']:.3f} macro-F1 {row['macro_f1']:.3f} ({row['train_seconds']:.1f}s)",
            file=sys.stderr,
            flush=True,
        )


def _pooled_cv_result(config: TrainConfig, data: LabelledData, predictions: list[dict[str, Any]],
                      n_resamples: int, seed: int, n_bins: int) -> dict[str, Any]:  # fmt: skip
    """Pooled out-of-fold scores (cluster bootstrap over the folds), majority reference, mistakes."""
    labels = list(config.data.labels)
    pooled = data.subset([p["index"] for p in predictions])
    preds = _predictions_from_entries(config.kind, config.kind, labels, predictions)
    groups = [p["article"] for p in predictions]
    compared = compare_predictions(
        pooled, [preds], labels, _cv_majority(predictions, labels), groups, n_resamples, seed,
        n_bins, majority_predicted=[p["majority"] for p in predictions],
    )  # fmt: skip
    model = compared["models"][0]
    for key in ("name", "model", "kind", "predict_seconds"):
        model.pop(key)
    return {**model, "majority": compared["majority"]}


def _predictions_from_entries(name: str, kind: str, labels: Sequence[str],
                              entries: Sequence[dict[str, Any]]) -> ModelPredictions:  # fmt: skip
    return ModelPredictions(
        name=name, model_dir=None, kind=kind, labels=tuple(labels),
        predicted=[e["predicted"] for e in entries],
        confidence=np.asarray([e["confidence"] for e in entries], dtype=np.float64),
        seconds=0.0, metadata={},
    )  # fmt: skip


def _cv_majority(predictions: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    counts = Counter(p["majority"] for p in predictions)
    return {
        "label": ", ".join(sorted(counts, key=list(labels).index)),
        "source": "each fold predicts the most frequent label of its own training data: "
        + ", ".join(f"{label} for {count} held-out quotes" for label, count in counts.items()),
        "from_training_data": True,
    }


def _read_cv_result(path: str | Path) -> dict[str, Any]:
    """A ``stance cv --json`` result with its full out-of-fold prediction list, or a DataError."""
    import json

    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "file not found; pass the output of `stance cv --json`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            path, f"not a JSON file ({exc}); pass the output of `stance cv --json`"
        ) from None
    if not isinstance(result, dict) or "folds" not in result or "labels" not in result:
        raise DataError(path, "not a cross-validation result (no 'folds'); pass the output of "
                              "`stance cv --json`")  # fmt: skip
    entries = result.get("predictions")
    if not isinstance(entries, list) or len(entries) != result.get("n"):
        raise DataError(path, f"holds {len(entries) if isinstance(entries, list) else 'no'} of its "
                              f"{result.get('n')} out-of-fold predictions (an older `stance cv` kept only "
                              "the misclassified ones); rerun `stance cv --json` to get them all")  # fmt: skip
    ids = [e.get("id") for e in entries]
    if None in ids or len(set(ids)) != len(ids):
        raise DataError(path, "out-of-fold predictions need a unique quote 'id' each to be paired; "
                              "give every corpus record an id and rerun `stance cv`")  # fmt: skip
    return result


def _check_same_quotes(first: dict[str, Any], other: dict[str, Any], path: str | Path) -> None:
    """Refuse to pair results whose quotes (ids, gold labels) or label sets differ."""
    if list(other["labels"]) != list(first["labels"]):
        raise DataError(path, f"labels {', '.join(other['labels'])} differ from the first result's "
                              f"({', '.join(first['labels'])}); compare results of one label set")  # fmt: skip
    gold = {e["id"]: e["gold"] for e in first["predictions"]}
    other_gold = {e["id"]: e["gold"] for e in other["predictions"]}
    only_first, only_other = (
        sorted(set(gold) - set(other_gold)),
        sorted(set(other_gold) - set(gold)),
    )
    if only_first or only_other:
        example = (only_first or only_other)[0]
        raise DataError(path, f"quote ids differ from the first result's ({len(only_first)} only there, "
                              f"{len(only_other)} only here, e.g. {example!r}); a paired comparison needs "
                              "both cv runs on the same corpus and folds")  # fmt: skip
    changed = [i for i in gold if gold[i] != other_gold[i]]
    if changed:
        raise DataError(path, f"{len(changed)} quote(s) have another gold label than in the first result "
                              f"(e.g. {changed[0]!r}); rerun both on the same corpus")  # fmt: skip


def compare_cv(
    results: Sequence[str | Path],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    n_bins: int = DEFAULT_BINS,
    names: Sequence[str] | None = None,
    report_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Compare two or more ``stance cv --json`` results on their shared out-of-fold quotes.

    Each result must hold every out-of-fold prediction (``predictions``, written by
    :func:`cross_validate`); the quotes are paired by id and must be the same in all. The
    scores, intervals (cluster bootstrap over the held-out articles, quote-level beside it)
    and paired tests are those of :func:`compare`.

    Returns:
        The :func:`compare` dict, with ``data`` naming the cv files and ``cv_results`` their
        configs and kinds.

    Raises:
        DataError: a file is not a cv result, lacks the full prediction list (rerun ``stance
            cv``), or its quote ids, gold labels or labels differ from the first file's.
    """
    if len(results) < 2:
        raise ModelError(f"compare needs at least two cv results, found {len(results)}")
    loaded = [_read_cv_result(p) for p in results]
    for path, other in zip(results[1:], loaded[1:]):
        _check_same_quotes(loaded[0], other, path)
    if names is None:
        names = display_names([str(p) for p in results], [r["kind"] for r in loaded])
    order = [e["id"] for e in loaded[0]["predictions"]]
    labels = list(loaded[0]["labels"])
    preds = []
    for name, result in zip(names, loaded):
        by_id = {e["id"]: e for e in result["predictions"]}
        preds.append(
            _predictions_from_entries(name, result["kind"], labels, [by_id[i] for i in order])
        )
    entries = loaded[0]["predictions"]
    data = LabelledData(
        texts=[e.get("text") or "" for e in entries], labels=[e["gold"] for e in entries],
        records=[{"id": e["id"], "source": e["article"]} for e in entries],
        lines=[e.get("line") or i + 1 for i, e in enumerate(entries)], path=str(results[0]),
    )  # fmt: skip
    groups = [e["article"] for e in entries]
    result = {
        "data": " vs ".join(str(p) for p in results), "data_sha256": loaded[0].get("corpus_sha256"),
        "cv_results": [{"file": str(p), "config": r.get("config"), "kind": r["kind"],
                        "corpus": r.get("corpus")} for p, r in zip(results, loaded)],
        **compare_predictions(data, preds, labels, _cv_majority(entries, labels), groups,
                              n_resamples, seed, n_bins, [e["majority"] for e in entries]),
        "settings": _settings(n_resamples, seed, n_bins, "article (the held-out fold)"),
    }  # fmt: skip
    if report_dir is not None:
        from stance.evaluation.report import write_comparison_report

        result["report"] = {
            k: str(v) for k, v in write_comparison_report(result, report_dir).items()
        }
    return result


def _train_fold(config: TrainConfig, data: Any, quiet: bool, stage_one_cache: Any = None) -> Any:
    """Train one fold through the kind's trainer (the contract of :mod:`stance.models.training`);
    a transformer with adaptation also gets the folds' shared stage-one cache."""
    from stance.models.distill import refuse_in_folds
    from stance.models.training import trainer_for

    refuse_in_folds(config)
    extra = {"stage_one_cache": stage_one_cache} if stage_one_cache is not None else {}
    return trainer_for(config)(config, quiet=quiet, data=data, **extra)
