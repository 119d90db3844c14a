"""The fine-tuned transformer: training (:func:`train_transformer`) and prediction
(:class:`TransformerPredictor`).

Training fine-tunes ``AutoModelForSequenceClassification`` on the training split with the
Hugging Face Trainer, evaluating macro-F1 on the validation split after every epoch and keeping
the best epoch. The practices that matter with a few hundred examples are set in
``config.transformer`` and recorded in ``metadata.json``: a fixed seed (deterministic data order;
deterministic kernels on CPU), class-weighted cross-entropy, warm-up, weight decay, early
stopping on validation macro-F1, a ``max_length`` chosen from the training texts' token lengths,
dynamic padding, optional layer-wise learning-rate decay and optional frozen first epochs.

The saved model directory is a plain Hugging Face model directory, loadable without this
package::

    from transformers import pipeline
    pipeline("text-classification", model="models/transformer")("We back the PCNs.")
    # [{'label': 'support', 'score': 0.9...}]

It holds ``config.json`` (with the real ``id2label``), the tokenizer files, ``model.safetensors``
(no pickles: no ``pytorch_model.bin``, no ``training_args.bin``, no optimiser state),
``metadata.json`` and a model card ``README.md``.

Several processes (``torchrun --nproc_per_node 2 -m stance.cli train --config X``) train one
model with DistributedDataParallel (gloo on CPU); only the first process saves and prints.

Example:
    >>> from stance.config import load_config                                    # doctest: +SKIP
    >>> result = train_transformer(load_config("configs/transformer.yaml"), quiet=False)  # doctest: +SKIP
    >>> import stance; stance.load("models/transformer").predict("PCNs are working.")     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stance.config import TrainConfig, TransformerSettings
from stance.constants import DEFAULT_BATCH_SIZE, DEFAULT_PRECISION, TRAIN_SCORE_SAMPLE
from stance.errors import ConfigError, ModelError, first_line
from stance.inference.predictor import (
    TokenBatcher,
    TokenPredictor,
    available_cpus,
    label_columns,
    softmax,
)
from stance.inference.predictor import TruncationWarning as _TruncationWarning
from stance.models.adaptation import (
    AdaptationPlan,
    StageOneCache,
    plan_adaptation,
    stage_one_key,
    stage_two_settings,
)
from stance.models.artifacts import (
    atomic_directory,
    verify_checksums,
    writable_target,
    write_metadata,
)
from stance.models.backbone import Backbone, resolve_backbone
from stance.models.precision import check_precision, resolve_precision
from stance.models.scratch import scratch_directory
from stance.models.training import (
    PreparedData,
    TrainResult,
    calibration_files,
    fit_calibration,
    prepare_data,
    run_record,
)

if TYPE_CHECKING:
    from stance.data.io import LabelledData

__all__ = [
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "TruncationWarning",
    "TransformerPredictor",
    "train_transformer",
    "choose_max_length",
    "balanced_class_weights",
]

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# A tokenizer needs its config plus one vocabulary file; which one depends on the tokenizer.
_VOCAB_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)
# Files a finished model directory must never contain (pickles and training state).
_FORBIDDEN_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_VALID_DEVICES = ("auto", "cpu", "cuda", "mps")
_VALID_DDP_BACKENDS = ("gloo", "nccl", "mpi", "ccl", "hccl", "xccl", "cncl", "mccl")


# Defined with the shared prediction code (one warning category for every backend); re-exported
# here for ``from stance.models.transformer import TruncationWarning``.
TruncationWarning = _TruncationWarning


# The most tokens "max_length: auto" chooses: covers the longest seed quote (about 200 tokens)
# while bounding the quadratic cost of attention on a rare very long text.
MAX_LENGTH_CAP = 256


# --- small, pure helpers -----------------------------------------------------------------------


def choose_max_length(
    lengths: Sequence[int], percentile: float, model_max: int, multiple: int = 8
) -> int:
    """The ``max_length: auto`` rule: a percentile of the token lengths, rounded up to a
    multiple of ``multiple``, at most ``model_max`` (and at least ``multiple``).

    Example:
        >>> choose_max_length([10, 20, 30, 41], percentile=100, model_max=512)
        48
    """
    if not lengths:
        return min(multiple, model_max)
    value = math.ceil(float(np.percentile(np.asarray(lengths), percentile)))
    value = max(multiple, math.ceil(value / multiple) * multiple)
    return int(min(value, model_max))


def balanced_class_weights(label_ids: Sequence[int], num_labels: int) -> list[float]:
    """``n / (k * count_c)`` per class, as scikit-learn's ``class_weight="balanced"``; a class
    absent from the training data gets 0 (it contributes no loss terms anyway).

    Example:
        >>> balanced_class_weights([0, 0, 0, 1], 2)
        [0.6666666666666666, 2.0]
    """
    counts = Counter(label_ids)
    n = len(label_ids)
    return [n / (num_labels * counts[c]) if counts[c] else 0.0 for c in range(num_labels)]


def _model_max_length(tokenizer: Any, model_config: Any) -> int:
    """The longest input the model accepts: its position embeddings and the tokenizer's limit."""
    limits = []
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:  # huge sentinel = "no limit set"
        limits.append(tok_max)
    pos = getattr(model_config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        # RoBERTa-style models reserve position ids for padding; their tokenizer limit is lower.
        limits.append(pos)
    return min(limits) if limits else 512


def _metrics(logits: np.ndarray, label_ids: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """n, accuracy, macro-F1 over every configured label (absent labels count as F1 = 0), per-label F1."""
    from stance.evaluation.metrics import split_scores

    pred = np.asarray(logits).argmax(axis=-1)
    return split_scores(np.asarray(label_ids, dtype=np.int64), pred.astype(np.int64), labels)


@contextlib.contextmanager
def _no_hf_progress_bars() -> Iterator[None]:
    """Hide transformers' own progress bars ("Loading weights") for the duration."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class _DropLoadReport(logging.Filter):
    """Drops transformers' weight-loading report; the caller decides what to say instead."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" in message:
            self.dropped.append(message)
            return False
        return True


# --- settings checks -----------------------------------------------------------------------


def _check_settings(config: TrainConfig) -> TransformerSettings:
    source = config.source or "config"
    if config.kind != "transformer" or config.transformer is None:
        raise ConfigError(
            f"{source}: train_transformer needs kind 'transformer', found {config.kind!r}"
        )
    t = config.transformer

    def bad(key: str, expected: str, found: Any) -> ConfigError:
        return ConfigError(
            f"{source}: key 'transformer.{key}': expected {expected}, found {found!r}"
        )

    if not isinstance(t.model_name_or_path, str) or not t.model_name_or_path.strip():
        # An empty value would train the default backbone under a config that names none.
        raise bad("model_name_or_path", "bundled:NAME, a local model directory or a hub id",
                  t.model_name_or_path)  # fmt: skip
    if t.device not in _VALID_DEVICES:
        raise bad("device", f"one of {', '.join(_VALID_DEVICES)}", t.device)
    if t.ddp_backend is not None and t.ddp_backend not in _VALID_DDP_BACKENDS:
        raise bad("ddp_backend", f"null or one of {', '.join(_VALID_DDP_BACKENDS)}", t.ddp_backend)
    if t.early_stopping_patience < 0:
        raise bad(
            "early_stopping_patience",
            "an integer >= 0 (0 = no early stopping)",
            t.early_stopping_patience,
        )
    if t.freeze_epochs < 0:
        raise bad("freeze_epochs", "an integer >= 0 (0 = no frozen epochs)", t.freeze_epochs)
    if t.freeze_train_top_layers < 0:
        raise bad("freeze_train_top_layers", "an integer >= 0", t.freeze_train_top_layers)
    if t.freeze_lower_layers < 0:
        raise bad("freeze_lower_layers", "an integer >= 0 (0 = train every layer)",
                  t.freeze_lower_layers)  # fmt: skip
    if t.gradient_accumulation_steps < 1:
        raise bad("gradient_accumulation_steps", "an integer >= 1", t.gradient_accumulation_steps)
    if t.weight_decay < 0:
        raise bad("weight_decay", "a number >= 0", t.weight_decay)
    return t


def _resolve_device(setting: str) -> tuple[bool, str]:
    """(use_cpu, device name) for the Trainer: ``auto`` = a GPU if there is one, else the CPU."""
    import torch

    if setting == "cpu":
        return True, "cpu"
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if setting == "cuda" and not has_cuda:
        raise ConfigError(
            "transformer.device is 'cuda' but no CUDA GPU is available; use 'auto' or 'cpu'"
        )
    if setting == "mps" and not has_mps:
        raise ConfigError(
            "transformer.device is 'mps' but no Apple GPU is available; use 'auto' or 'cpu'"
        )
    if setting == "auto" and not (has_cuda or has_mps):
        return True, "cpu"
    return False, "cuda" if (setting == "cuda" or (setting == "auto" and has_cuda)) else "mps"


# --- loading the backbone ------------------------------------------------------------------------


def _load_backbone(backbone: Backbone, labels: Sequence[str]) -> tuple[Any, Any, str | None]:
    """Tokenizer and a sequence classifier with a fresh head for ``labels``.

    Returns ``(tokenizer, model, note)``: ``note`` is a one-line remark for the terminal when the
    classifier head was newly initialised (expected when starting from an encoder checkpoint).

    Raises:
        ModelError: the backbone cannot be loaded (the message says why and what to do).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.modeling_utils import logger as modeling_logger

    common = {"local_files_only": backbone.local_files_only, "trust_remote_code": False}
    id2label = dict(enumerate(labels))
    label2id = {label: i for i, label in id2label.items()}
    report = _DropLoadReport()
    modeling_logger.addFilter(report)
    try:
        with _no_hf_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(backbone.path, **common)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                backbone.path,
                num_labels=len(labels),
                id2label=id2label,
                label2id=label2id,
                problem_type="single_label_classification",
                # A checkpoint that already has a head for other labels gets a fresh one.
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                **common,
            )
    except (OSError, ValueError, KeyError) as exc:
        first = first_line(exc)
        raise ModelError(
            f"cannot load backbone {backbone.name!r} from {backbone.path}: {first}; "
            "transformer.model_name_or_path must name a Hugging Face encoder (config.json, "
            "safetensors weights and tokenizer files)"
        ) from None
    finally:
        modeling_logger.removeFilter(report)

    # The head is new by design; anything else missing or unexpected is worth a warning.
    num_layers = getattr(model.config, "num_hidden_layers", None)
    prefix = getattr(model, "base_model_prefix", "") + "."
    new_keys = set(info.get("missing_keys") or ())
    new_keys |= {m[0] if isinstance(m, tuple) else m for m in info.get("mismatched_keys") or ()}
    head = {k for k in new_keys if not k.startswith(prefix)}
    # A checkpoint's pooler is unused where the classification head replaces it (MPNet,
    # RoBERTa): that is by design too, not a difference worth a warning.
    unexpected = {k for k in info.get("unexpected_keys") or () if "pooler" not in k.split(".")}
    surprising = (new_keys - head) | unexpected
    if surprising:
        warnings.warn(
            f"loading backbone {backbone.name!r}: unexpected weight differences "
            f"({', '.join(sorted(map(str, surprising))[:5])}{'...' if len(surprising) > 5 else ''}); "
            + ("\n".join(report.dropped) if report.dropped else ""),
            stacklevel=3,
        )
    note = None
    if head:
        names = sorted({k.rsplit(".", 1)[0] for k in head})
        note = (
            f"note: new classification head ({', '.join(names)}) initialised for "
            f"{len(labels)} labels on top of {backbone.name}"
            + (f" ({num_layers} layers)" if num_layers else "")
        )
    return tokenizer, model, note


# --- data ----------------------------------------------------------------------------------


def _token_lengths(tokenizer: Any, texts: Sequence[str], limit: int | None = None) -> list[int]:
    """Token counts including special tokens (counted up to ``limit`` when given)."""
    if not texts:
        return []
    kwargs: dict[str, Any] = {"add_special_tokens": True, "verbose": False}
    if limit is not None:
        kwargs.update(truncation=True, max_length=limit)
    encoded = tokenizer(
        list(texts), return_attention_mask=False, return_token_type_ids=False, **kwargs
    )
    return [len(ids) for ids in encoded["input_ids"]]


def _encode(
    tokenizer: Any, data: LabelledData, labels: Sequence[str], max_length: int
) -> list[dict[str, Any]]:
    """A map-style dataset (a list of feature dicts, unpadded) for the Trainer."""
    index = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer(list(data.texts), truncation=True, max_length=max_length, verbose=False)
    rows = []
    for i, label in enumerate(data.labels):
        row = {key: values[i] for key, values in encoded.items()}
        row["labels"] = index[label]
        rows.append(row)
    return rows


@contextlib.contextmanager
def _checkpoint_dir(output_dir: Path, world_size: int, is_main: bool) -> Iterator[Path]:
    """A hidden scratch folder beside the output for the Trainer's per-epoch checkpoints,
    removed when training ends, or by the next training if this one is killed
    (:mod:`stance.models.scratch`).

    Under torchrun every process must use the same folder (the best checkpoint is reloaded by
    each), so it is named from the run's rendezvous (run id, address, port); the main process
    creates, owns and removes it.
    """
    parent, prefix, name = output_dir.parent, f".{output_dir.name}.checkpoints-", None
    if world_size > 1:
        run = "|".join(
            os.environ.get(k, "") for k in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT")
        )
        name = prefix + hashlib.sha256(run.encode()).hexdigest()[:12]
        if not is_main:
            yield parent / name
            return
    with contextlib.ExitStack() as stack:
        with writable_target(output_dir):  # an unwritable parent: one line, not a traceback
            folder = stack.enter_context(scratch_directory(parent, prefix, name))
        yield folder


# --- training entry point ------------------------------------------------------------------


def train_transformer(
    config: TrainConfig,
    quiet: bool = True,
    data: PreparedData | None = None,
    stage_one_cache: StageOneCache | None = None,
) -> TrainResult:
    """Fine-tune a transformer on the training split and save it to ``config.output_dir``.

    Every epoch is evaluated on the validation split (macro-F1); the best epoch is kept
    (``load_best_model_at_end``) and training stops early after
    ``transformer.early_stopping_patience`` epochs without improvement. Per-epoch checkpoints
    go to a hidden temporary folder that is removed at the end, even on failure. The final
    directory is written atomically: an interrupted run leaves the previous model intact.

    Args:
        config: a config of kind ``transformer``.
        quiet: if False, show a progress bar per epoch and one summary line per epoch on
            stderr (main process only).
        data: already loaded splits (e.g. cross-validation folds held in memory); when None,
            the files in ``config.data`` are read with :func:`stance.models.training.prepare_data`.
        stage_one_cache: with ``transformer.adaptation_epochs``, where a finished first stage
            is kept and looked up (:mod:`stance.models.adaptation`); cross-validation passes
            one so that its folds train the shared first stage once.

    Returns:
        A :class:`stance.models.training.TrainResult`; ``metrics`` is ``{"train": {...},
        "validation": {...} or None}`` with ``n``, ``accuracy``, ``macro_f1``, ``per_label_f1``.
        On the non-main processes of a multi-process run, ``metadata`` is empty (only the main
        process saves).

    Raises:
        ConfigError: the config is not a transformer config or a setting is invalid.
        DataError: unreadable data or leakage.
        ModelError: the backbone cannot be loaded (e.g. a hub id without network).

    Example:
        >>> result = train_transformer(load_config("configs/transformer.yaml"))   # doctest: +SKIP
        >>> result.metadata["best_epoch"], result.metrics["validation"]["macro_f1"]  # doctest: +SKIP
    """
    settings = _check_settings(config)
    if data is None:
        data = prepare_data(config)
    if settings.distill_from:
        from stance.models.distill import check_teacher

        check_teacher(config, data.hashes.get(str(config.data.train)))
    backbone = resolve_backbone(settings.model_name_or_path)
    # transformers' own bars ("Loading weights", "Writing model shards") would clutter ours.
    with _no_hf_progress_bars():
        return _fit_and_save(config, settings, data, backbone, quiet, stage_one_cache)


@dataclass
class _RunSetup:
    """Where and how this process trains: its rank, its device, whether there is validation."""

    world_size: int
    is_main: bool
    show: bool
    use_cpu: bool
    device_name: str
    ddp_backend: str | None
    has_validation: bool
    patience: int
    precision: str  # "fp32" or "bf16" (resolved from the setting for this device)


@dataclass
class _Fitted:
    """What the training step hands on to saving and reporting."""

    model: Any
    metrics: dict[str, Any]
    train_seconds: float
    val_probs: np.ndarray | None
    history: list[dict[str, Any]]
    best_epoch: int | None
    learning_rates: Any
    # With adaptation: what stage two did (metadata "adaptation"); None for one stage.
    adaptation: dict[str, Any] | None = None
    # Statements per optimiser step: batch_size per device, times the GPUs one process drives
    # (DataParallel), the processes (torchrun) and gradient accumulation.
    effective_batch_size: int | None = None


def _fit_and_save(
    config: TrainConfig,
    settings: TransformerSettings,
    data: PreparedData,
    backbone: Backbone,
    quiet: bool,
    stage_one_cache: StageOneCache | None = None,
) -> TrainResult:
    """The body of :func:`train_transformer` (settings checked, data loaded, backbone resolved)."""
    labels = list(config.data.labels)
    from transformers import set_seed

    run = _run_setup(settings, data, quiet)
    # Seed before building the model: the new head's initial weights come from this RNG.
    set_seed(config.seed)
    tokenizer, model, note = _load_backbone(backbone, labels)
    if run.show and note:
        print(note, file=sys.stderr, flush=True)
    _freeze_lower(config, settings, backbone, model)
    max_length, length_stats = _choose_length(config, settings, data, backbone, tokenizer, model)
    train_rows, val_rows, distillation = _training_rows(
        config, data, run, labels, tokenizer, max_length
    )
    output_dir = Path(config.output_dir)
    stages = _Stages(config, settings, run, labels, tokenizer, val_rows)
    fitted, class_weights = _fit(stages, model, data, train_rows, max_length, stage_one_cache)
    if not run.is_main:
        return TrainResult(
            model_dir=output_dir,
            kind="transformer",
            metrics=fitted.metrics,
            train_seconds=fitted.train_seconds,
        )
    meta = _save_model_dir(
        output_dir,
        config,
        settings,
        data,
        backbone,
        run,
        labels,
        tokenizer,
        fitted,
        max_length,
        length_stats,
        class_weights,
        distillation,
    )
    if run.show:
        _print_summary(fitted, meta, output_dir)
    return TrainResult(
        model_dir=output_dir,
        kind="transformer",
        metrics=fitted.metrics,
        train_seconds=fitted.train_seconds,
        metadata=meta,
    )


def _training_rows(
    config: TrainConfig,
    data: PreparedData,
    run: _RunSetup,
    labels: list[str],
    tokenizer: Any,
    max_length: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The encoded training and validation rows; when distilling, each training row also
    carries the teacher's probabilities, and the teacher's record is returned for metadata."""
    train_rows = _encode(tokenizer, data.train, labels, max_length)
    val_rows = (
        _encode(tokenizer, data.validation, labels, max_length) if run.has_validation else None
    )
    if not config.transformer.distill_from:
        return train_rows, val_rows, None
    from stance.models.distill import TEACHER_KEY, teacher_probabilities

    if run.show:
        print(f"[train] teacher {config.transformer.distill_from}: predicting "
              f"{len(train_rows)} training texts", file=sys.stderr, flush=True)  # fmt: skip
    probs, record = teacher_probabilities(
        config, data.train.texts, data.hashes.get(str(config.data.train))
    )
    for row, p in zip(train_rows, probs.tolist()):
        row[TEACHER_KEY] = p
    return train_rows, val_rows, record


def _run_setup(settings: TransformerSettings, data: PreparedData, quiet: bool) -> _RunSetup:
    """Read this process's rank and device and decide whether validation drives training."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    is_main = int(os.environ.get("RANK", "0")) == 0
    use_cpu, device_name = _resolve_device(settings.device)
    has_validation = data.validation is not None and len(data.validation) > 0
    if settings.early_stopping_patience and not has_validation:
        warnings.warn(
            "no validation split: early stopping and best-epoch selection are off; the last epoch is kept",
            stacklevel=3,  # the caller of _fit_and_save, as before the split
        )
    return _RunSetup(
        world_size=world_size,
        is_main=is_main,
        show=not quiet and is_main,
        use_cpu=use_cpu,
        device_name=device_name,
        # Only under torchrun: in one process TrainingArguments would wait for a process group.
        ddp_backend=(settings.ddp_backend or ("gloo" if use_cpu else None))
        if world_size > 1
        else None,
        has_validation=has_validation,
        patience=settings.early_stopping_patience if has_validation else 0,
        precision=resolve_precision(settings.precision, device_name),
    )


def _freeze_lower(
    config: TrainConfig, settings: TransformerSettings, backbone: Backbone, model: Any
) -> None:
    """Apply ``freeze_lower_layers``, after checking it against the backbone's depth (only known
    once the model is loaded)."""
    count = settings.freeze_lower_layers
    if count == 0:
        return
    from stance.models.hf_trainer import count_layers, freeze_lower_layers

    num_layers = count_layers(n for n, _ in model.named_parameters())
    if count > num_layers:
        allowed = (
            f"an integer from 0 to {num_layers} (the encoder layers of {backbone.name})"
            if num_layers
            else f"0 (no encoder layers are recognised by name in {backbone.name})"
        )
        raise ConfigError(
            f"{config.source or 'config'}: key 'transformer.freeze_lower_layers': expected "
            f"{allowed}, found {count}; lower it, or set 0 to train every layer"
        )
    top = settings.freeze_train_top_layers if settings.freeze_epochs else 0
    if top + count > num_layers:
        raise ConfigError(
            f"{config.source or 'config'}: keys 'transformer.freeze_train_top_layers' ({top}) and "
            f"'transformer.freeze_lower_layers' ({count}): expected at most {num_layers} layers "
            f"together (the encoder layers of {backbone.name}), found {top + count}: the top "
            "layers trained in the frozen epochs would include layers that never train; lower "
            "one of them"
        )
    freeze_lower_layers(model, count)


def _choose_length(
    config: TrainConfig,
    settings: TransformerSettings,
    data: PreparedData,
    backbone: Backbone,
    tokenizer: Any,
    model: Any,
) -> tuple[int, dict[str, Any]]:
    """Choose the token limit quotes are cut at, and describe the token lengths around it."""
    model_max = _model_max_length(tokenizer, model.config)
    train_lengths = _token_lengths(tokenizer, data.train.texts)
    # "auto" looks at every split's texts, not only the training ones: the authored training
    # statements are shorter than real quotes, and a limit fitted to them alone cut the endings
    # of held-out quotes, where the stance often is. Lengths carry no label, so reading the
    # test texts' lengths leaks nothing. Dynamic padding and length-grouped batches keep the
    # cost proportional to real lengths; MAX_LENGTH_CAP bounds the worst case.
    all_lengths = train_lengths + [
        n
        for split in (data.validation, data.test)
        if split is not None
        for n in _token_lengths(tokenizer, split.texts)
    ]
    if settings.max_length == "auto":
        max_length = choose_max_length(
            all_lengths, settings.max_length_percentile, min(model_max, MAX_LENGTH_CAP)
        )
    else:
        max_length = int(settings.max_length)
        if max_length > model_max:
            raise ConfigError(
                f"{config.source or 'config'}: key 'transformer.max_length': expected at most {model_max} "
                f"(the limit of {backbone.name}), found {max_length}; lower it or use 'auto'"
            )
    length_stats = {
        "max_length": max_length,
        "chosen_by": (
            f"auto: p{settings.max_length_percentile:g} of all splits' token lengths, rounded up to a multiple of 8, at most {MAX_LENGTH_CAP}"
            if settings.max_length == "auto"
            else "config"
        ),
        "model_max_length": model_max,
        "train_token_length_p50": float(np.percentile(train_lengths, 50))
        if train_lengths
        else None,
        "train_token_length_p95": float(np.percentile(train_lengths, 95))
        if train_lengths
        else None,
        "train_token_length_max": max(train_lengths) if train_lengths else None,
        "train_truncated": int(sum(n > max_length for n in train_lengths)),
        "all_splits_truncated": int(sum(n > max_length for n in all_lengths)),
    }
    return max_length, length_stats


def _class_weights(
    settings: TransformerSettings, train_rows: list[dict[str, Any]], num_labels: int
) -> list[float] | None:
    """The loss weight of each label: balanced from the training counts, or none."""
    if settings.class_weighting != "balanced":
        return None
    return balanced_class_weights([row["labels"] for row in train_rows], num_labels)


def _train(
    config: TrainConfig,
    settings: TransformerSettings,
    run: _RunSetup,
    labels: list[str],
    model: Any,
    tokenizer: Any,
    train_rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]] | None,
    class_weights: list[float] | None,
) -> _Fitted:
    """Fine-tune with the Trainer, measure the kept model, and clean up its checkpoints."""
    started = time.perf_counter()
    checkpoints = _checkpoint_dir(Path(config.output_dir), run.world_size, run.is_main)
    with checkpoints as ckpt_dir, _restoring_trainer_globals():
        args = _training_arguments(config, settings, run, ckpt_dir)
        trainer, reporter = _build_trainer(
            settings, run, labels, model, tokenizer, args, train_rows, val_rows, class_weights
        )
        trainer.train()
        train_seconds = time.perf_counter() - started
        metrics, val_probs, best_epoch = _collect_metrics(
            trainer, reporter.history, labels, run, train_rows, val_rows, config.seed
        )
        trainer.accelerator.wait_for_everyone()  # no process may still read a checkpoint
        model = trainer.accelerator.unwrap_model(trainer.model)
        learning_rates = (
            trainer.layer_learning_rates() if settings.layerwise_lr_decay < 1.0 else None
        )
    return _Fitted(
        model=model,
        effective_batch_size=args.train_batch_size
        * args.world_size
        * args.gradient_accumulation_steps,
        metrics=metrics,
        train_seconds=train_seconds,
        val_probs=val_probs,
        history=reporter.history,
        best_epoch=best_epoch,
        learning_rates=learning_rates,
    )


@contextlib.contextmanager
def _restoring_trainer_globals() -> Iterator[None]:
    """The Trainer changes global state (log verbosity, deterministic kernels): restore it after."""
    import torch
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        torch.use_deterministic_algorithms(deterministic_before)


def _fit(
    stages: _Stages,
    model: Any,
    data: PreparedData,
    train_rows: list[dict[str, Any]],
    max_length: int,
    cache: StageOneCache | None,
) -> tuple[_Fitted, list[float] | None]:
    """Train in one stage, or in two when adaptation is on and the data allows it; return the
    result and the (stage one) class weights recorded in metadata."""
    s = stages
    # Real quotes are told by `source`, as `stance cv` folds tell them, whatever group_column is.
    plan = plan_adaptation(s.settings, data.train, s.config.seed)
    if plan is not None and plan.skipped:
        # stacklevel 4: the caller of train_transformer (past _fit and _fit_and_save).
        warnings.warn(f"adaptation skipped, training in one stage: {plan.skipped}", stacklevel=4)
    if plan is None or plan.skipped:
        weights = _class_weights(s.settings, train_rows, len(s.labels))
        fitted = _train(s.config, s.settings, s.run, s.labels, model, s.tokenizer, train_rows,
                        s.val_rows, weights)  # fmt: skip
        if plan is not None:
            fitted.adaptation = plan.record(s.settings)
        return fitted, weights
    # The key is computed only where a cache can use it (stance cv); it hashes every text.
    key = _stage_one_key(s.config, data, plan, max_length) if cache is not None else None
    return _train_two_stages(stages, model, train_rows, plan, cache, key)


@dataclass
class _Stages:
    """What both stages of an adapted training share."""

    config: TrainConfig
    settings: TransformerSettings
    run: _RunSetup
    labels: list[str]
    tokenizer: Any
    val_rows: list[dict[str, Any]] | None


def _stage_one_key(config: TrainConfig, data: PreparedData, plan: AdaptationPlan,
                   max_length: int) -> str:  # fmt: skip
    first = data.train.subset(plan.stage_one)
    return stage_one_key(config, first.texts, first.labels, data.validation, max_length)


def _train_two_stages(
    stages: _Stages,
    model: Any,
    train_rows: list[dict[str, Any]],
    plan: AdaptationPlan,
    cache: StageOneCache | None,
    key: str | None,
) -> tuple[_Fitted, list[float] | None]:
    """Stage one on the authored rows (taken from ``cache`` when it holds it), then stage two
    on the real quotes and the replayed rows. Returns the result and stage one's class weights.
    ``key`` is None exactly when ``cache`` is."""
    from transformers import set_seed

    s = stages
    rows_one = [train_rows[i] for i in plan.stage_one]
    weights_one = _class_weights(s.settings, rows_one, len(s.labels))
    first = cache.get(key) if key is not None else None
    reused = first is not None
    if first is None:
        first = _train(s.config, s.settings, s.run, s.labels, model, s.tokenizer, rows_one,
                       s.val_rows, weights_one)  # fmt: skip
        if key is not None:
            cache.put(key, first)
    settings_two = stage_two_settings(s.settings)
    rows_two = [train_rows[i] for i in plan.real + plan.replay]
    weights_two = _class_weights(settings_two, rows_two, len(s.labels))
    if s.run.show:
        print(f"[train] adaptation: {len(plan.real)} real quotes + {len(plan.replay)} replayed "
              f"statements, {settings_two.num_epochs} epochs at learning rate "
              f"{settings_two.learning_rate:g}" + (" (stage one reused)" if reused else ""),
              file=sys.stderr, flush=True)  # fmt: skip
    # Stage two's shuffling and dropout do not depend on how long stage one ran.
    set_seed(s.config.seed)
    # The validation split is authored: stage two keeps its last epoch, and validation only
    # scores it and fits the calibrator.
    run_two = dataclasses.replace(s.run, has_validation=False, patience=0)
    second = _train(s.config, settings_two, run_two, s.labels, first.model, s.tokenizer,
                    rows_two, s.val_rows, weights_two)  # fmt: skip
    record = {
        **plan.record(s.settings),
        "stage_one_reused": reused,
        "stage_one_seconds": round(first.train_seconds, 3),
        "stage_two_seconds": round(second.train_seconds, 3),
        # the top-level effective_batch_size is stage one's; stage two's may differ
        "stage_two_effective_batch_size": second.effective_batch_size,
        "stage_one_validation_macro_f1": (first.metrics.get("validation") or {}).get("macro_f1"),
        "stage_two_class_weights": (dict(zip(s.labels, weights_two))
                                    if weights_two is not None else None),
        "stage_two_history": second.history,
    }  # fmt: skip
    fitted = _Fitted(
        model=second.model,
        metrics=second.metrics,
        # A reused stage one cost this run nothing; its own time is recorded above.
        train_seconds=second.train_seconds + (0.0 if reused else first.train_seconds),
        val_probs=second.val_probs,
        history=first.history,
        best_epoch=first.best_epoch,
        learning_rates=first.learning_rates,
        adaptation=record,
        effective_batch_size=first.effective_batch_size,
    )
    return fitted, weights_one


def _training_arguments(
    config: TrainConfig, settings: TransformerSettings, run: _RunSetup, ckpt_dir: Path
) -> Any:
    """The Trainer's arguments: the settings, plus choices made for small data and safe saving."""
    from transformers import TrainingArguments

    has_validation = run.has_validation
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=settings.num_epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        # transformers 5.x: a warmup_steps value below 1 is a fraction of all steps.
        warmup_steps=settings.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="epoch" if has_validation else "no",
        # "best": a checkpoint is written only when validation macro-F1 improves.
        save_strategy="best" if has_validation else "no",
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=has_validation,
        metric_for_best_model="macro_f1" if has_validation else None,
        greater_is_better=True if has_validation else None,
        logging_strategy="epoch",
        report_to="none",
        disable_tqdm=True,  # EpochReporter draws our own bar per epoch
        log_level="warning",
        log_level_replica="error",
        seed=config.seed,
        data_seed=config.seed,
        # Deterministic kernels cost little on CPU; on GPU they can be slow or unsupported.
        full_determinism=run.use_cpu,
        use_cpu=run.use_cpu,
        # Mixed precision: fp32 weights and optimiser, bfloat16 matrix products (autocast).
        bf16=run.precision == "bf16",
        ddp_backend=run.ddp_backend,
        dataloader_num_workers=0,
        # Batches of similar length: with dynamic padding, the cost follows real lengths.
        train_sampling_strategy="group_by_length",
        # Every trained parameter gets a gradient (frozen epochs drop them after backward; DDP
        # does not track those that freeze_lower_layers froze), so DDP need not search for
        # unused ones.
        ddp_find_unused_parameters=False,
    )


def _build_trainer(
    settings: TransformerSettings,
    run: _RunSetup,
    labels: list[str],
    model: Any,
    tokenizer: Any,
    args: Any,
    train_rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]] | None,
    class_weights: list[float] | None,
) -> tuple[Any, Any]:
    """Build the Trainer with our epoch reporter, early stopping and macro-F1 metrics."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from stance.models.hf_trainer import EpochReporter, StanceTrainer

    reporter = EpochReporter(settings.num_epochs, run.has_validation, show=run.show)
    callbacks: list[Any] = [reporter]
    if run.patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run.patience))

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        m = _metrics(eval_pred.predictions, eval_pred.label_ids, labels)
        flat = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
        flat.update({f"f1_{label}": f for label, f in m["per_label_f1"].items()})
        return flat

    trainer = StanceTrainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=val_rows,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        class_weights=class_weights,
        layerwise_lr_decay=settings.layerwise_lr_decay,
        freeze_epochs=settings.freeze_epochs,
        freeze_train_top_layers=settings.freeze_train_top_layers,
        distill_weight=settings.distill_weight if settings.distill_from else 0.0,
        label_smoothing=settings.label_smoothing,
    )
    # Our reporter replaces the Trainer's bar and its printing of raw log dicts.
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    return trainer, reporter


def _collect_metrics(
    trainer: Any,
    history: list[dict[str, Any]],
    labels: list[str],
    run: _RunSetup,
    train_rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]] | None,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray | None, int | None]:
    """Score the kept model on (a sample of) train and on validation, and find the epoch it
    came from."""
    sample = _train_score_sample(len(train_rows), seed)
    out = trainer.predict([train_rows[i] for i in sample])
    train_metrics = _metrics(out.predictions, out.label_ids, labels)
    if len(sample) < len(train_rows):
        train_metrics["sampled_from"] = len(train_rows)
    metrics: dict[str, Any] = {"train": train_metrics, "validation": None}
    val_probs = None
    if val_rows:
        # The kept epoch's own validation pass, when the Trainer recorded it; else a new one.
        logits = trainer.kept_validation_logits()
        if logits is None:
            logits = trainer.predict(val_rows).predictions
        label_ids = np.array([row["labels"] for row in val_rows])
        metrics["validation"] = _metrics(logits, label_ids, labels)
        # Held-out probabilities of the kept model, for the calibrator (every rank predicts).
        val_probs = softmax(logits)
    best_epoch = None
    if run.has_validation and history:
        scores = [h.get("validation_macro_f1") or 0.0 for h in history]
        best_epoch = history[int(np.argmax(scores))]["epoch"]  # first best, as the Trainer keeps it
    return metrics, val_probs, best_epoch


def _train_score_sample(n: int, seed: int) -> list[int]:
    """Indices of the training rows to score: all of them up to ``TRAIN_SCORE_SAMPLE``, else a
    fixed random sample (same seed, same rows), in training order."""
    if n <= TRAIN_SCORE_SAMPLE:
        return list(range(n))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=TRAIN_SCORE_SAMPLE, replace=False).tolist())


def _save_model_dir(
    output_dir: Path,
    config: TrainConfig,
    settings: TransformerSettings,
    data: PreparedData,
    backbone: Backbone,
    run: _RunSetup,
    labels: list[str],
    tokenizer: Any,
    fitted: _Fitted,
    max_length: int,
    length_stats: dict[str, Any],
    class_weights: list[float] | None,
    distillation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the model directory atomically: weights, tokenizer, calibration, metadata, card."""
    with atomic_directory(output_dir) as tmp:
        fitted.model.save_pretrained(tmp)
        _save_tokenizer(tokenizer, tmp, max_length)
        _share_and_check_files(tmp, output_dir)
        tokenizer_files = sorted(
            p.name
            for p in tmp.iterdir()
            if p.name.startswith(
                ("tokenizer", "vocab", "special_tokens", "spiece", "merges", "added_tokens")
            )
        )
        calibration = fit_calibration(tmp, "transformer", fitted.val_probs, data.validation, labels)
        meta = write_metadata(
            tmp,
            kind="transformer",
            labels=labels,
            # The config holds id2label: a swapped label map would silently flip predictions,
            # so it is checksummed with the weights and the tokenizer.
            weight_files=[
                WEIGHTS_FILE,
                CONFIG_FILE,
                *tokenizer_files,
                *calibration_files(calibration),
            ],
            **run_record(config, data, labels, fitted.train_seconds, fitted.metrics),
            calibration=calibration,
            backbone={"name": backbone.name, "source": backbone.source, "path": backbone.path},
            max_length=max_length,
            token_lengths=length_stats,
            tokenizer_files=tokenizer_files,
            epochs_run=len(fitted.history) if fitted.history else settings.num_epochs,
            best_epoch=fitted.best_epoch,
            history=fitted.history,
            class_weights=dict(zip(labels, class_weights)) if class_weights is not None else None,
            distillation=distillation,
            adaptation=fitted.adaptation,
            layer_learning_rates=fitted.learning_rates,
            device=run.device_name,
            precision=run.precision,
            world_size=run.world_size,
            # transformer.batch_size is per device: what one optimiser step saw.
            effective_batch_size=fitted.effective_batch_size,
            num_parameters=int(sum(p.numel() for p in fitted.model.parameters())),
            # Fewer than num_parameters with transformer.freeze_lower_layers.
            trainable_parameters=int(
                sum(p.numel() for p in fitted.model.parameters() if p.requires_grad)
            ),
        )
        _write_card(tmp, meta, settings, backbone.name, max_length, fitted)
    return meta


def _save_tokenizer(tokenizer: Any, tmp: Path, max_length: int) -> None:
    """Save the tokenizer so that it truncates where training did, without loader arguments."""
    # The saved tokenizer truncates where training did, so plain pipeline() calls with
    # truncation=True see what the model was fine-tuned on.
    tokenizer.model_max_length = max_length
    # Loader arguments are not properties of the tokenizer; keep them out of its config.
    for key in ("local_files_only", "is_local", "trust_remote_code"):
        tokenizer.init_kwargs.pop(key, None)
    if "max_length" in tokenizer.init_kwargs:  # e.g. sentence-transformers' 128 default
        tokenizer.init_kwargs["max_length"] = max_length
    tokenizer.save_pretrained(tmp)


def _share_and_check_files(tmp: Path, output_dir: Path) -> None:
    """Give the saved files the umask's usual permissions and refuse any pickle files."""
    # transformers writes weights through a private (0600) temporary file; a model
    # directory is meant to be shared, so give every file the umask's usual permissions.
    mask = os.umask(0)
    os.umask(mask)
    for path in tmp.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~mask)
    leftovers = sorted(p.name for p in tmp.iterdir() if p.suffix in _FORBIDDEN_SUFFIXES)
    if leftovers:  # a library change started writing pickles: refuse rather than ship them
        raise ModelError(f"refusing to save non-safetensors files {leftovers} in {output_dir}")


def _write_card(
    tmp: Path,
    meta: dict[str, Any],
    settings: TransformerSettings,
    backbone_name: str,
    max_length: int,
    fitted: _Fitted,
) -> None:
    """Write the model card: description, limitations, training history, loading snippet."""
    from stance.models.model_card import write_model_card

    write_model_card(
        tmp,
        meta,
        title=f"Stance transformer: fine-tuned {backbone_name}",
        description=_card_description(
            backbone_name,
            max_length,
            meta["epochs_run"],
            fitted.best_epoch,
            settings,
            meta["effective_batch_size"],
        )
        + _PRECISION_NOTES[meta["precision"]],
        limitations=[lim.format(max_length=max_length) for lim in _CARD_LIMITATIONS],
        extra_sections={
            "Training history": _history_markdown(fitted.history, fitted.best_epoch),
            **(
                {"Adaptation": _adaptation_markdown(fitted.adaptation)} if fitted.adaptation else {}
            ),
            "Loading without this package": _PIPELINE_SNIPPET,
        },
    )


def _adaptation_markdown(record: dict[str, Any]) -> str:
    """The model card's account of stage two (or of why there was none)."""
    if record.get("skipped"):
        return f"Configured but skipped, so training ran in one stage: {record['skipped']}."
    reused = (
        " Stage one was reused from an identical earlier fold."
        if record["stage_one_reused"]
        else ""
    )
    first = record["stage_one_validation_macro_f1"]
    first = f"; validation macro-F1 {first:.3f}" if first is not None else ""
    # models saved before the stage-two batch was recorded have only the per-device size
    batch = record.get("stage_two_effective_batch_size") or record["batch_size"]
    return (
        f"Trained in two stages (`stance.models.adaptation`): first on {record['stage_one_rows']} "
        f"authored statements (the history above{first}), then {record['epochs']} epochs at learning "
        f"rate {record['learning_rate']:g} on {record['real_quotes']} real article quotes mixed with "
        f"{record['replayed_rows']} replayed authored statements, in batches of {batch} statements. "
        "The last epoch of stage two is "
        f"kept; the validation figures of this card are measured after it.{reused}"
    )


def _print_summary(fitted: _Fitted, meta: dict[str, Any], output_dir: Path) -> None:
    """Print one line on stderr: training time, epochs, validation macro-F1, where it was saved."""
    val = fitted.metrics["validation"]
    summary = f"transformer trained in {fitted.train_seconds:.1f}s ({meta['epochs_run']} epochs"
    summary += f", best epoch {fitted.best_epoch})" if fitted.best_epoch is not None else ")"
    if val:
        summary += f"; validation macro-F1 {val['macro_f1']:.3f}"
    print(f"{summary}; saved to {output_dir}", file=sys.stderr, flush=True)


def _card_description(
    backbone: str,
    max_length: int,
    epochs: int,
    best_epoch: int | None,
    t: TransformerSettings,
    effective_batch_size: int | None = None,
) -> str:
    loss = "class-weighted cross-entropy" if t.class_weighting == "balanced" else "cross-entropy"
    if t.label_smoothing > 0:
        loss = f"{loss} with label smoothing {t.label_smoothing:g}"
    if t.distill_from:
        # Why the student's scores follow another model: say so where users look first.
        loss = (f"{loss} on the gold labels mixed ({t.distill_weight:g} weight) with the calibrated "
                f"probabilities of the teacher model {t.distill_from} (distillation)")  # fmt: skip
    kept = (
        f"the weights of epoch {best_epoch} (best validation macro-F1) were kept"
        if best_epoch is not None
        else "the weights of the last epoch were kept (no validation split)"
    )
    if t.freeze_lower_layers:
        kept += (f"; the embeddings, the lowest {t.freeze_lower_layers} encoder layer(s) and "
                 "what runs below them (such as a shared relative-position bias) kept their "
                 "pre-trained weights (not trained)")  # fmt: skip
    batch = f"batches of {effective_batch_size or t.batch_size} statements"
    if effective_batch_size and effective_batch_size != t.batch_size:
        batch += (f" per optimiser step ({t.batch_size} per device, over all devices, "
                  f"processes and {t.gradient_accumulation_steps} accumulation step(s))")  # fmt: skip
    return (
        f"A transformer encoder ({backbone}) fine-tuned to classify the stance of quoted "
        f"statements. Quotes are cut at {max_length} tokens. Training ran for {epochs} epoch(s) "
        f"with {loss}, {batch}, learning rate {t.learning_rate:g} with {t.warmup_ratio:g} warm-up and weight "
        f"decay {t.weight_decay:g}; {kept}. The directory is a standard Hugging Face model "
        "directory (safetensors weights, no pickles) that `transformers.pipeline` loads directly."
    )


# Appended to the card's description: how the weights were trained, and that they are fp32.
_PRECISION_NOTES = {
    "fp32": "",
    "bf16": (
        " Matrix products ran in bfloat16 during training (mixed precision: the weights and the "
        "optimiser stayed fp32, and the saved weights are fp32)."
    ),
}

_CARD_LIMITATIONS = (
    "Text beyond {max_length} tokens is ignored (prediction warns how many quotes were cut).",
    "Fine-tuned on a few hundred examples: results vary with the random seed by a few points of "
    "macro-F1; compare models with grouped cross-validation (`stance cv`), not one split.",
)

_PIPELINE_SNIPPET = """```python
from transformers import pipeline
clf = pipeline("text-classification", model="MODEL_DIR", truncation=True)
clf("Federations gave us a real voice.")  # [{'label': 'support', 'score': ...}]
```"""


def _history_markdown(history: list[dict[str, Any]], best_epoch: int | None) -> str:
    if not history:
        return "No per-epoch history was recorded."
    lines = [
        "| epoch | train loss | validation macro-F1 | validation accuracy |",
        "|---|---|---|---|",
    ]
    for h in history:
        mark = " (kept)" if h["epoch"] == best_epoch else ""
        cells = [f"{h['epoch']}{mark}"] + [
            f"{h[k]:.3f}" if isinstance(h.get(k), (int, float)) else "–"
            for k in ("train_loss", "validation_macro_f1", "validation_accuracy")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- prediction ------------------------------------------------------------------------------


class TransformerPredictor(TokenPredictor):
    """A loaded fine-tuned transformer: probabilities in the column order of ``metadata["labels"]``.

    Usually obtained through ``stance.load("models/transformer")``. Loading
    (:meth:`from_dir`) and inference (:meth:`predict_proba`) are separate so that another
    backend can reuse either.

    Attributes:
        model: the ``AutoModelForSequenceClassification``, in eval mode.
        tokenizer: its tokenizer.
        max_length: inputs are cut at this many tokens (the training value).
        device: the torch device the model runs on.
        precision: "fp32" or "bf16" (see :mod:`stance.models.precision`).
    """

    kind = "transformer"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        labels: Sequence[str],
        max_length: int,
        model_dir: str | Path | None = None,
        metadata: dict | None = None,
    ):
        super().__init__(labels, model_dir, metadata)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        first = next(model.parameters())
        self.device = first.device
        # "bf16" when loaded with precision auto/bf16 on hardware that multiplies it natively.
        self.precision = "bf16" if str(first.dtype) == "torch.bfloat16" else "fp32"
        label2id = {str(k): int(v) for k, v in (model.config.label2id or {}).items()}
        where = Path(model_dir) / CONFIG_FILE if model_dir is not None else "model config"
        self._columns = label_columns(label2id, self.labels, where)

    @classmethod
    def from_dir(
        cls,
        model_dir: Path,
        metadata: dict[str, Any],
        device: str | None = None,
        precision: str = DEFAULT_PRECISION,
        **options: Any,
    ) -> TransformerPredictor:
        """Load a model directory written by :func:`train_transformer`.

        Args:
            model_dir: the directory.
            metadata: its parsed ``metadata.json``.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``...; None or ``"auto"`` = a
                GPU if there is one, else the CPU.
            precision: one of :data:`~stance.constants.PRECISIONS`: ``"auto"`` runs in
                bfloat16 where the device multiplies it natively (same labels as fp32 on every
                real dev and test quote, a fraction of the time), else fp32; ``"fp32"``
                reproduces the fp32 numbers exactly (:mod:`stance.models.precision`).

        Raises:
            ModelError: a missing file (named), a checksum mismatch, or labels that disagree
                between ``config.json`` and ``metadata.json``.
            TypeError: an unknown option.
        """
        if options:
            raise TypeError(
                f"unknown option(s) {', '.join(sorted(options))} for a transformer model "
                "(allowed: device, precision)"
            )
        try:  # before loading anything: a typo should not cost a model load
            check_precision(precision)
        except ValueError as exc:
            raise ValueError(f"{exc} (auto = bf16 where the hardware supports it)") from None
        model_dir = Path(model_dir)
        _check_files(model_dir, metadata)
        verify_checksums(model_dir, metadata)
        _limit_torch_threads()
        model, tokenizer = _load_model_dir(model_dir, device)
        _apply_precision(model, precision)
        max_length = metadata.get("max_length") or _model_max_length(tokenizer, model.config)
        return cls(
            model, tokenizer, metadata["labels"], max_length, model_dir=model_dir, metadata=metadata
        )

    def predict_proba_counted(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[np.ndarray, int]:
        """``(probabilities, number of texts cut at max_length)``, without warning.

        A fast tokenizer goes through :class:`~stance.inference.predictor.TokenBatcher` (tokenized once,
        the same batches as the ONNX backend); a slow one through the tokenizer's own call.
        """
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not texts:
            return out, 0
        batcher = self._batcher()
        with torch.inference_mode():
            if batcher is not None:
                encodings, cut = batcher.encode(texts)
                for idx, feed in batcher.batches(encodings, batch_size):
                    batch = {k: torch.from_numpy(v).to(self.device) for k, v in feed.items()}
                    logits = self.model(**batch).logits.float().cpu().numpy()
                    out[idx] = softmax(logits)[:, self._columns]
                return out, cut
            lengths = _token_lengths(self.tokenizer, texts, limit=self.max_length + 1)
            cut = sum(n > self.max_length for n in lengths)
            order = np.argsort(lengths, kind="stable")
            step = max(int(batch_size), 1)
            for start in range(0, len(texts), step):
                idx = order[start : start + step]
                batch = self.tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)  # fmt: skip
                logits = self.model(**batch).logits.float().cpu().numpy()
                out[idx] = softmax(logits)[:, self._columns]
        return out, cut

    def _batcher(self) -> TokenBatcher | None:
        """The shared fast batcher, built on first use (None for a slow tokenizer)."""
        if getattr(self, "_token_batcher", False) is False:
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            pad_id = self.tokenizer.pad_token_id
            names = [
                n for n in ("input_ids", "attention_mask", "token_type_ids")
                if n in self.tokenizer.model_input_names or n == "input_ids"
            ]  # fmt: skip
            self._token_batcher = (
                TokenBatcher(backend, self.max_length, pad_id, names)
                if backend is not None and pad_id is not None
                else None
            )
        return self._token_batcher


def _apply_precision(model: Any, setting: str) -> None:
    """Cast ``model`` to bfloat16 if ``setting`` (already checked) resolves to it on the model's
    device. Casting the weights once, rather than autocasting each call, is what makes single
    quotes faster too: nothing is converted at call time."""
    import torch

    resolved = resolve_precision(setting, str(next(model.parameters()).device))
    if resolved == "bf16":
        model.to(torch.bfloat16)


def _limit_torch_threads() -> None:
    """Never run more torch threads than the cores this process may use: torch sizes its pool
    from the host's cores, and in a container limited to a few of them oversubscription makes
    inference several times slower."""
    import torch

    usable = available_cpus()
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)


def _check_files(model_dir: Path, metadata: dict[str, Any]) -> None:
    """Name the first missing file of a transformer model directory."""
    required = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_CONFIG_FILE]
    for name in required:
        if not (model_dir / name).is_file():
            raise ModelError(
                f"{model_dir / name}: missing; the transformer model directory is incomplete "
                f"(expected {', '.join(required)} and tokenizer vocabulary files) - retrain or restore it"
            )
    recorded = metadata.get("tokenizer_files") or []
    for name in recorded:
        if not (model_dir / name).is_file():
            raise ModelError(
                f"{model_dir / name}: missing tokenizer file; the model directory is incomplete"
            )
    if not recorded and not any((model_dir / name).is_file() for name in _VOCAB_FILES):
        raise ModelError(
            f"{model_dir}: no tokenizer vocabulary file (expected one of {', '.join(_VOCAB_FILES)})"
        )


def _check_device_available(torch: Any, device: Any) -> None:
    """A one-line ModelError for a device this machine lacks (torch would fail with an
    AssertionError deep inside ``model.to``)."""
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            found = "no CUDA GPU" if count == 0 else f"{count} CUDA GPU(s)"
            raise ModelError(
                f"device {str(device)!r} is not available: this machine has {found}"
                f"{' (torch built without CUDA)' if not torch.backends.cuda.is_built() else ''}; "
                "use --device cpu (device='cpu') or leave it unset"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(
            "device 'mps' is not available on this machine; use --device cpu (device='cpu') "
            "or leave it unset"
        )


def _load_model_dir(model_dir: Path, device: str | None) -> tuple[Any, Any]:
    """Model (eval mode, on ``device``) and tokenizer of a saved model directory; no network."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(
            f"device {device!r} is not a torch device (expected e.g. 'cpu', 'cuda', 'cuda:0', 'mps')"
        ) from None
    _check_device_available(torch, torch_device)
    try:
        with _no_hf_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(
                model_dir, local_files_only=True, trust_remote_code=False
            )
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, local_files_only=True, trust_remote_code=False, use_safetensors=True
            )
    except (OSError, ValueError, KeyError) as exc:
        first = first_line(exc)
        raise ModelError(
            f"{model_dir}: cannot load the transformer model ({first}); retrain or restore it"
        ) from None
    model.eval()
    model.to(torch_device)
    return model, tokenizer
