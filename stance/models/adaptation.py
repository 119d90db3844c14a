"""Adaptation: a second, short fine-tune on the real article quotes of the training data.

The corpus holds thousands of authored statements and a few dozen real quotes cut from news
articles. Trained in one pass, the real quotes are a rounding error among the authored ones,
yet they are the register users' quotes come in. With ``transformer.adaptation_epochs`` set,
training runs in two stages:

1. the usual fine-tune on the authored statements only (best epoch chosen on validation);
2. a few epochs at a lower learning rate on the real quotes (rows whose ``source`` is not
   ``authored``; :func:`stance.data.corpus.is_real_quote`, as ``stance cv`` folds tell them), mixed with ``adaptation_replay`` authored statements per real quote so that
   the first stage is not forgotten. The last epoch is kept: the validation split is authored,
   so it cannot say which epoch reads real quotes best.

Stage one does not depend on which real quotes are in the training data, so the folds of
``stance cv`` (which differ only in the held-out article) train it once and reuse it
(:class:`StageOneCache`); cross-validating a two-stage config costs one training, not five.

Example:
    >>> plan = plan_adaptation(settings, data.train, seed=42)      # doctest: +SKIP
    >>> len(plan.stage_one), len(plan.real), len(plan.replay)       # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stance.constants import AUTHORED_SOURCE
from stance.data.corpus import is_real_quote  # one definition of a real quote, re-exported

__all__ = [
    "AdaptationPlan",
    "is_real_quote",
    "plan_adaptation",
    "stage_two_settings",
    "StageOneCache",
    "stage_one_key",
]

# Settings that only concern stage two (or where training runs): stage one ignores them, so
# they are left out of the key under which a stage-one model is reused.
_STAGE_TWO_KEYS = ("adaptation_epochs", "adaptation_learning_rate", "adaptation_batch_size",
                   "adaptation_replay", "ensemble_seeds", "device")  # fmt: skip


@dataclass(frozen=True)
class AdaptationPlan:
    """Which training rows each stage uses (indices into the training split).

    ``skipped`` is None when both stages run, else why training runs in one stage (no real
    quotes, or nothing else to learn from first); then ``stage_one`` is every row.
    """

    stage_one: list[int]
    real: list[int]
    replay: list[int]
    skipped: str | None = None

    def record(self, settings: Any) -> dict[str, Any]:
        """What the model's metadata records about the two stages."""
        if self.skipped:
            return {"skipped": self.skipped}
        return {
            "stage_one_rows": len(self.stage_one),
            "real_quotes": len(self.real),
            "replayed_rows": len(self.replay),
            "epochs": settings.adaptation_epochs,
            "learning_rate": settings.adaptation_learning_rate,
            "batch_size": settings.adaptation_batch_size,
        }


def plan_adaptation(settings: Any, train: Any, seed: int,
                    column: str = "source") -> AdaptationPlan | None:  # fmt: skip
    """Split the training rows into the two stages; None when adaptation is off.

    The replayed authored rows are a seeded random sample (without replacement, at most all
    of them), so a rerun with the same seed replays the same statements.
    """
    if not settings.adaptation_epochs:
        return None
    records = train.records or [{} for _ in train.texts]
    real = [i for i, r in enumerate(records) if is_real_quote(r, column)]
    authored = [i for i, r in enumerate(records) if not is_real_quote(r, column)]
    everything = list(range(len(train.texts)))
    if not real:
        why = f"no real quotes in the training data (rows whose {column!r} is not {AUTHORED_SOURCE!r})"
        return AdaptationPlan(stage_one=everything, real=[], replay=[], skipped=why)
    if not authored:
        why = f"every training row is a real quote (no {AUTHORED_SOURCE!r} rows to train on first)"
        return AdaptationPlan(stage_one=everything, real=[], replay=[], skipped=why)
    n_replay = min(len(authored), settings.adaptation_replay * len(real))
    rng = np.random.default_rng(seed)
    replay = sorted(rng.choice(authored, size=n_replay, replace=False).tolist())
    return AdaptationPlan(stage_one=authored, real=real, replay=replay)


def stage_two_settings(settings: Any) -> Any:
    """The settings of stage two: the adaptation values, no early stopping, no frozen epochs."""
    return dataclasses.replace(
        settings,
        num_epochs=settings.adaptation_epochs,
        learning_rate=settings.adaptation_learning_rate,
        batch_size=settings.adaptation_batch_size,
        early_stopping_patience=0,
        freeze_epochs=0,
    )


def stage_one_key(config: Any, train_texts: Sequence[str], train_labels: Sequence[str],
                  validation: Any, max_length: int) -> str:  # fmt: skip
    """A fingerprint of everything stage one depends on: settings, seed, rows and length."""
    settings = {k: v for k, v in dataclasses.asdict(config.transformer).items()
                if k not in _STAGE_TWO_KEYS}  # fmt: skip
    digest = hashlib.sha256()
    parts = [settings, config.seed, list(config.data.labels), max_length,
             list(train_texts), list(train_labels),
             list(validation.texts) if validation is not None else None,
             list(validation.labels) if validation is not None else None]  # fmt: skip
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


class StageOneCache:
    """Stage-one results kept in memory, so that folds sharing stage one train it once.

    One cache serves one cross-validation (``stance cv``); it holds one model per key, a copy
    of which each fold adapts, so the cached weights are never changed.
    """

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        """A copy of the stored result (model included), or None."""
        entry = self._entries.get(key)
        return copy.deepcopy(entry) if entry is not None else None

    def put(self, key: str, result: Any) -> None:
        self._entries[key] = copy.deepcopy(result)

    def __len__(self) -> int:
        return len(self._entries)
