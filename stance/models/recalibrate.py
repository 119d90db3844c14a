"""Refit a trained model's calibration on held-out labelled quotes, without retraining.

Training fits the calibrator on the validation split (authored statements). A researcher who
labels some of their own quotes, or who wants probabilities calibrated for real news quotes,
refits it here: the model's raw scores on the labelled file are used to fit a new temperature
(transformer) or Platt scaling (baseline), the review threshold and the held-out error rates
used by ``stance prevalence``. The weights are not touched.

The model directory is rewritten atomically: its files are hard-linked into a temporary copy,
``calibration.json`` and ``metadata.json`` are replaced there, and the copy is swapped into
place, so an interrupted run leaves the previous model intact.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from stance.constants import CALIBRATION_FILE, METADATA_FILE
from stance.errors import ModelError
from stance.models.training import CALIBRATION_METHODS

__all__ = ["recalibrate"]


def _raw_probabilities(
    model_dir: Path, texts: list[str], labels: list[str], device: str | None
) -> np.ndarray:
    from stance.inference.predictor import load_uncached

    predictor = load_uncached(model_dir, device=device)
    preds = predictor.predict(texts)
    return np.array([[(p.raw_scores or p.scores)[lb] for lb in labels] for p in preds])


def _data_owners(model_dir: Path, meta: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The model and, for an ensemble, each member: whatever recorded the data it trained on."""
    from stance.models.artifacts import read_metadata
    from stance.models.ensemble import member_entries

    owners = [(str(model_dir), meta)]
    if meta["kind"] == "ensemble":
        for member in member_entries(model_dir, meta):  # checked: under members/, checksummed
            owners.append((f"member {member['name']}", read_metadata(model_dir / member["dir"])))
    return owners


def recalibrate(
    model_dir: str | Path,
    data: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    device: str | None = None,
) -> dict[str, Any]:
    """Refit the calibration of ``model_dir`` on the labelled file ``data``.

    Returns:
        The new calibration summary (as recorded in ``metadata.json``), with ``ece_raw`` and
        ``ece_calibrated`` measured on ``data``, plus ``review``: what the new threshold
        accepts on ``data`` itself (``coverage``, ``n_accepted``, ``precision``, ``n``; the
        record's ``review`` of :func:`stance.evaluation.calibration.fit_held_out`).

    Raises:
        ModelError: the model is damaged or of an unknown kind; DataError for a bad file.
    """
    from stance.data.io import load_labelled
    from stance.evaluation.calibration import write_calibration
    from stance.models.artifacts import (
        atomic_directory,
        file_sha256,
        link_tree,
        read_metadata,
        refuse_own_data,
        verify_checksums,
    )

    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    verify_checksums(model_dir, meta)
    kind, labels = meta["kind"], list(meta["labels"])
    if kind not in CALIBRATION_METHODS:
        raise ModelError(
            f"{model_dir}: cannot recalibrate a model of kind {kind!r}; expected one of {', '.join(CALIBRATION_METHODS)}"
        )
    held = load_labelled(data, labels=labels, text_column=text_column, label_column=label_column)
    for owner, owner_meta in _data_owners(model_dir, meta):
        refuse_own_data(data, owner_meta, owner, "recalibrate on")
    probs = _raw_probabilities(model_dir, list(held.texts), labels, device)
    with atomic_directory(model_dir) as tmp:
        link_tree(model_dir, tmp, skip=(CALIBRATION_FILE, METADATA_FILE))
        summary = write_calibration(
            tmp, probs, list(held.labels), labels, CALIBRATION_METHODS[kind]
        )
        record = json.loads((tmp / CALIBRATION_FILE).read_text(encoding="utf-8"))
        record["fitted_on"] = summary["fitted_on"] = str(data)
        (tmp / CALIBRATION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        meta["calibration"] = summary
        meta["checksums"] = {
            **meta["checksums"],
            CALIBRATION_FILE: file_sha256(tmp / CALIBRATION_FILE),
        }
        meta["recalibrated"] = {
            "data": str(data), "data_sha256": file_sha256(data), "n": len(held.texts),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {**summary, "review": record["review"]}
