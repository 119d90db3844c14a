"""Training entry point shared by both model kinds.

:func:`train` reads a config, loads and checks the data (:func:`prepare_data`: labels,
leakage between test and training data), and hands over to the trainer of the config's kind
(``stance.models.baseline.train_baseline`` or ``stance.models.transformer.train_transformer``). Both return
a :class:`TrainResult`.

Example:
    >>> result = train("configs/baseline.yaml")          # doctest: +SKIP
    >>> result.model_dir, result.metrics["validation"]["macro_f1"]   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import importlib
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stance.config import TrainConfig, resolve_config
from stance.constants import METADATA_FILE
from stance.data.io import LabelledData, load_labelled
from stance.errors import ConfigError, DataError
from stance.models.artifacts import file_sha256

__all__ = [
    "TrainResult",
    "PreparedData",
    "train",
    "prepare_data",
    "normalise_text",
    "check_leakage",
    "run_record",
    "fit_calibration",
    "calibration_files",
    "LeakageWarning",
    "check_output_dir",
    "trainer_for",
]

_TRAINERS = {
    "baseline": "stance.models.baseline:train_baseline",
    "transformer": "stance.models.transformer:train_transformer",
}


class LeakageWarning(UserWarning):
    """A test, validation or extra evaluation text also occurs in the training data, or a test
    text in the validation data (config ``data.leakage: warn``)."""


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model_dir: where the model was saved.
        kind: ``"baseline"``, ``"transformer"`` or ``"ensemble"``.
        metrics: ``{"train": {...}, "validation": {...}}`` (accuracy, macro_f1, ...).
        train_seconds: wall-clock training time.
        metadata: the ``metadata.json`` written next to the model.
    """

    model_dir: Path
    kind: str
    metrics: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedData:
    """The checked splits of a config, and the SHA-256 of each file read."""

    train: LabelledData
    validation: LabelledData | None
    test: LabelledData | None
    hashes: dict[str, str]

    def label_counts(self, labels: list[str] | tuple[str, ...]) -> dict[str, dict[str, int]]:
        """``{split: {label: count}}`` for the splits present (recorded in model metadata)."""
        splits = (("train", self.train), ("validation", self.validation), ("test", self.test))
        return {
            name: {label: part.labels.count(label) for label in labels}
            for name, part in splits
            if part is not None
        }


def run_record(
    config: TrainConfig,
    data: PreparedData,
    labels: list[str] | tuple[str, ...],
    train_seconds: float,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The metadata fields every training run records, whatever the model kind.

    Everything needed to rerun it and to check it was rerun on the same data: when, the seed,
    the full config, the SHA-256 and label counts of each data file, the time and the metrics.
    The trainers add their kind's own fields and pass the lot to ``write_metadata``.
    """
    return {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "seed": config.seed,
        "config": config.to_dict(),
        "data_hashes": dict(data.hashes),
        "data_counts": data.label_counts(labels),
        "train_seconds": round(train_seconds, 3),
        "metrics": metrics,
    }


# Calibrator per model kind (stance.evaluation.calibration): a temperature for the transformer
# (one parameter, never changes its labels); Platt scaling for the baseline.
# An ensemble's average of probabilities is calibrated like a transformer's: one temperature.
CALIBRATION_METHODS = {"baseline": "platt", "transformer": "temperature", "ensemble": "temperature"}


def fit_calibration(
    model_dir: str | Path,
    kind: str,
    probs: Any,
    validation: LabelledData | None,
    labels: list[str] | tuple[str, ...],
) -> dict[str, Any] | None:
    """Fit the calibrator, review threshold and held-out error rates on the validation split's
    raw probabilities ``probs`` and write ``calibration.json`` into ``model_dir``.

    Returns the summary for ``metadata.json`` (``calibration``), or None without a validation
    split (the model's scores then stay raw and every prediction needs review).
    """
    if validation is None or len(validation) == 0 or probs is None:
        return None
    from stance.evaluation.calibration import write_calibration

    return write_calibration(model_dir, probs, validation.labels, labels, CALIBRATION_METHODS[kind])


def calibration_files(summary: dict[str, Any] | None) -> list[str]:
    """The file names :func:`fit_calibration` wrote (checksummed with the weights)."""
    return [summary["file"]] if summary else []


def normalise_text(text: str) -> str:
    """Lower-case and collapse whitespace: the form used to detect leaked duplicates."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load the train/validation/test files named in ``config.data`` and check them.

    Raises:
        DataError: a file is missing or malformed, or (with ``data.leakage: error``) a test or
            validation text also occurs in the training data, or a test text in the validation
            data, after normalising case and whitespace.
    """
    d = config.data

    def read(path: str | None) -> LabelledData | None:
        if path is None:
            return None
        return load_labelled(
            path, labels=d.labels, text_column=d.text_column, label_column=d.label_column
        )

    train, validation, test = read(d.train), read(d.validation), read(d.test)
    hashes = {p: file_sha256(p) for p in (d.train, d.validation, d.test) if p is not None}
    missing = sorted(set(d.labels) - set(train.labels))
    if missing:
        raise DataError(
            d.train,
            f"no training examples of label(s) {', '.join(missing)}; every label needs examples",
        )
    # Validation picks the epoch, early stopping, calibration and the review threshold, so a
    # test text in it shapes the model as surely as one in training.
    for name, split, other_name, other in (
        ("test", test, "training", train),
        ("validation", validation, "training", train),
        ("test", test, "validation", validation),
    ):
        if split is not None and other is not None:
            check_leakage(split, name, other, other_name, d.leakage)
    return PreparedData(train=train, validation=validation, test=test, hashes=hashes)


def check_leakage(
    split: LabelledData, name: str, other: LabelledData, other_name: str, policy: str
) -> None:
    """Refuse (``policy`` "error", a :class:`DataError`) or warn about (``policy`` "warn", a
    :class:`LeakageWarning`) the texts of ``split`` also found in ``other`` after
    :func:`normalise_text`; ``name`` and ``other_name`` say what the two are in the message.

    A quote scored by a model that trained or validated on it makes that score in-sample.
    """
    seen = {normalise_text(t) for t in other.texts}
    leaked = [
        (line, text) for line, text in zip(split.lines, split.texts) if normalise_text(text) in seen
    ]
    if not leaked:
        return
    line, text = leaked[0]
    message = (
        f"{len(leaked)} {name} text(s) also occur in the {other_name} data {other.path} "
        f"(first: {text[:60]!r}); remove them from one side"
    )
    if policy == "error":
        raise DataError(split.path, message + " or set data.leakage: warn", line=line)
    # stacklevel 3: the warning points at prepare_data's caller, as before this helper existed.
    warnings.warn(f"{split.path}:{line}: {message}", LeakageWarning, stacklevel=3)


def check_output_dir(path: Path) -> None:
    """Refuse an output path holding anything but a stance model, before any training.

    Saving swaps the new model directory in whole and deletes what was there, so a mistyped
    ``--output-dir`` (``.``, ``data``, a folder of notes) would silently destroy its contents.
    """
    # The nearest existing folder above it must be a folder (else saving fails after training).
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(
            f"{path}: cannot save a model here: {existing} is a file, not a directory"
        )
    _refuse_nested_models(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(
            f"{path}: output directory is a file; choose another output directory "
            "(--output-dir) or remove the file"
        )
    if any(path.iterdir()) and not (path / METADATA_FILE).is_file():
        raise ConfigError(
            f"{path}: output directory holds other files and is not a stance model (no "
            f"{METADATA_FILE}); saving a model there would delete them. Choose another output "
            "directory (--output-dir) or empty this one"
        )


def _refuse_nested_models(path: Path) -> None:
    """A model saved inside another, or one that holds another, would be deleted with it: the
    save swaps the whole folder."""
    outer = next((p for p in path.parents if (p / METADATA_FILE).is_file()), None)
    if outer is not None:
        raise ConfigError(
            f"{path}: is inside the model directory {outer}, which a retraining of that model "
            "would delete; choose an output directory outside it"
        )
    if not path.is_dir():
        return
    inner = next((p.parent for p in path.glob(f"*/**/{METADATA_FILE}")
                  if "members" not in p.relative_to(path).parts[:1]), None)  # fmt: skip
    if inner is not None:
        raise ConfigError(
            f"{path}: holds another model directory ({inner}), which saving here would delete; "
            "move it out first or choose another output directory"
        )


def train(
    config: TrainConfig | str | Path,
    output_dir: str | Path | None = None,
    quiet: bool = True,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the model a config describes and save it (atomically) to its output directory.

    Args:
        config: a :class:`TrainConfig` or the path of a YAML config.
        output_dir: overrides ``config.output_dir``.
        quiet: no progress bars or per-epoch lines on the terminal.
        overrides: dotted config keys to set, e.g. ``{"seed": 3}`` (on a path or a
            :class:`TrainConfig`; the object passed in is not changed).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError, DataError: bad config or data (the message names the file), or an output
            directory that holds something other than a stance model (it is never replaced).
    """
    config = resolve_config(config, overrides)
    if output_dir is not None:  # on a copy: the caller's config keeps its own output_dir
        config = replace(config, output_dir=str(output_dir))
    check_output_dir(Path(config.output_dir))
    return trainer_for(config)(config, quiet=quiet)


def trainer_for(config: TrainConfig) -> Any:
    """The function that trains ``config``: ``(config, quiet=..., data=None) -> TrainResult``.

    A transformer config with ``transformer.ensemble_seeds`` trains one model per seed and
    saves them as one ensemble (:func:`stance.models.ensemble.train_ensemble`).
    """
    target = _TRAINERS[config.kind]
    if config.kind == "transformer" and config.transformer and config.transformer.ensemble_seeds:
        target = "stance.models.ensemble:train_ensemble"
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
