"""Knowledge distillation: a small student transformer learns from a trained teacher's
probabilities as well as from the gold labels.

``transformer.distill_from`` names a trained stance model directory (the teacher, e.g. the
fine-tuned mpnet default). Before training, the teacher predicts the student's training texts;
its calibrated probabilities ride along with each training row, and
:class:`stance.models.hf_trainer.StanceTrainer` mixes the two losses::

    loss = (1 - w) * cross_entropy(gold) + w * cross_entropy(teacher probabilities)

with ``w = transformer.distill_weight``. The soft term teaches the student which wrong labels
are nearly right (a conditional "yes, if..." that is close to support), which gold labels alone
cannot say; it is how the fast model keeps most of the accurate model's quality.

The teacher must have been trained on the student's own training file (same SHA-256): a
teacher trained on other data may have seen the student's validation or test quotes, and its
probabilities would leak them. For the same reason, distillation is refused inside
cross-validation and learning curves, whose folds hold out quotes the teacher trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig
from stance.errors import ConfigError

__all__ = ["TEACHER_KEY", "check_teacher", "teacher_probabilities", "refuse_in_folds"]

# The field of a training row that carries the teacher's probabilities to the loss.
TEACHER_KEY = "teacher_probs"


def check_teacher(config: TrainConfig, train_sha256: str | None) -> None:
    """Check the teacher from its metadata alone, before the student's backbone is loaded, so
    a missing or mismatched teacher fails at once instead of after minutes of set-up.

    Raises:
        ConfigError: no stance model metadata in ``transformer.distill_from``, other labels, or
            another training file than the student's.
    """
    from stance.errors import ModelError
    from stance.models.artifacts import read_metadata

    source = config.source or "config"
    teacher_dir = Path(config.transformer.distill_from)
    try:
        meta = read_metadata(teacher_dir)
    except ModelError as exc:
        raise ConfigError(
            f"{source}: key 'transformer.distill_from': expected a trained stance model "
            f"directory, found {str(teacher_dir)!r} ({exc}); train the teacher first"
        ) from None
    _check_labels(source, teacher_dir, meta.get("labels") or [], list(config.data.labels))
    _check_same_training_data(source, teacher_dir, meta, train_sha256)


def _check_labels(source: str, teacher_dir: Path, found: Sequence[str], labels: list[str]) -> None:
    if sorted(found) != sorted(labels):
        raise ConfigError(
            f"{source}: key 'transformer.distill_from': expected a teacher with labels "
            f"{labels}, found {list(found)} in {teacher_dir}; distil from a model "
            "trained on the same label set"
        )


def teacher_probabilities(
    config: TrainConfig, texts: Sequence[str], train_sha256: str | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The teacher's calibrated probabilities for ``texts`` (columns in ``config.data.labels``
    order), and the record of the teacher kept in the student's metadata.

    Raises:
        ConfigError: the teacher cannot be loaded, has other labels, or was trained on another
            training file than the student's.
    """
    from stance.errors import ModelError
    from stance.inference.predictor import load_uncached

    settings = config.transformer
    source = config.source or "config"
    teacher_dir = Path(settings.distill_from)
    try:
        teacher = load_uncached(teacher_dir, settings.device)
    except (ModelError, FileNotFoundError) as exc:
        raise ConfigError(
            f"{source}: key 'transformer.distill_from': expected a trained stance model "
            f"directory, found {str(teacher_dir)!r} ({exc}); train the teacher first"
        ) from None
    labels = list(config.data.labels)
    _check_labels(source, teacher_dir, list(teacher.labels), labels)
    _check_same_training_data(source, teacher_dir, teacher.metadata, train_sha256)
    order = [list(teacher.labels).index(label) for label in labels]
    # Calibrated, as predict() reports them: a temperature-scaled teacher's softness is
    # fitted on held-out data rather than left to the over-confidence of fine-tuning.
    probs = teacher.calibrate(np.asarray(teacher.predict_proba(list(texts))))[:, order]
    meta = teacher.metadata
    record = {
        "teacher": str(teacher_dir),
        "teacher_kind": meta.get("kind"),
        "teacher_backbone": (meta.get("backbone") or {}).get("name"),
        "teacher_checksums": meta.get("checksums"),
        "weight": settings.distill_weight,
        "soft_targets": "calibrated teacher probabilities on the training texts",
    }
    del teacher
    return probs, record


def _check_same_training_data(
    source: str, teacher_dir: Path, meta: dict[str, Any], train_sha256: str | None
) -> None:
    """Refuse a teacher that did not train on the student's training file."""
    teacher_train = (meta.get("config") or {}).get("data", {}).get("train")
    teacher_sha = (meta.get("data_hashes") or {}).get(teacher_train)
    if train_sha256 is None or teacher_sha != train_sha256:
        raise ConfigError(
            f"{source}: key 'transformer.distill_from': expected a teacher trained on this "
            f"config's training file (sha256 {str(train_sha256)[:12]}...), found one trained on "
            f"{teacher_train!r} (sha256 {str(teacher_sha)[:12]}...) in {teacher_dir}; a teacher "
            "trained on other data may have seen the validation or test quotes. Retrain the "
            "teacher on data.train first"
        )


def refuse_in_folds(config: TrainConfig) -> None:
    """Distillation inside cross-validation or a learning curve would leak: the teacher was
    trained on the quotes each fold holds out."""
    settings = config.transformer
    if config.kind == "transformer" and settings is not None and settings.distill_from:
        raise ConfigError(
            f"{config.source or 'config'}: key 'transformer.distill_from': a distilled config "
            "cannot be cross-validated (its teacher trained on every fold's held-out quotes); "
            "cross-validate the teacher's config, or drop distill_from"
        )
