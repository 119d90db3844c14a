"""Calibrated probabilities, a review flag, and the held-out error rates, fitted at training time.

A model's softmax output is not a probability one can publish: the fine-tuned transformer says
0.9 and is right about half the time on real quotes. This module fits, on *held-out*
predictions (the validation split at training time; never the test split), three things that
are stored in the model directory as ``calibration.json`` (checksummed in ``metadata.json``):

- a **calibrator** mapping raw probabilities to calibrated ones:
  ``temperature`` (one number T; ``softmax(log p / T)``, which equals ``softmax(logits / T)``
  because log-softmax only shifts the logits; never changes the top label) for the
  transformer, and ``platt`` (a multinomial logistic regression on the log-probabilities,
  ``softmax(W log p + b)``, ridge-penalised toward the identity so that few examples cannot
  pull it far from the model) for the baseline. A label missing from the held-out data leaves
  ``platt`` unidentifiable, so it falls back to ``temperature`` and says so;
- a **review threshold**: the lowest calibrated confidence at which the accepted held-out
  predictions (confidence >= threshold) reach the target precision (default 0.90). Predictions
  below it carry ``needs_review = True``. If no threshold reaches the target, every prediction
  needs review (``reached: false``);
- the held-out **confusion matrix** of the calibrated labels: the error rates that
  :mod:`stance.evaluation.prevalence` corrects label counts with.

Applying a calibrator needs only numpy (:meth:`Calibrator.apply`); fitting needs scipy.

Example:
    >>> import numpy as np
    >>> cal = Calibrator("temperature", temperature=2.0)
    >>> cal.apply(np.array([[0.8, 0.2]])).round(3).tolist()     # sqrt(0.8) : sqrt(0.2)
    [[0.667, 0.333]]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stance.constants import CALIBRATION_FILE, DEFAULT_REVIEW_PRECISION
from stance.errors import ModelError
from stance.evaluation.metrics import (
    DEFAULT_BINS,
    confusion_matrix,
    encode_labels,
    expected_calibration_error,
    macro_f1,
    reliability_table,
)

__all__ = [
    "CALIBRATION_FORMAT",
    "METHODS",
    "Calibrator",
    "fit_temperature",
    "fit_platt",
    "fit_calibrator",
    "review_threshold",
    "coverage_curve",
    "calibration_summary",
    "fit_held_out",
    "write_calibration",
    "read_calibration",
]

CALIBRATION_FORMAT = 1
METHODS: tuple[str, ...] = ("temperature", "platt")
# log(0) is -inf; a probability this small already means "impossible" to every model here.
_FLOOR = 1e-12
# Temperatures searched (log-uniform bounds): far beyond any sensible value on either side.
_T_BOUNDS = (0.05, 20.0)
# Ridge strength of the Platt weights toward the identity (sklearn's C = 1 scale: the
# penalty is 0.5 * lam * ||W - I||^2 added to the summed negative log-likelihood).
_PLATT_RIDGE = 1.0
# Confidence thresholds listed in the coverage table (the model's own threshold is added).
COVERAGE_THRESHOLDS: tuple[float, ...] = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class Calibrator:
    """A fitted map from raw to calibrated probabilities.

    Attributes:
        method: ``"temperature"`` or ``"platt"``.
        temperature: T of ``softmax(log p / T)`` (``temperature`` method).
        weights, bias: W (k x k) and b (k) of ``softmax(W log p + b)`` (``platt`` method).
    """

    method: str
    temperature: float = 1.0
    weights: list[list[float]] = field(default_factory=list)
    bias: list[float] = field(default_factory=list)

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, same shape as ``probs`` (rows sum to 1)."""
        logp = _log(probs)
        if self.method == "temperature":
            return _softmax(logp / self.temperature)
        # Row by row, not a BLAS matmul: one text scores the same alone as in any batch.
        w = np.asarray(self.weights)
        return _softmax((logp[:, None, :] * w[None, :, :]).sum(axis=-1) + np.asarray(self.bias))

    def to_dict(self) -> dict[str, Any]:
        if self.method == "temperature":
            return {"method": self.method, "temperature": self.temperature}
        return {"method": self.method, "weights": self.weights, "bias": self.bias}

    @classmethod
    def from_dict(cls, d: dict[str, Any], k: int, where: str | Path) -> Calibrator:
        """Rebuild from :meth:`to_dict`; a damaged record is a one-line :class:`ModelError`."""
        try:
            method = d["method"]
            if method == "temperature":
                t = float(d["temperature"])
                if not np.isfinite(t) or t <= 0:
                    raise ValueError(f"temperature must be > 0, found {t}")
                return cls(method, temperature=t)
            if method == "platt":
                w, b = np.asarray(d["weights"], float), np.asarray(d["bias"], float)
                if w.shape != (k, k) or b.shape != (k,):
                    raise ValueError(
                        f"expected weights {k}x{k} and bias {k}, found {w.shape}, {b.shape}"
                    )
                return cls(method, weights=w.tolist(), bias=b.tolist())
            raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"{where}: damaged calibrator ({exc}); retrain or restore the model"
            ) from None


# --- fitting ------------------------------------------------------------------------------------


def _nll(probs: np.ndarray, gold: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(gold.size), gold], _FLOOR, 1.0))))


def fit_temperature(probs: np.ndarray, gold: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``gold`` (class indices)."""
    from scipy.optimize import minimize_scalar

    logp = _log(probs)

    def loss(log_t: float) -> float:
        return _nll(_softmax(logp / np.exp(log_t)), gold)

    lo, hi = np.log(_T_BOUNDS)
    best = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(best.x))


def fit_platt(probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of a multinomial logistic regression on the log-probabilities.

    Minimises the summed NLL plus ``0.5 * ridge * ||W - I||^2`` (L-BFGS, analytic gradient):
    the identity is "keep the model's probabilities", so with little data the map stays
    close to them.
    """
    from scipy.optimize import minimize

    x = _log(probs)
    n, k = x.shape
    y = np.eye(k)[gold]
    eye = np.eye(k)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: k * k].reshape(k, k), theta[k * k :]
        z = x @ w.T + b
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -np.sum(y * log_p) + 0.5 * _PLATT_RIDGE * np.sum((w - eye) ** 2)
        d = np.exp(log_p) - y
        grad_w = d.T @ x + _PLATT_RIDGE * (w - eye)
        return float(value), np.concatenate([grad_w.ravel(), d.sum(axis=0)])

    start = np.concatenate([eye.ravel(), np.zeros(k)])
    best = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return best.x[: k * k].reshape(k, k), best.x[k * k :]


def fit_calibrator(
    probs: np.ndarray, gold: Sequence[Any], labels: Sequence[str], method: str = "temperature"
) -> Calibrator:
    """Fit a :class:`Calibrator` on held-out raw probabilities and gold labels.

    ``platt`` needs every label in ``gold``; without one it falls back to ``temperature``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, found {method!r}")
    probs = np.asarray(probs, dtype=np.float64)
    y = encode_labels(list(gold), labels, "gold")
    if y.size == 0:
        raise ValueError("no held-out examples to calibrate on")
    if method == "platt" and len(set(y.tolist())) == len(labels):
        w, b = fit_platt(probs, y)
        return Calibrator("platt", weights=w.tolist(), bias=b.tolist())
    return Calibrator("temperature", temperature=fit_temperature(probs, y))


def review_threshold(
    confidence: Sequence[float], correct: Sequence[bool], target: float = DEFAULT_REVIEW_PRECISION
) -> dict[str, Any]:
    """The lowest confidence threshold whose accepted predictions reach ``target`` precision.

    Accepted = confidence >= threshold. Every distinct confidence is tried; the lowest one
    that reaches the target (the most predictions accepted) wins.

    Returns:
        ``{"threshold", "target_precision", "reached", "coverage", "precision", "n_accepted",
        "n"}``; when no threshold reaches the target, ``threshold`` is None, ``reached`` False
        and nothing is accepted.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    out = {"threshold": None, "target_precision": float(target), "reached": False,
           "coverage": 0.0, "precision": None, "n_accepted": 0, "n": int(conf.size)}  # fmt: skip
    for t in np.unique(conf):  # ascending: the first that reaches the target accepts the most
        accepted = conf >= t
        precision = float(ok[accepted].mean())
        if precision >= target:
            out.update(threshold=float(t), reached=True, coverage=float(accepted.mean()),
                       precision=precision, n_accepted=int(accepted.sum()))  # fmt: skip
            break
    return out


def coverage_curve(
    confidence: Sequence[float],
    correct: Sequence[bool],
    thresholds: Sequence[float] = COVERAGE_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Share of quotes accepted (confidence >= threshold) and the accuracy on them.

    Returns:
        One row per threshold, ascending: ``{"threshold", "accepted", "coverage", "accuracy"}``
        (``accuracy`` None when nothing is accepted).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    rows = []
    for t in sorted({float(t) for t in thresholds}):
        accepted = conf >= t
        n = int(accepted.sum())
        rows.append({"threshold": t, "accepted": n, "coverage": n / max(conf.size, 1),
                     "accuracy": float(ok[accepted].mean()) if n else None})  # fmt: skip
    return rows


def calibration_summary(
    gold: Sequence[Any],
    raw: np.ndarray,
    calibrated: np.ndarray,
    labels: Sequence[str],
    metadata: dict[str, Any] | None = None,
    n_bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """ECE before and after calibration, and the coverage-accuracy curve, on labelled data.

    Args:
        gold: gold labels.
        raw, calibrated: (n, labels) probabilities before and after the model's calibrator.
        labels: the label set, in column order.
        metadata: the model's ``metadata.json`` (its ``calibration`` summary gives the method
            and the review threshold).
        n_bins: calibration bins.

    Returns:
        ``{"calibration": {"method", "ece_raw", "ece", "accuracy_raw", "macro_f1_raw",
        "reliability_raw"}, "coverage": {"review_threshold", "target_precision",
        "needs_review", "accepted", "accuracy_accepted", "curve": [...]}}``; ``ece`` (after)
        uses the same bins as the summary's ``ece``.
    """
    y = encode_labels(list(gold), labels, "gold")
    raw_pred, pred = raw.argmax(axis=1), calibrated.argmax(axis=1)
    raw_conf, conf = raw.max(axis=1), calibrated.max(axis=1)
    summary = (metadata or {}).get("calibration") or {}
    threshold = summary.get("review_threshold")
    accepted = conf >= threshold if threshold is not None else np.zeros(y.size, dtype=bool)
    extra = () if threshold is None else (threshold,)
    return {
        "calibration": {
            "method": summary.get("method"),
            "ece_raw": expected_calibration_error(raw_conf, raw_pred == y, n_bins),
            "ece": expected_calibration_error(conf, pred == y, n_bins),
            "accuracy_raw": float(np.mean(raw_pred == y)),
            "macro_f1_raw": macro_f1(y, raw_pred, labels),
            "reliability_raw": reliability_table(raw_conf, raw_pred == y, n_bins),
        },
        "coverage": {
            "review_threshold": threshold,
            "target_precision": summary.get("target_precision"),
            "needs_review": int((~accepted).sum()),
            "accepted": int(accepted.sum()),
            "accuracy_accepted": float(np.mean((pred == y)[accepted])) if accepted.any() else None,
            "curve": coverage_curve(conf, pred == y, (*COVERAGE_THRESHOLDS, *extra)),
        },
    }


# --- the stored record -------------------------------------------------------------------------


def _scores(probs: np.ndarray, y: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    pred = probs.argmax(axis=1)
    return {
        "ece": expected_calibration_error(probs.max(axis=1), pred == y),
        "accuracy": float(np.mean(pred == y)),
        "macro_f1": macro_f1(y, pred, labels),
    }


def fit_held_out(
    probs: np.ndarray,
    gold: Sequence[Any],
    labels: Sequence[str],
    method: str = "temperature",
    target_precision: float = DEFAULT_REVIEW_PRECISION,
    fitted_on: str = "validation",
) -> dict[str, Any]:
    """Everything ``calibration.json`` holds, fitted on held-out raw probabilities.

    Returns:
        ``{"format", "labels", "fitted_on", "n", "calibrator", "review", "held_out": {"raw":
        {ece, accuracy, macro_f1}, "calibrated": {...}, "confusion": rows = gold, columns =
        calibrated prediction}}``. The held-out scores are in-sample for the calibrator and
        the threshold (both were fitted on these predictions).
    """
    probs = np.asarray(probs, dtype=np.float64)
    y = encode_labels(list(gold), labels, "gold")
    calibrator = fit_calibrator(probs, y, labels, method)
    calibrated = calibrator.apply(probs)
    pred = calibrated.argmax(axis=1)
    return {
        "format": CALIBRATION_FORMAT,
        "labels": list(labels),
        "fitted_on": fitted_on,
        "n": int(y.size),
        "calibrator": calibrator.to_dict(),
        "review": review_threshold(calibrated.max(axis=1), pred == y, target_precision),
        "held_out": {
            "raw": _scores(probs, y, labels),
            "calibrated": _scores(calibrated, y, labels),
            "confusion": confusion_matrix(y, pred, labels).tolist(),
        },
    }


def write_calibration(
    model_dir: str | Path,
    probs: np.ndarray,
    gold: Sequence[Any],
    labels: Sequence[str],
    method: str = "temperature",
    target_precision: float = DEFAULT_REVIEW_PRECISION,
) -> dict[str, Any]:
    """Fit on held-out predictions, write ``calibration.json`` into ``model_dir`` and return
    the summary recorded under ``calibration`` in ``metadata.json`` (the file itself goes in
    the metadata's checksums: pass :data:`~stance.constants.CALIBRATION_FILE` as a weight file).
    """
    record = fit_held_out(probs, gold, labels, method, target_precision)
    path = Path(model_dir) / CALIBRATION_FILE
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    held = record["held_out"]
    return {
        "file": CALIBRATION_FILE, "method": record["calibrator"]["method"],
        "fitted_on": record["fitted_on"], "n": record["n"],
        "review_threshold": record["review"]["threshold"],
        "target_precision": record["review"]["target_precision"],
        "ece_raw": held["raw"]["ece"], "ece_calibrated": held["calibrated"]["ece"],
    }  # fmt: skip


def read_calibration(model_dir: str | Path, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The ``calibration.json`` record of a model directory, or None for a model made before
    calibration existed (its scores stay raw). Checksums are checked by the model loaders.

    Raises:
        ModelError: metadata names a calibration file that is missing, unreadable or made for
            other labels.
    """
    summary = metadata.get("calibration")
    if not summary:
        return None
    path = Path(model_dir) / str(summary.get("file", CALIBRATION_FILE))
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{path}: cannot read the calibration ({exc}); retrain the model"
        ) from None
    if not isinstance(record, dict) or record.get("labels") != list(metadata["labels"]):
        raise ModelError(
            f"{path}: expected a calibration for labels {', '.join(metadata['labels'])}, found "
            f"{record.get('labels') if isinstance(record, dict) else record!r:.60}; retrain the model"
        )
    return record
