"""Training throw-away models on parts of the data, and out-of-fold probabilities.

Both review (label errors) and learning curves train a model on a subset held in memory; they
go through the kind's own trainer (``data=PreparedData(...)``), exactly as ``stance cv`` does,
so the baseline still chooses C by its grouped search and the transformer still early-stops.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig
from stance.constants import AUTHORED_SOURCE, PAIR_FIELD
from stance.data.io import LabelledData
from stance.errors import DataError

__all__ = ["review_groups", "train_and_predict", "out_of_fold_proba"]


def review_groups(records: Sequence[dict[str, Any]], group_column: str = "source") -> list[str]:
    """The cross-validation group of each record: whole articles stay together.

    Quotes of one article share a speaker, topic and wording, so they are one group. Authored
    statements were written one by one, so each is its own group, except the two members of a
    contrast pair (``pair_id``), which share their facts and so stay together. A record with no
    group value is its own group too.
    """
    groups = []
    for i, r in enumerate(records):
        value = r.get(group_column)
        if value is None or value == AUTHORED_SOURCE:
            pair = r.get(PAIR_FIELD)
            groups.append(f"pair#{pair}" if pair else f"single#{i}")
        else:
            groups.append(f"group#{value}")
    return groups


def train_and_predict(
    config: TrainConfig,
    train: LabelledData,
    validation: LabelledData | None,
    targets: Sequence[Sequence[str]],
    quiet: bool = True,
) -> list[np.ndarray]:
    """Train ``config``'s model on ``train`` in a temporary directory; return its probabilities
    (calibrated when the model has a calibrator, as ``predict`` reports them; columns in
    ``config.data.labels`` order) for each list of texts in ``targets``."""
    # The trainer entry points of stance cv: train from data in memory, load without caching.
    from stance.evaluation.evaluate import _train_fold
    from stance.inference.predictor import load_uncached
    from stance.models.training import PreparedData

    labels = list(config.data.labels)
    # The targets' texts stand in for the test split (unlabelled; only their token lengths are
    # read), so "max_length: auto" covers them as it covers stance cv's held-out article.
    texts = [t for group in targets for t in group]
    lengths_only = LabelledData(texts=texts, labels=[""] * len(texts)) if texts else None
    prepared = PreparedData(train=train, validation=validation, test=lengths_only, hashes={})
    with tempfile.TemporaryDirectory(prefix="stance-labelling-") as tmp:
        fold_config = copy.deepcopy(config)
        fold_config.output_dir = str(Path(tmp) / "model")
        result = _train_fold(fold_config, prepared, quiet)
        predictor = load_uncached(Path(result.model_dir))
        order = [list(predictor.labels).index(label) for label in labels]
        # Calibrated, as predict() and stance cv report them: a calibrator can move the argmax.
        out = [
            predictor.calibrate(np.asarray(predictor.predict_proba(list(texts))))[:, order]
            if len(texts) else np.zeros((0, len(labels)))
            for texts in targets
        ]  # fmt: skip
        del predictor
    return out


def out_of_fold_proba(
    config: TrainConfig,
    data: LabelledData,
    groups: Sequence[str],
    folds: int = 5,
    quiet: bool = True,
    progress: Any = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities for every record from a model that never saw its group.

    ``StratifiedGroupKFold`` (seeded by the config) splits the records into ``folds`` parts;
    each part is predicted by a model trained on the others. A transformer's validation set
    (early stopping) is 10% of its fold's training part.

    Returns:
        ``(probabilities of shape (n, labels), {"folds", "n_groups", "splitter"})``.

    Raises:
        DataError: fewer groups than folds, or a fold's training part lacks a label.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = list(config.data.labels)
    n_groups = len(set(groups))
    if n_groups < folds:
        raise DataError(
            data.path,
            f"grouped cross-validation needs at least {folds} groups (articles or authored "
            f"statements), found {n_groups}; add data or lower --folds",
        )
    proba = np.full((len(data), len(labels)), np.nan)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    y = np.asarray(data.labels, dtype=object)
    for number, (train_idx, test_idx) in enumerate(splitter.split(y, y, list(groups)), start=1):
        missing = sorted(set(labels) - set(y[train_idx]))
        if missing:
            raise DataError(
                data.path,
                f"fold {number}: no training examples of label(s) {', '.join(missing)}; "
                "every label needs examples in several groups",
            )
        if (
            config.kind == "transformer"
        ):  # it early-stops on a validation set; the baseline does not
            train_part, validation = _with_validation(data, train_idx, config.seed)
        else:
            train_part, validation = data.subset(list(train_idx)), None
        (proba[test_idx],) = train_and_predict(
            config, train_part, validation, [data.subset(test_idx).texts], quiet
        )
        if progress is not None:
            progress(number, folds)
    return proba, {"folds": folds, "n_groups": n_groups, "splitter": "StratifiedGroupKFold"}


def _with_validation(
    data: LabelledData, train_idx: np.ndarray, seed: int, fraction: float = 0.1
) -> tuple[LabelledData, LabelledData | None]:
    """Split a fold's training indices into train and a small random validation set."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(np.asarray(train_idx))
    k = int(len(shuffled) * fraction)
    if k < len(set(data.labels)):
        return data.subset(list(train_idx)), None
    held, kept = sorted(shuffled[:k].tolist()), sorted(shuffled[k:].tolist())
    return data.subset(kept), data.subset(held)
