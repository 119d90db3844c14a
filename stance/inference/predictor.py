"""One prediction interface for both model kinds, and the public ``load`` / ``predict``.

A model directory's ``metadata.json`` says which kind it holds; :func:`load` reads it, builds
the matching :class:`Predictor` once and caches it, so repeated :func:`predict` calls with the
same model never reload it.

Which model ``predict(..., model=None)`` uses: the directory named by the ``STANCE_MODEL``
environment variable if set, else ``models/transformer`` under the working directory.

Inputs are checked before any work is done: a non-string item is a ``TypeError`` and an
empty or whitespace-only one a ``ValueError``, both naming the item's index. Texts longer than
a transformer's ``max_length`` are cut, with ONE :class:`TruncationWarning` per call saying how
many were cut. :func:`predict_file` streams a JSONL/CSV file through a model in batches and
writes the predictions atomically (the ``stance predict --input`` command).

Example:
    >>> from stance import predict                                            # doctest: +SKIP
    >>> p = predict("PCNs are the best thing to happen to general practice.")   # doctest: +SKIP
    >>> p.label, round(p.confidence, 2)                                        # doctest: +SKIP
    ('support', 0.93)
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stance.constants import DEFAULT_BATCH_SIZE, DEFAULT_MODEL_DIR, MODEL_ENV_VAR
from stance.data.io import validate_text
from stance.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BACKENDS",
    "REVIEW_COLUMN",
    "Prediction",
    "Predictor",
    "TruncationWarning",
    "FileSummary",
    "load",
    "load_uncached",
    "from_metadata",
    "predict",
    "predict_file",
    "resolve_model_dir",
    "resolve_predictor",
    "check_version",
    "truncation_message",
    "clear_cache",
    "available_cpus",
    "tokenizable",
    "length_sorted_batches",
    "TokenBatcher",
    "TokenPredictor",
    "label_columns",
    "softmax",
]

# metadata "kind" -> "module:class" of its predictor (imported only when that kind is loaded)
_PREDICTOR_CLASSES = {
    "baseline": "stance.models.baseline:BaselinePredictor",
    "transformer": "stance.models.transformer:TransformerPredictor",
    "ensemble": "stance.models.ensemble:EnsemblePredictor",
}
# Kinds that take the transformer options (device, backend, precision); an ensemble passes them
# on to its transformer members.
_TRANSFORMER_OPTION_KINDS = ("transformer", "ensemble")
# Inference runtimes for a transformer: "torch" runs the saved PyTorch model; "onnx" runs an
# ONNX export of it with onnxruntime (same numbers to ~1e-6, faster on CPU, no torch import);
# "onnx-int8" additionally quantises the weights to int8 (faster still; check its agreement
# with the torch model first: bench/bench_predict.py reports it).
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
_BACKEND_CLASSES = {
    "onnx": "stance.inference.onnx:OnnxPredictor",
    "onnx-int8": "stance.inference.onnx:OnnxPredictor",
}
# Rows read from a file per inference chunk: large enough for length-sorting to pay off,
# small enough that memory stays flat however long the file is.
FILE_CHUNK_ROWS = 2048
# Skipped rows remembered (with their reason) for the summary; the rest are only counted.
MAX_SKIPPED_EXAMPLES = 10
# The column predict_file adds after the probabilities: the Prediction.needs_review flag.
REVIEW_COLUMN = "needs_review"


class TruncationWarning(UserWarning):
    """Some texts were longer than the model's ``max_length`` and were cut."""


@dataclass(frozen=True)
class Prediction:
    """The stance of one statement.

    Attributes:
        label: the most probable label.
        scores: probability of every label (they sum to 1), calibrated when the model
            directory holds a calibrator (``calibration.json``), else the model's raw output.
        confidence: the probability of ``label``.
        needs_review: True when ``confidence`` is below the model's review threshold (chosen
            on held-out data to reach a stated precision on accepted predictions), and for
            every prediction of a model without one.
        raw_scores: the model's uncalibrated probabilities (equal to ``scores`` without a
            calibrator).
    """

    label: str
    scores: dict[str, float]
    confidence: float
    needs_review: bool = True
    raw_scores: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, ready for ``json.dumps``."""
        return {
            "label": self.label, "confidence": self.confidence, "scores": dict(self.scores),
            "needs_review": self.needs_review,
            "raw_scores": dict(self.raw_scores) if self.raw_scores is not None else None,
        }  # fmt: skip


def _warn_truncated(cut: int, total: int, max_length: int | None) -> None:
    """One TruncationWarning, attributed to the first caller outside this package."""
    if not cut:
        return
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "stance":
        frame, level = frame.f_back, level + 1
    warnings.warn(truncation_message(cut, total, max_length), TruncationWarning, stacklevel=level)


def truncation_message(cut: int, total: int, max_length: int | None) -> str:
    """The words of the truncation warning, for callers that report it themselves."""
    return (
        f"{cut} of {total} text(s) were longer than the model's max_length "
        f"({max_length} tokens) and were truncated"
    )


class Predictor(ABC):
    """A loaded model that maps texts to label probabilities.

    Subclasses implement :meth:`predict_proba` and a ``from_dir`` constructor; models that cut
    long inputs also override :meth:`predict_proba_counted` so that callers working in chunks
    (:meth:`predict_iter`, :func:`predict_file`) can warn once for the whole input. Everything
    else (input checks, one-or-many handling, :class:`Prediction` objects) lives here.

    Attributes:
        kind: ``"baseline"``, ``"transformer"`` or ``"ensemble"``.
        labels: label names in the column order of :meth:`predict_proba`.
        model_dir: where the model was loaded from.
        metadata: the parsed ``metadata.json``.
        max_length: the longest input in tokens (``None``: no limit).
    """

    kind: str = ""
    max_length: int | None = None

    def __init__(
        self,
        labels: Sequence[str],
        model_dir: str | Path | None = None,
        metadata: dict | None = None,
    ):
        self.labels = tuple(labels)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.metadata = metadata or {}
        self._load_calibration()

    def _load_calibration(self) -> None:
        """Read ``calibration.json`` when the metadata records one (models made before
        calibration existed have none: their scores stay raw and every prediction needs review)."""
        self.calibrator: Any = None
        self.review_threshold: float | None = None
        if self.model_dir is None or not self.metadata.get("calibration"):
            return
        from stance.evaluation.calibration import Calibrator, read_calibration

        record = read_calibration(self.model_dir, self.metadata)
        where = self.model_dir / self.metadata["calibration"].get("file", "calibration.json")
        self.calibrator = Calibrator.from_dict(
            record.get("calibrator") or {}, len(self.labels), where
        )
        self.review_threshold = (record.get("review") or {}).get("threshold")

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw ones (unchanged without a calibrator)."""
        return probs if self.calibrator is None else self.calibrator.apply(probs)

    def needs_review(self, confidence: np.ndarray) -> np.ndarray:
        """Boolean array: calibrated confidences below the review threshold (all, if none)."""
        import numpy as np

        if self.review_threshold is None:
            return np.ones(len(confidence), dtype=bool)
        return np.asarray(confidence) < self.review_threshold

    @classmethod
    @abstractmethod
    def from_dir(cls, model_dir: Path, metadata: dict[str, Any], **options: Any) -> Predictor:
        """Load the model in ``model_dir`` (whose metadata is already read and checked)."""

    @abstractmethod
    def predict_proba(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Probabilities, shape ``(len(texts), len(self.labels))``, rows summing to 1.

        ``texts`` are already checked to be non-empty strings. A model that cuts long texts
        warns once per call (:class:`TruncationWarning`) with the number cut.
        """

    def predict_proba_counted(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[np.ndarray, int]:
        """Like :meth:`predict_proba`, but returns ``(probabilities, number of texts cut)``
        instead of warning. The default suits models without a length limit."""
        return self.predict_proba(texts, batch_size), 0

    def predict(
        self, text_or_texts: str | Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Prediction | list[Prediction]:
        """Predict one text (returns a :class:`Prediction`) or many (returns a list, same order).

        Every item is checked before any prediction is made, so a bad item at the end of a long
        list fails at once.

        Args:
            text_or_texts: a string, or any iterable of strings (list, tuple, generator,
                pandas Series...).
            batch_size: texts per forward pass (results do not depend on it beyond float
                rounding).

        Raises:
            TypeError: an item is not a string (the message names its index), or the input is
                neither a string nor an iterable of strings.
            ValueError: an item is empty or whitespace only (the message names its index), or
                ``batch_size`` is not a positive integer.

        Example:
            >>> clf.predict(["We back it.", "Scrap it."])[1].label   # doctest: +SKIP
            'oppose'
        """
        _check_batch_size(batch_size)
        if isinstance(text_or_texts, str):
            validate_text(text_or_texts, "text")
            probs, cut = self.predict_proba_counted([text_or_texts], batch_size)
            self._warn_truncated(cut, 1)
            return self._to_predictions(probs)[0]
        texts = _checked_texts(text_or_texts)
        if not texts:
            return []
        probs, cut = self.predict_proba_counted(texts, batch_size)
        self._warn_truncated(cut, len(texts))
        return self._to_predictions(probs)

    def predict_iter(
        self,
        texts: Iterable[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int = FILE_CHUNK_ROWS,
    ) -> Iterator[Prediction]:
        """Predict a stream of texts lazily, ``chunk_size`` at a time, in input order.

        Memory stays flat however many texts come in. Items are checked chunk by chunk (an
        error names the item's index in the whole stream). One :class:`TruncationWarning`
        covers the whole stream, issued when it is exhausted.

        Example:
            >>> for p in clf.predict_iter(line.strip() for line in open("quotes.txt")):  # doctest: +SKIP
            ...     print(p.label)
        """
        _check_batch_size(batch_size)
        if isinstance(texts, str):
            raise TypeError(
                "predict_iter expects an iterable of strings, found a single str; use predict()"
            )
        _check_iterable(texts)
        cut = total = 0
        iterator = enumerate(texts)
        while chunk := list(itertools.islice(iterator, max(int(chunk_size), 1))):
            batch = [validate_text(text, f"item {i}") for i, text in chunk]
            probs, n_cut = self.predict_proba_counted(batch, batch_size)
            cut += n_cut
            total += len(batch)
            yield from self._to_predictions(probs)
        self._warn_truncated(cut, total)

    def _warn_truncated(self, cut: int, total: int) -> None:
        _warn_truncated(cut, total, self.max_length)

    def _to_predictions(self, raw: np.ndarray) -> list[Prediction]:
        probs = self.calibrate(raw)
        best = probs.argmax(axis=1)
        review = self.needs_review(probs.max(axis=1)).tolist()
        out = []
        for row, raw_row, b, flag in zip(probs.tolist(), raw.tolist(), best.tolist(), review):
            out.append(Prediction(
                label=self.labels[b], scores=dict(zip(self.labels, row)), confidence=row[b],
                needs_review=flag, raw_scores=dict(zip(self.labels, raw_row)),
            ))  # fmt: skip
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_dir={str(self.model_dir)!r}, labels={self.labels})"


class TokenPredictor(Predictor):
    """Base for models that read tokens and cut inputs at ``max_length`` (both transformer
    backends): subclasses implement :meth:`predict_proba_counted`; :meth:`predict_proba` warns
    once per call with the number of texts cut."""

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Softmax probabilities, shape ``(len(texts), len(self.labels))``, in input order.

        Texts are sorted by length and batched with dynamic padding, cut at ``max_length``
        tokens (one :class:`TruncationWarning` per call says how many were cut), and put back
        in order. Results do not depend on ``batch_size`` beyond float rounding.
        """
        probs, cut = self.predict_proba_counted(texts, batch_size)
        self._warn_truncated(cut, len(texts))
        return probs

    @abstractmethod
    def predict_proba_counted(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[np.ndarray, int]:
        """``(probabilities, number of texts cut at max_length)``, without warning."""


def label_columns(label2id: dict[str, int], labels: Sequence[str], where: str | Path) -> np.ndarray:
    """Column indices that reorder a model's outputs into ``labels`` order.

    Column ``i`` of the result is the model output ``label2id[labels[i]]``.

    Raises:
        ModelError: the model's labels (from ``where``, its config file) are not the labels in
            ``metadata.json``.
    """
    if sorted(label2id) != sorted(labels):
        raise ModelError(
            f"{where}: the model's labels ({', '.join(sorted(label2id))}) differ from "
            f"metadata.json's ({', '.join(labels)}); the model directory is inconsistent - "
            "retrain it"
        )
    import numpy as np

    return np.array([label2id[label] for label in labels])


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, found {batch_size!r}")


def _check_iterable(value: Any) -> None:
    # bytes iterate as ints and a dict as its keys: both are almost certainly mistakes.
    if (
        value is None
        or isinstance(value, (bytes, bytearray, Mapping))
        or not isinstance(value, Iterable)
    ):
        hint = " (decode it to str first)" if isinstance(value, (bytes, bytearray)) else ""
        raise TypeError(
            f"expected a string or an iterable of strings, found {type(value).__name__}{hint}"
        )


def _checked_texts(values: Iterable[Any]) -> list[str]:
    _check_iterable(values)
    return [validate_text(text, f"item {i}") for i, text in enumerate(values)]


# --- helpers shared by the transformer backends -----------------------------------------------


def available_cpus() -> int:
    """CPU cores this process may really use (affinity mask and cgroup quota), at least 1.

    ``os.cpu_count()`` reports the host's cores; in a container limited to 2 of 64 cores a
    thread pool sized from it oversubscribes the CPU and runs several times slower.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no limit) or "200000 100000" (2 CPUs)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def tokenizable(texts: Iterable[str]) -> list[str]:
    """The texts as a Rust tokenizer accepts them: lone surrogates become U+FFFD.

    Python strings may hold unpaired surrogates (from a JSON ``"\\ud800"`` escape, say), which
    are not valid UTF-8 and make ``tokenizers`` raise. Everything else passes unchanged.
    """
    out = []
    for text in texts:
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        out.append(text)
    return out


class TokenBatcher:
    """Length-sorted, dynamically padded batches of token ids, as numpy arrays.

    Shared by the transformer backends (PyTorch and ONNX) so that both see exactly the same
    inputs: texts are tokenized once with a ``tokenizers.Tokenizer`` cut at ``max_length``
    (special tokens kept, as transformers does), sorted by length, and each batch is padded only
    to its own longest input.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (e.g. ``hf_tokenizer.backend_tokenizer``); a copy
            is configured, the original is left alone.
        max_length: the longest input in tokens.
        pad_id: the padding token id.
        input_names: the model inputs to build (``input_ids``, ``attention_mask``,
            ``token_type_ids``).
    """

    def __init__(self, tokenizer: Any, max_length: int, pad_id: int, input_names: Sequence[str]):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(max_length))
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)
        self.input_names = tuple(input_names)

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], int]:
        """``(encodings cut at max_length, number of texts that were cut)``."""
        texts = tokenizable(texts)
        if len(texts) == 1:  # encode_batch's thread pool costs more than it saves for one text
            encodings = [self.tokenizer.encode(texts[0])]
        else:
            encodings = self.tokenizer.encode_batch(texts)
        return encodings, sum(1 for e in encodings if e.overflowing)

    def batches(
        self, encodings: Sequence[Any], batch_size: int
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Yield ``(indices into encodings, {input name: int64 array (batch, width)})``."""
        import numpy as np

        lengths = [len(e.ids) for e in encodings]
        for idx in length_sorted_batches(lengths, batch_size):
            width = max(lengths[i] for i in idx)
            feed = {name: np.zeros((len(idx), width), dtype=np.int64) for name in self.input_names}
            ids = feed["input_ids"]
            ids.fill(self.pad_id)
            mask, types = feed.get("attention_mask"), feed.get("token_type_ids")
            for row, i in enumerate(idx):
                e, n = encodings[i], lengths[i]
                ids[row, :n] = e.ids
                if mask is not None:
                    mask[row, :n] = 1
                if types is not None:
                    types[row, :n] = e.type_ids
            yield idx, feed


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Index arrays of batches of similar-length inputs (shortest first).

    Padding each batch only to its own longest input ("dynamic padding") wastes little
    compute when the batch's inputs have similar lengths. The caller puts results back with
    the indices.

    Example:
        >>> [b.tolist() for b in length_sorted_batches([5, 1, 4, 2], 2)]
        [[1, 3], [2, 0]]
    """
    import numpy as np

    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    step = max(int(batch_size), 1)
    return [order[start : start + step] for start in range(0, len(order), step)]


# --- loading -------------------------------------------------------------------------------------

# (directory, options) -> (metadata stamp, predictor): one entry per model and options, so a
# long-running process that picks up retrained models does not keep the old ones in memory.
_cache: dict[tuple, tuple[Any, Predictor]] = {}
_cache_lock = threading.RLock()


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
            f"`stance train --config configs/transformer.yaml`, or pass model=DIR "
            f"(--model DIR), or set {MODEL_ENV_VAR}=DIR"
        )
    return default


def _predictor_class(kind: str, backend: str | None) -> type[Predictor]:
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, found {backend!r}")
    target = _PREDICTOR_CLASSES[kind]
    if backend not in (None, "torch"):
        if kind not in _TRANSFORMER_OPTION_KINDS:
            raise ModelError(
                f"backend={backend!r} only applies to transformer models; this is a {kind} model "
                "(leave backend unset)"
            )
        if kind == "transformer":
            target = _BACKEND_CLASSES[backend]
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load(model: str | Path | None = None, **options: Any) -> Predictor:
    """Load a model directory of either kind, once: later calls return the cached predictor.

    Args:
        model: the model directory (see :func:`resolve_model_dir` for the default).
        **options: for a transformer: ``device`` (``"cpu"``, ``"cuda"``, ...; default: a GPU
            if there is one, else the CPU), ``backend`` (one of :data:`BACKENDS`; default
            ``"torch"``) and, for the torch backend, ``precision`` (one of
            :data:`~stance.constants.PRECISIONS`; default ``"auto"``: bfloat16 where the
            hardware multiplies it natively, else fp32). Options set to ``None`` count as not
            given. A baseline ignores ``device`` and ``precision``.

    Returns:
        A :class:`Predictor`. The same one for the same directory and options, until the
        directory's ``metadata.json`` changes (a retrained model is picked up).

    Raises:
        ModelError: the directory is missing, incomplete, corrupt (checksum mismatch), or made
            by an incompatible package version; the message names the file.
        ConfigError: an unknown ``backend``, or a ``precision`` with an ONNX backend (both are
            ``ValueError``s too).
        TypeError: an option the model kind does not know.

    Example:
        >>> clf = load("models/baseline")                 # doctest: +SKIP
        >>> clf.predict(["One quote.", "Another."])        # doctest: +SKIP
    """
    from stance.models.artifacts import read_metadata

    options = {k: v for k, v in options.items() if v is not None}
    model_dir = resolve_model_dir(model).resolve()
    key = (str(model_dir), tuple(sorted(options.items())))
    # The metadata's identity and mtime tell a retrained (or restored) model in the same place.
    stamp = _metadata_stamp(model_dir)
    # One lock for the whole load: two threads asking for the same model load it once.
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        _cache.pop(key, None)  # a stale model is dropped before its successor is loaded
        meta = read_metadata(model_dir)
        check_version(model_dir, meta)
        predictor = from_metadata(model_dir, meta, **options)
        _cache[key] = (stamp, predictor)
        return predictor


def _metadata_stamp(model_dir: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of ``metadata.json``: a retrain replaces the file (a new inode even
    when a restore keeps the mtime); None when there is none yet."""
    try:
        st = (model_dir / "metadata.json").stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def from_metadata(model_dir: Path, meta: dict[str, Any], **options: Any) -> Predictor:
    """Build the predictor of a model directory whose ``metadata.json`` is already read and
    checked, passing on only the options its kind uses (``device``, ``backend``, ``precision``;
    an ensemble hands them to its transformer members)."""
    kind = meta["kind"]
    backend = options.pop("backend", None)
    cls = _predictor_class(kind, backend)
    if kind == "baseline":
        options.pop("device", None)  # a scikit-learn model runs on the CPU
        options.pop("precision", None)
    elif kind == "ensemble":
        options["backend"] = backend
    elif backend in _BACKEND_CLASSES:
        _refuse_precision(options.pop("precision", None), backend)
        options["quantize"] = backend == "onnx-int8"
    return cls.from_dir(model_dir, meta, **options)


def _refuse_precision(precision: str | None, backend: str) -> None:
    """ONNX backends have their own numerics (fp32 export, or int8 with ``onnx-int8``)."""
    if precision not in (None, "auto"):
        raise ConfigError(
            f"precision={precision!r} applies to the torch backend; backend={backend!r} runs "
            "its own export (leave precision unset, or use backend='torch')"
        )


def load_uncached(model_dir: str | Path, device: str | None = None, **options: Any) -> Predictor:
    """Load a model without keeping it in :func:`stance.inference.predictor.load`'s cache.

    Cross-validation loads one model per fold from a temporary directory, distillation loads
    its teacher once, and an ensemble loads its members; caching them would keep every such
    model in memory for the life of the process. Checksums are verified as by :func:`load`,
    and ``device``/``options`` mean what they mean there.
    """
    from stance.models.artifacts import read_metadata

    meta = read_metadata(model_dir)
    check_version(Path(model_dir), meta)
    options = {k: v for k, v in {"device": device, **options}.items() if v is not None}
    return from_metadata(Path(model_dir), meta, **options)


def check_version(model_dir: Path, meta: dict[str, Any]) -> None:
    """Refuse a model made by another major version of stance (its files may mean other things).

    Raises:
        ModelError: names the metadata file, both versions and the fix (retrain).
    """
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


def resolve_predictor(model: str | Path | Predictor | None, options: dict[str, Any]) -> Predictor:
    """``model`` itself when it is a loaded predictor (refusing load ``options`` it cannot take
    any more), else :func:`load` of the directory (None: the default) with ``options``."""
    if isinstance(model, Predictor):
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise TypeError(
                f"option(s) {', '.join(given)} cannot apply to an already loaded model; "
                "pass them to stance.load() instead"
            )
        return model
    return load(model, **options)


def predict(
    text_or_texts: str | Iterable[str],
    model: str | Path | Predictor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> Prediction | list[Prediction]:
    """Predict the stance of one statement or many.

    Args:
        text_or_texts: a string (returns one :class:`Prediction`) or an iterable of strings
            (list, tuple, generator...; returns a list in the same order).
        model: a model directory, an already loaded :class:`Predictor`, or ``None`` for the
            default (``$STANCE_MODEL``, else ``models/transformer``).
        batch_size: texts per forward pass.
        **options: passed to :func:`load`: ``device="cpu"``, ``backend="onnx"``, ``precision="fp32"``...

    Returns:
        A :class:`Prediction` for a string, else a list of them (empty for empty input).

    Raises:
        TypeError: an item is not a string (names its index).
        ValueError: an item is empty or whitespace only (names its index).
        ModelError: the model is missing or broken (names the file), or no model was given and
            there is no default (says how to train one).

    Example:
        >>> [p.label for p in predict(["We back it.", "Not on my watch."], model="models/baseline")]  # doctest: +SKIP
        ['support', 'oppose']
    """
    predictor = resolve_predictor(model, options)
    return predictor.predict(text_or_texts, batch_size=batch_size)


# --- files -----------------------------------------------------------------------------------------


@dataclass
class FileSummary:
    """What :func:`predict_file` did.

    Attributes:
        rows: records read (and written).
        predicted: rows that got a prediction.
        skipped: rows written without one (``skip_invalid``).
        skipped_examples: ``(line, reason)`` of the first few of them.
        truncated: texts cut at the model's ``max_length``.
        output: the file written.
        label_counts: predicted label -> number of rows.
    """

    rows: int
    predicted: int
    skipped: int
    skipped_examples: list[tuple[int, str]]
    truncated: int
    output: Path
    label_counts: dict[str, int]


def _row_problem(record: dict[str, Any], text_column: str) -> str | None:
    """Why a record cannot be predicted (None if it can)."""
    if text_column not in record:
        found = ", ".join(map(str, record)) or "none"
        return f"missing column {text_column!r} (found columns: {found}); choose one with --text-column"
    text = record[text_column]
    if not isinstance(text, str):
        return f"{text_column!r} must be a string, found {type(text).__name__} {text!r:.40}"
    if not text.strip():
        return f"{text_column!r} is empty or whitespace only"
    return None


def _output_columns(labels: Sequence[str], label_column: str, prob_prefix: str) -> list[str]:
    return [label_column] + [f"{prob_prefix}{label}" for label in labels] + [REVIEW_COLUMN]


def _check_clash(
    path: Path, line: int | None, columns: Iterable[str], added: Sequence[str]
) -> None:
    clash = [c for c in added if c in set(columns)]
    if clash:
        raise DataError(
            path,
            f"the input already has column(s) {', '.join(clash)}, which the predictions would "
            "overwrite (gold labels?); name the prediction columns differently with "
            "--label-column / --prob-prefix (label_column= / prob_prefix=)",
            line=line,
        )


def predict_file(
    input_path: str | Path,
    output_path: str | Path,
    model: str | Path | Predictor | None = None,
    *,
    text_column: str = "text",
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_invalid: bool = False,
    label_column: str = "label",
    prob_prefix: str = "p_",
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = FILE_CHUNK_ROWS,
    **options: Any,
) -> FileSummary:
    """Predict every row of a JSONL or CSV file and write the rows back with predictions.

    The output has the input's format and every input column, in the input's row order, with
    ``label_column``, one probability column per label (``p_support``, ``p_oppose``...;
    calibrated when the model has a calibrator) and ``needs_review`` (see
    :class:`Prediction`) appended. The file is read in chunks of ``chunk_rows`` rows (memory stays flat for a
    million rows) and written to a temporary file beside ``output_path`` that is renamed into
    place only at the end: a crash or an error never leaves a half-written output, and a
    previous output file stays intact.

    Rows are checked in a first, cheap pass over the file (no model work), so a bad row fails
    before any inference is done, and the row count is known for a progress bar.

    Args:
        input_path: a ``.jsonl``/``.json``/``.ndjson`` or ``.csv`` file.
        output_path: where to write; must have the same format as the input.
        model: a model directory, a loaded :class:`Predictor`, or ``None`` (the default model).
        text_column: the column holding the statements.
        batch_size: texts per forward pass.
        skip_invalid: write rows whose text is missing, not a string or blank with an empty
            label and empty probabilities (CSV: empty cells; JSONL: ``""`` and ``null``),
            instead of failing.
        label_column: name of the predicted-label column.
        prob_prefix: prefix of the probability columns.
        progress: called after each chunk with ``(rows written so far, total rows)``.
        chunk_rows: rows per inference chunk.
        **options: passed to :func:`load` (``device``, ``backend``, ``precision``).

    Returns:
        A :class:`FileSummary`. Truncated texts also raise one :class:`TruncationWarning`.

    Raises:
        DataError: ``file:line: ...`` for an unreadable file or (without ``skip_invalid``) a
            row without a usable text; the output format differs from the input's; the output
            would overwrite the input; or the input already has a prediction column.
        ModelError: the model is missing or broken.

    Example:
        >>> predict_file("quotes.csv", "quotes.pred.csv", model="models/transformer")  # doctest: +SKIP
        FileSummary(rows=1200, predicted=1200, skipped=0, truncated=3, ...)
    """
    _check_batch_size(batch_size)
    input_path, output_path = Path(input_path), Path(output_path)
    fmt = _check_file_paths(input_path, output_path)
    predictor = resolve_predictor(model, options)
    added = _output_columns(predictor.labels, label_column, prob_prefix)
    if len(set(added)) != len(added):
        raise DataError(output_path, f"prediction column names collide: {', '.join(added)}")
    # Pass 1: check every row (and count them) before any inference or writing.
    rows = _check_rows(input_path, fmt, text_column, added, skip_invalid)
    # Pass 2: predict chunk by chunk, writing as we go.
    counts, predicted, truncated = _write_predictions(
        predictor, input_path, output_path, fmt, rows, added, text_column, batch_size,
        chunk_rows, progress,
    )  # fmt: skip
    _warn_truncated(truncated, predicted, predictor.max_length)
    return FileSummary(
        rows=rows.n_rows, predicted=predicted, skipped=rows.skipped, skipped_examples=rows.examples,
        truncated=truncated, output=output_path, label_counts=counts,
    )  # fmt: skip


def _check_file_paths(input_path: Path, output_path: Path) -> str:
    """Check that the output has the input's format and is not the input; return the format."""
    from stance.data.io import detect_format

    fmt = detect_format(input_path)
    out_fmt = detect_format(output_path)
    if out_fmt != fmt:
        raise DataError(
            output_path,
            f"the output must have the input's format ({fmt}: {input_path.name}), found {out_fmt}; "
            f"use a .{'jsonl' if fmt == 'jsonl' else 'csv'} output file",
        )
    # samefile, not resolved names: on a case-insensitive filesystem q.csv and Q.CSV are one file.
    if output_path.exists() and input_path.exists() and os.path.samefile(output_path, input_path):
        raise DataError(
            output_path, "the output would overwrite the input; choose another output file"
        )
    return fmt


@dataclass
class _RowCheck:
    """What the first pass over a file found: row count, skipped rows, the CSV header."""

    n_rows: int
    skipped: int
    examples: list[tuple[int, str]]
    header: list[str] | None


def _check_rows(
    input_path: Path, fmt: str, text_column: str, added: Sequence[str], skip_invalid: bool
) -> _RowCheck:
    """Read every row once, without a model: fail on (or count) unusable rows, find clashes."""
    from stance.data.io import iter_records

    n_rows, skipped, examples = 0, 0, []
    header: list[str] | None = None
    clash: tuple[int, dict[str, Any]] | None = None  # reported after the file's own errors
    for line, record in iter_records(input_path):
        if clash is None and (n_rows == 0 or fmt == "jsonl"):  # CSV rows share one header
            if any(column in record for column in added):
                clash = (1 if fmt == "csv" else line, record)
        if header is None and fmt == "csv":
            header = list(record)
        n_rows += 1
        problem = _row_problem(record, text_column)
        if problem is not None:
            if not skip_invalid:
                raise DataError(input_path, problem + " (or pass --skip-invalid)", line=line)
            skipped += 1
            if len(examples) < MAX_SKIPPED_EXAMPLES:
                examples.append((line, problem))
    if clash is not None:
        _check_clash(input_path, clash[0], clash[1], added)
    return _RowCheck(n_rows=n_rows, skipped=skipped, examples=examples, header=header)


def _write_predictions(
    predictor: Predictor,
    input_path: Path,
    output_path: Path,
    fmt: str,
    rows: _RowCheck,
    added: Sequence[str],
    text_column: str,
    batch_size: int,
    chunk_rows: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, int], int, int]:
    """Predict the file chunk by chunk into an atomic output; return label counts, predicted, cut."""
    import csv

    from stance.data.io import iter_records, json_line
    from stance.models.artifacts import atomic_file

    counts = dict.fromkeys(predictor.labels, 0)
    truncated = predicted = done = 0
    empty = ["", *[None] * (len(predictor.labels) + 1)]  # a skipped row: empty label, no scores
    with atomic_file(output_path) as fh:
        writer = None
        if fmt == "csv":
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([*(rows.header or []), *added])
        records = iter_records(input_path)
        while chunk := list(itertools.islice(records, max(int(chunk_rows), 1))):
            results, cut = _predict_chunk(predictor, chunk, text_column, batch_size)
            truncated += cut
            for i, (_, record) in enumerate(chunk):
                result = results.get(i)
                values = empty
                if result is not None:
                    row, flag = result
                    label = predictor.labels[max(range(len(row)), key=row.__getitem__)]
                    counts[label] += 1
                    predicted += 1
                    values = [label, *row, flag]
                if writer is not None:
                    writer.writerow([*record.values(), *("" if v is None else v for v in values)])
                else:
                    fh.write(json_line({**record, **dict(zip(added, values))}))
            done += len(chunk)
            if progress is not None:
                progress(done, rows.n_rows)
    return counts, predicted, truncated


def _predict_chunk(
    predictor: Predictor,
    chunk: list[tuple[int, dict[str, Any]]],
    text_column: str,
    batch_size: int,
) -> tuple[dict[int, tuple[list[float], bool]], int]:
    """Predict a chunk's usable rows: row index -> (calibrated probabilities, needs review)."""
    valid = [i for i, (_, rec) in enumerate(chunk) if _row_problem(rec, text_column) is None]
    if not valid:
        return {}, 0
    raw, cut = predictor.predict_proba_counted(
        [chunk[i][1][text_column] for i in valid], batch_size
    )
    probs = predictor.calibrate(raw)
    review = predictor.needs_review(probs.max(axis=1)).tolist()
    return dict(zip(valid, zip(probs.tolist(), review))), cut
