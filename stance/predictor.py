"""One prediction interface for both model kinds, and the public ``load`` / ``predict``.

A model directory's ``metadata.json`` says which kind it holds; :func:`load` reads it, builds
the matching :class:`Predictor` once and caches it, so repeated :func:`predict` calls with the
same model never reload it.

Which model ``predict(..., model=None)`` uses: the directory named by the ``STANCE_MODEL``
environment variable if set, else ``models/transformer`` under the working directory.

Example:
    >>> from stance import predict                                            # doctest: +SKIP
    >>> p = predict("PCNs are the best thing to happen to general practice.")   # doctest: +SKIP
    >>> p.label, round(p.confidence, 2)                                        # doctest: +SKIP
    ('support', 0.93)
"""

from __future__ import annotations

import importlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stance.constants import DEFAULT_BATCH_SIZE, DEFAULT_MODEL_DIR, MODEL_ENV_VAR
from stance.data import validate_text
from stance.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Prediction", "Predictor", "load", "predict", "resolve_model_dir", "clear_cache"]

# metadata "kind" -> "module:class" of its predictor (imported only when that kind is loaded)
_PREDICTOR_CLASSES = {
    "baseline": "stance.baseline:BaselinePredictor",
    "transformer": "stance.transformer:TransformerPredictor",
}


@dataclass(frozen=True)
class Prediction:
    """The stance of one statement.

    Attributes:
        label: the most probable label.
        scores: probability of every label (they sum to 1).
        confidence: the probability of ``label``.
    """

    label: str
    scores: dict[str, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, ready for ``json.dumps``."""
        return {"label": self.label, "confidence": self.confidence, "scores": dict(self.scores)}


class Predictor(ABC):
    """A loaded model that maps texts to label probabilities.

    Subclasses implement :meth:`predict_proba` and a ``from_dir`` constructor; everything
    else (input checks, one-or-many handling, :class:`Prediction` objects) lives here.

    Attributes:
        kind: ``"baseline"`` or ``"transformer"``.
        labels: label names in the column order of :meth:`predict_proba`.
        model_dir: where the model was loaded from.
        metadata: the parsed ``metadata.json``.
    """

    kind: str = ""

    def __init__(self, labels: Sequence[str], model_dir: str | Path | None = None, metadata: dict | None = None):
        self.labels = tuple(labels)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.metadata = metadata or {}

    @classmethod
    @abstractmethod
    def from_dir(cls, model_dir: Path, metadata: dict[str, Any], **options: Any) -> Predictor:
        """Load the model in ``model_dir`` (whose metadata is already read and checked)."""

    @abstractmethod
    def predict_proba(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(self.labels))``, rows summing to 1.

        ``texts`` are already checked to be non-empty strings.
        """

    def predict(
        self, text_or_texts: str | Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Prediction | list[Prediction]:
        """Predict one text (returns a :class:`Prediction`) or many (returns a list, same order).

        Raises:
            TypeError: an item is not a string (the message names its index).
            ValueError: an item is empty or whitespace only (the message names its index).
        """
        if isinstance(text_or_texts, str):
            validate_text(text_or_texts, "text")
            return self._to_predictions(self.predict_proba([text_or_texts], batch_size))[0]
        if text_or_texts is None or not isinstance(text_or_texts, Iterable):
            raise TypeError(
                f"expected a string or an iterable of strings, found {type(text_or_texts).__name__}"
            )
        texts = [validate_text(t, f"item {i}") for i, t in enumerate(text_or_texts)]
        if not texts:
            return []
        return self._to_predictions(self.predict_proba(texts, batch_size))

    def _to_predictions(self, probs: np.ndarray) -> list[Prediction]:
        best = probs.argmax(axis=1)
        out = []
        for row, b in zip(probs.tolist(), best.tolist()):
            out.append(Prediction(label=self.labels[b], scores=dict(zip(self.labels, row)), confidence=row[b]))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_dir={str(self.model_dir)!r}, labels={self.labels})"


_cache: dict[tuple, Predictor] = {}
_cache_lock = threading.Lock()


def resolve_model_dir(model: str | Path | None = None) -> Path:
    """The model directory to use: ``model``, else ``$STANCE_MODEL``, else ``models/transformer``.

    Raises:
        ModelError: no model was given and the default directory does not exist (the message
            says how to train one or point at one).
    """
    if model is not None:
        return Path(model)
    env = os.environ.get(MODEL_ENV_VAR)
    if env:
        return Path(env)
    default = Path(DEFAULT_MODEL_DIR)
    if not default.exists():
        raise ModelError(
            f"no model given and the default {default}/ does not exist; train one with "
            f"`stance train --config configs/transformer.yaml`, or pass model=DIR, "
            f"or set {MODEL_ENV_VAR}=DIR"
        )
    return default


def load(model: str | Path | None = None, **options: Any) -> Predictor:
    """Load a model directory of either kind, once: later calls return the cached predictor.

    Args:
        model: the model directory (see :func:`resolve_model_dir` for the default).
        **options: passed to the predictor (e.g. ``device="cpu"``, ``backend="onnx"`` for a transformer).

    Returns:
        A :class:`Predictor`.

    Raises:
        ModelError: the directory is missing, incomplete, corrupt (checksum mismatch), or made
            by an incompatible package version.

    Example:
        >>> clf = load("models/baseline")                 # doctest: +SKIP
        >>> clf.predict(["One quote.", "Another."])        # doctest: +SKIP
    """
    from stance.artifacts import read_metadata

    model_dir = resolve_model_dir(model).resolve()
    meta_path = model_dir / "metadata.json"
    # Key on the metadata's mtime so a retrained model in the same place is picked up.
    stamp = meta_path.stat().st_mtime_ns if meta_path.exists() else None
    key = (str(model_dir), stamp, tuple(sorted(options.items())))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    meta = read_metadata(model_dir)
    _check_version(model_dir, meta)
    module_name, class_name = _PREDICTOR_CLASSES[meta["kind"]].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    predictor = cls.from_dir(model_dir, meta, **options)
    with _cache_lock:
        _cache[key] = predictor
    return predictor


def _check_version(model_dir: Path, meta: dict[str, Any]) -> None:
    from stance import __version__

    made_by = str(meta.get("stance_version", ""))
    if made_by.split(".")[:1] != __version__.split(".")[:1]:
        raise ModelError(
            f"{model_dir / 'metadata.json'}: made by stance {made_by or '(unknown)'}, which is "
            f"incompatible with stance {__version__}; retrain the model with this version"
        )


def clear_cache() -> None:
    """Forget every loaded model (the next :func:`load` reads from disk again)."""
    with _cache_lock:
        _cache.clear()


def predict(
    text_or_texts: str | Iterable[str],
    model: str | Path | Predictor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> Prediction | list[Prediction]:
    """Predict the stance of one statement or many.

    Args:
        text_or_texts: a string (returns one :class:`Prediction`) or an iterable of strings
            (returns a list in the same order).
        model: a model directory, an already loaded :class:`Predictor`, or ``None`` for the
            default (``$STANCE_MODEL``, else ``models/transformer``).
        batch_size: texts per forward pass.
        **options: passed to :func:`load` (e.g. ``device="cpu"``).

    Raises:
        TypeError: an item is not a string (names its index).
        ValueError: an item is empty or whitespace only (names its index).
        ModelError: the model is missing or broken (names the file).

    Example:
        >>> [p.label for p in predict(["We back it.", "Not on my watch."], model="models/baseline")]  # doctest: +SKIP
        ['support', 'oppose']
    """
    predictor = model if isinstance(model, Predictor) else load(model, **options)
    return predictor.predict(text_or_texts, batch_size=batch_size)
