"""The main job: train both models, evaluate them on every evaluation set, write the report.

:func:`run_experiment` (``stance experiment``) does, in order:

1. trains the baseline and the transformer on the training split of their configs
   (``configs/baseline.yaml``, ``configs/transformer.yaml``), saving each to the config's
   ``output_dir`` as ``stance train`` would;
2. scores both on the test split (``data.test``, the same file in both configs: whole seed
   articles held out of training) with :func:`stance.evaluation.evaluate.compare`: accuracy and
   macro-F1 with intervals (whole articles resampled), a majority-class reference, the paired
   bootstrap of the macro-F1 difference and McNemar's test;
3. does the same on every extra evaluation file (default: those of
   :data:`stance.constants.EXTRA_EVAL_PATHS` that exist: the test quotes that are not worked
   examples in the guidelines, and the development set of real positions), each checked before
   any training to be held out (not a training or validation split, no training text);
4. optionally (``cv=True``) runs leave-one-article-out cross-validation of both models;
5. writes the report (``report.md``, PNGs, ``experiment.json``) to ``reports/<UTC time>/``,
   and copies it to ``docs/report/`` (the committed copy the README links to) only when
   asked (``docs_dir``), so a plain run leaves the repository's tracked files untouched.

Example:
    >>> result = run_experiment(quiet=True)                                     # doctest: +SKIP
    >>> print(comparison_text(result["comparison"]))                            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stance.config import TrainConfig, load_config
from stance.constants import (
    ACCURATE_TRANSFORMER_CONFIG,
    BASELINE_CONFIG,
    DEFAULT_RESAMPLES,
    DOCS_REPORT_DIR,
    EXTRA_EVAL_PATHS,
    REPORTS_DIR,
    TRANSFORMER_CONFIG,
)
from stance.errors import ConfigError, DataError
from stance.models.artifacts import (
    atomic_directory,
    atomic_file,
    ensure_directory,
    library_versions,
)

__all__ = [
    "DEFAULT_BASELINE_CONFIG",
    "DEFAULT_TRANSFORMER_CONFIG",
    "DEFAULT_DOCS_DIR",
    "choose_transformer_config",
    "extra_eval_files",
    "run_experiment",
]

# Kept under their old names for callers; the values live in stance.constants.
DEFAULT_BASELINE_CONFIG = BASELINE_CONFIG
DEFAULT_TRANSFORMER_CONFIG = TRANSFORMER_CONFIG
DEFAULT_DOCS_DIR = DOCS_REPORT_DIR
REPORT_JSON = "experiment.json"


def choose_transformer_config(
    accurate: bool | None = None, transformer_config: str | Path | None = None
) -> tuple[Path, str]:
    """Which transformer config the main job trains, and why (a line for the log).

    ``accurate`` True/False asks for :data:`~stance.constants.ACCURATE_TRANSFORMER_CONFIG`
    (an ensemble of three seeds, beyond the 30-minute CPU budget) or the default; None chooses
    the accurate one where a CUDA GPU is present, since there it fits the time budget.
    ``transformer_config`` overrides both (and cannot be combined with ``accurate=True``).

    Raises:
        ConfigError: ``transformer_config`` given together with ``accurate=True``.
    """
    if transformer_config is not None:
        if accurate:
            raise ConfigError(
                "--accurate chooses the transformer config itself "
                f"({ACCURATE_TRANSFORMER_CONFIG}); drop --accurate or --transformer-config"
            )
        return Path(transformer_config), "the config given"
    if accurate is None:
        accurate = _has_cuda()
        why = "a CUDA GPU is present" if accurate else "no GPU (--accurate to run it anyway)"
        if accurate:
            return Path(ACCURATE_TRANSFORMER_CONFIG), f"the accurate ensemble: {why}"
        return Path(TRANSFORMER_CONFIG), f"the default model: {why}"
    if accurate:
        return Path(ACCURATE_TRANSFORMER_CONFIG), "the accurate ensemble (--accurate)"
    return Path(TRANSFORMER_CONFIG), "the default model (--no-accurate)"


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def _load(config: TrainConfig | str | Path, kind: str) -> TrainConfig:
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    if cfg.kind != kind:
        raise ConfigError(
            f"{cfg.source or config}: expected a config of kind '{kind}', found kind '{cfg.kind}'"
        )
    return cfg


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _report_subdir(root: Path, stamp: str) -> Path:
    # One directory per run; a second run within the same second gets a suffix.
    target = root / stamp
    n = 1
    while target.exists():
        n += 1
        target = root / f"{stamp}-{n}"
    return target


def _check_docs_dir(path: Path) -> None:
    """Refuse a docs directory that exists and does not look like an earlier report copy.

    An earlier copy holds report.md or experiment.json, or only figures (.png); anything else
    (a folder of notes, a mistyped path) would be deleted by the copy, so it is an error.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"{path}: --docs-dir is a file; choose another directory")
    entries = list(path.iterdir())
    earlier_report = any(p.name in (REPORT_JSON, "report.md") for p in entries) or all(
        p.is_file() and p.suffix == ".png" for p in entries
    )
    if not earlier_report:
        raise ConfigError(
            f"{path}: --docs-dir holds other files and is not an earlier report (no report.md or "
            f"{REPORT_JSON}); the report copy would replace them. Choose another directory or empty it"
        )


def extra_eval_files(extra_eval: Sequence[str | Path] | None = None) -> list[str]:
    """The extra evaluation files of a run: the given ones (each must exist), or by default
    those of :data:`~stance.constants.EXTRA_EVAL_PATHS` that exist."""
    if extra_eval is None:
        return [p for p in EXTRA_EVAL_PATHS if Path(p).is_file()]
    for path in extra_eval:
        if not Path(path).is_file():
            raise DataError(path, "extra evaluation file not found; pass an existing labelled file")
    return [str(p) for p in extra_eval]


COLUMNS = ("text_column", "label_column", "group_column")


def _check_columns(configs: dict[str, TrainConfig]) -> None:
    """Refuse configs that name different columns: both models are scored on the same files,
    read (and their articles grouped) with one set of column names."""
    base, trans = (cfg.data for cfg in configs.values())
    differ = [f"data.{c} {getattr(base, c)!r} and {getattr(trans, c)!r}" for c in COLUMNS
              if getattr(base, c) != getattr(trans, c)]  # fmt: skip
    if differ:
        raise ConfigError(
            f"the two configs name different columns ({'; '.join(differ)}); both models are "
            "scored on the same files, so set the same data.text_column, data.label_column and "
            "data.group_column in both"
        )


def _check_output_dirs(configs: dict[str, TrainConfig]) -> None:
    """Refuse output folders that are the same or nested: the second model saved would replace
    (or sit inside) the first, and the comparison would score one model under two names."""
    (a, path_a), (b, path_b) = ((n, Path(c.output_dir).resolve()) for n, c in configs.items())
    if path_a == path_b or path_a in path_b.parents or path_b in path_a.parents:
        raise ConfigError(
            f"expected separate output folders for the two models, found {a} "
            f"{configs[a].output_dir} and {b} {configs[b].output_dir} (the same folder or one "
            "inside the other); give each config its own output_dir"
        )


def _check_extra_held_out(configs: dict[str, TrainConfig], files: Sequence[str]) -> None:
    """Refuse, before training, an extra evaluation file that is not held out from training.

    The report calls every extra set held out, so a file must be neither config's training or
    validation split (same path or same sha256), and its texts go through the same leakage
    check as the test split (:func:`~stance.models.training.check_leakage`, under each config's
    ``data.leakage``) against both: validation chooses the epoch and fits the calibration, so a
    text there is not held out either. Reading the file now also fails a wrong column or label
    before training.
    """
    from stance.data.io import load_labelled
    from stance.evaluation.evaluate import load_eval_data
    from stance.models.artifacts import file_sha256
    from stance.models.training import check_leakage

    d = configs["baseline"].data  # the columns agree (_check_columns)
    splits = {(cfg.source, role, path): file_sha256(path) for cfg in configs.values()
              for role, path in (("training", cfg.data.train), ("validation", cfg.data.validation))
              if path}  # fmt: skip
    seen = {path: load_labelled(path, labels=cfg.data.labels, text_column=d.text_column,
                                label_column=d.label_column)
            for cfg in configs.values() for path in (cfg.data.train, cfg.data.validation)
            if path}  # fmt: skip
    for path in files:
        digest = file_sha256(path)
        for (source, role, split), split_digest in splits.items():
            if Path(split).resolve() == Path(path).resolve() or split_digest == digest:
                raise DataError(
                    path,
                    f"expected a held-out extra evaluation file, found the {role} split of "
                    f"{source} ({split}, same file or same sha256); pass a file neither model "
                    "trains or validates on, or --no-extra-eval",
                )
        data = load_eval_data(path, d.labels, d.text_column, d.label_column, "the models")
        for cfg in configs.values():
            for role, split in (("training", cfg.data.train), ("validation", cfg.data.validation)):
                if split:
                    check_leakage(data, "extra evaluation", seen[split], role, cfg.data.leakage)


def _check_inputs(configs: dict[str, TrainConfig], docs_dir: str | Path | None,
                  report_dir: str | Path | None) -> str:  # fmt: skip
    """Fail before minutes of training: the shared test file, split files, output paths."""
    from stance.models.training import check_output_dir

    tests = {name: cfg.data.test for name, cfg in configs.items()}
    for name, test in tests.items():
        if not test:
            raise ConfigError(
                f"{configs[name].source}: data.test is not set; the experiment needs a test split"
            )
    if len({str(Path(t).resolve()) for t in tests.values()}) != 1:  # type: ignore[arg-type]
        raise ConfigError(
            f"the two configs name different test files ({tests['baseline']} and {tests['transformer']}); "
            "a paired comparison needs both models scored on the same quotes"
        )
    for cfg in configs.values():
        for split in (cfg.data.train, cfg.data.validation, cfg.data.test):
            if split and not Path(split).exists():
                raise DataError(
                    split,
                    f"file not found (named by {cfg.source}); create the splits with "
                    "`stance data split` or point the config's data section at existing files",
                )
    _check_columns(configs)
    _check_output_dirs(configs)
    # Both model directories and the docs copy replace what is at their path: refuse, before
    # any training, a path holding something else (a mistyped --docs-dir would be deleted).
    for cfg in configs.values():
        check_output_dir(Path(cfg.output_dir))
    if docs_dir is not None:
        _check_docs_dir(Path(docs_dir))
    if report_dir is not None:
        ensure_directory(report_dir)  # a file in the way fails now, not after training
    return str(tests["baseline"])


# What training did with the validation split, per model kind, for the report: the baseline's
# C comes from grouped cross-validation on the training split (select_C), so validation only
# fits its calibration; a transformer (or ensemble member) keeps its best epoch there.
VALIDATION_USE = {
    "baseline": "validation fitted the calibration only; C was chosen by grouped "
    "cross-validation on the training split; not a test result",
    "transformer": "validation chose the best epoch and fitted the calibration: model "
    "selection, not a held-out score",
}


def _train_all(configs: dict[str, TrainConfig], quiet: bool,
               timings: dict[str, float]) -> list[dict[str, Any]]:  # fmt: skip
    from stance.models.training import train

    training = []
    for name, cfg in configs.items():
        _log(quiet, f"[experiment] training the {name} ({cfg.source}) ...")
        t0 = time.perf_counter()
        result = train(cfg, quiet=quiet)
        timings[f"train_{name}"] = round(time.perf_counter() - t0, 3)
        training.append({
            "name": name, "kind": result.kind, "config": cfg.source, "model_dir": str(result.model_dir),
            "train_seconds": round(result.train_seconds, 3),
            "validation": (result.metrics or {}).get("validation"),
            "validation_use": VALIDATION_USE.get(result.kind, VALIDATION_USE["transformer"]),
        })  # fmt: skip
        _log(
            quiet,
            f"[experiment] {name} trained in {timings[f'train_{name}']:.1f}s -> {result.model_dir}",
        )
    return training


def _evaluate_all(training: list[dict[str, Any]], files: Sequence[str], config: TrainConfig,
                  quiet: bool, n_resamples: int, seed: int) -> list[dict[str, Any]]:  # fmt: skip
    """One :func:`~stance.evaluation.evaluate.compare` result per evaluation file, in order,
    each read with the configs' columns (they agree: :func:`_check_columns`) as training read
    its splits, and its intervals resampling the articles of ``data.group_column``."""
    from stance.evaluation.evaluate import compare

    results = []
    for path in files:
        _log(quiet, f"[experiment] evaluating both on {path} ...")
        result = compare(
            [t["model_dir"] for t in training], path, n_resamples=n_resamples, seed=seed,
            names=[t["name"] for t in training], text_column=config.data.text_column,
            label_column=config.data.label_column, group_column=config.data.group_column,
        )  # fmt: skip
        results.append({"set": Path(path).stem, **result})
    return results


def _cross_validate_all(configs: dict[str, TrainConfig], cv_folds: int | None, quiet: bool,
                        n_resamples: int, seed: int) -> list[dict[str, Any]]:  # fmt: skip
    from stance.evaluation.evaluate import cross_validate

    results = []
    for name, cfg in configs.items():
        _log(quiet, f"[experiment] leave-one-article-out CV of the {name} ...")
        result = cross_validate(
            cfg, folds=cv_folds, quiet=quiet, n_resamples=n_resamples, seed=seed
        )
        results.append({"name": name, **result})
    return results


def run_experiment(
    baseline_config: TrainConfig | str | Path = BASELINE_CONFIG,
    transformer_config: TrainConfig | str | Path = TRANSFORMER_CONFIG,
    report_dir: str | Path | None = REPORTS_DIR,
    docs_dir: str | Path | None = None,
    quiet: bool = False,
    cv: bool = False,
    cv_folds: int | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    extra_eval: Sequence[str | Path] | None = None,
) -> dict[str, Any]:
    """Train the baseline and the transformer, compare them on every evaluation set, write the report.

    Args:
        baseline_config: config (or its path) of kind ``baseline``.
        transformer_config: config (or its path) of kind ``transformer``.
        report_dir: the report goes to ``<report_dir>/<UTC time>/``; None writes no report.
        docs_dir: if given, a copy of the report replaces this directory (the committed copy is
            :data:`~stance.constants.DOCS_REPORT_DIR`; ``stance experiment --docs``).
        quiet: no progress on stderr.
        cv: also run leave-one-article-out cross-validation of both models (over
            ``data.corpus``); adds minutes (one training per article per model).
        cv_folds: with ``cv``, only the first this many folds.
        n_resamples, seed: bootstrap settings of every interval and test.
        extra_eval: files to score both models on besides the test split (each must exist and
            be held out: neither config's training or validation split, and no training text
            under ``data.leakage: error``); None: those of
            :data:`~stance.constants.EXTRA_EVAL_PATHS` that exist; [] for none.

    Returns:
        ``{"created_utc", "stance_version", "training": [{name, kind, config, model_dir,
        train_seconds, validation, validation_use}], "comparison": <compare result on the test
        split>, "extra": [<compare result + "set">, ...], "cv": [<cross_validate result + name>]
        or None, "timings", "versions", "machine", "report_dir", "docs_dir"}``.

    Raises:
        ConfigError: a config is of the wrong kind, has no test split, the two configs name
            different test files or columns, or the same (or nested) output folders, or
            ``cv_folds`` is given without ``cv``.
        DataError: a split or extra file is missing, an extra file is a training or validation
            split or shares texts with training (``data.leakage: error``), or from training and
            evaluation.
        ModelError: from loading the trained models.
    """
    from stance import __version__

    if cv_folds is not None and not cv:
        raise ConfigError("--cv-folds applies to cross-validation; add --cv or drop --cv-folds")
    started = time.perf_counter()
    machine = _machine()
    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    configs = {
        "baseline": _load(baseline_config, "baseline"),
        "transformer": _load(transformer_config, "transformer"),
    }
    test_path = _check_inputs(configs, docs_dir, report_dir)
    extra_files = extra_eval_files(extra_eval)
    _check_extra_held_out(configs, extra_files)
    timings: dict[str, float] = {}
    training = _train_all(configs, quiet, timings)
    t0 = time.perf_counter()
    comparison, *extra = _evaluate_all(
        training, [test_path, *extra_files], configs["baseline"], quiet, n_resamples, seed
    )
    timings["evaluate"] = round(time.perf_counter() - t0, 3)
    cv_results = None
    if cv:
        t0 = time.perf_counter()
        cv_results = _cross_validate_all(configs, cv_folds, quiet, n_resamples, seed)
        timings["cross_validation"] = round(time.perf_counter() - t0, 3)
    experiment: dict[str, Any] = {
        "created_utc": created.isoformat(), "stance_version": __version__, "training": training,
        "comparison": comparison, "extra": extra, "cv": cv_results, "timings": timings,
        "versions": library_versions(), "machine": machine, "report_dir": None, "docs_dir": None,
    }  # fmt: skip
    if report_dir is not None:
        stamp = created.strftime("%Y%m%dT%H%M%SZ")
        _write_report(experiment, _report_subdir(Path(report_dir), stamp), docs_dir, started)
        _log(quiet, f"[experiment] report written to {experiment['report_dir']}"
                    + (f" and copied to {docs_dir}" if docs_dir else ""))  # fmt: skip
    timings["total"] = round(time.perf_counter() - started, 3)
    return experiment


def _write_report(experiment: dict[str, Any], out: Path, docs_dir: str | Path | None,
                  started: float) -> None:  # fmt: skip
    """report.md + figures + experiment.json into ``out``; with ``docs_dir``, a copy there."""
    from stance.evaluation.report import write_experiment_report

    t0 = time.perf_counter()
    timings = experiment["timings"]
    experiment["report_dir"] = str(out)
    experiment["docs_dir"] = str(docs_dir) if docs_dir is not None else None
    # The Markdown shows the total up to here; experiment.json adds the report stage. A rerun of
    # the evaluation (scripts/reevaluate_experiment.py) keeps the original run's load average.
    experiment["machine"].setdefault("load_average_at_end", _machine()["load_average_1_5_15min"])
    timings["total"] = round(time.perf_counter() - started, 3)
    write_experiment_report(experiment, out)
    timings["report"] = round(time.perf_counter() - t0, 3)
    timings["total"] = round(time.perf_counter() - started, 3)
    with atomic_file(out / REPORT_JSON) as fh:
        json.dump(experiment, fh, indent=2, allow_nan=False)
        fh.write("\n")
    if docs_dir is not None:
        # Replace the whole directory, so figures of an older run never linger beside new ones.
        with atomic_directory(Path(docs_dir)) as tmp:
            for path in out.iterdir():
                if path.is_file():
                    shutil.copy2(path, tmp / path.name)


def _machine() -> dict[str, Any]:
    """CPU count and load when the run starts: timings mean little without them."""
    import os
    import platform

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # not on every platform
        load = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpus": usable, "load_average_1_5_15min": load, "platform": platform.platform()}
