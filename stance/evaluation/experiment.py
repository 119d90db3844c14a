"""The main job: train both models, evaluate them on the held-out test split, write the report.

:func:`run_experiment` (``stance experiment``) does, in order:

1. trains the baseline and the transformer on the training split of their configs
   (``configs/baseline.yaml``, ``configs/transformer.yaml``), saving each to the config's
   ``output_dir`` as ``stance train`` would;
2. scores both on the test split (``data.test``, the same file in both configs: whole seed
   articles held out of training) with :func:`stance.evaluation.evaluate.compare`: accuracy and
   macro-F1 with bootstrap intervals, a majority-class reference, the paired bootstrap of the
   macro-F1 difference and McNemar's test;
3. optionally (``cv=True``) runs leave-one-article-out cross-validation of both models;
4. writes the report (``report.md``, PNGs, ``experiment.json``) to ``reports/<UTC time>/`` and
   copies it to ``docs/report/`` (the committed copy the README links to).

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
from pathlib import Path
from typing import Any

from stance.config import TrainConfig, load_config
from stance.constants import DEFAULT_RESAMPLES, REPORTS_DIR
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
    "run_experiment",
]

DEFAULT_BASELINE_CONFIG = "configs/baseline.yaml"
DEFAULT_TRANSFORMER_CONFIG = "configs/transformer.yaml"
DEFAULT_DOCS_DIR = "docs/report"
REPORT_JSON = "experiment.json"


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
    """Refuse a --docs-dir that exists and does not look like an earlier report copy.

    An earlier copy holds report.md or experiment.json, or only figures (.png); anything else
    (a folder of notes, a mistyped path) would be deleted by the copy, so it is an error.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(
            f"{path}: --docs-dir is a file; choose another directory or pass --no-docs"
        )
    entries = list(path.iterdir())
    earlier_report = any(p.name in (REPORT_JSON, "report.md") for p in entries) or all(
        p.is_file() and p.suffix == ".png" for p in entries
    )
    if not earlier_report:
        raise ConfigError(
            f"{path}: --docs-dir holds other files and is not an earlier report (no report.md or "
            f"{REPORT_JSON}); the report copy would replace them. Choose another directory, empty "
            "it, or pass --no-docs"
        )


def run_experiment(
    baseline_config: TrainConfig | str | Path = DEFAULT_BASELINE_CONFIG,
    transformer_config: TrainConfig | str | Path = DEFAULT_TRANSFORMER_CONFIG,
    report_dir: str | Path | None = REPORTS_DIR,
    docs_dir: str | Path | None = DEFAULT_DOCS_DIR,
    quiet: bool = False,
    cv: bool = False,
    cv_folds: int | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the baseline and the transformer, compare them on the test split, write the report.

    Args:
        baseline_config: config (or its path) of kind ``baseline``.
        transformer_config: config (or its path) of kind ``transformer``.
        report_dir: the report goes to ``<report_dir>/<UTC time>/``; None writes no report.
        docs_dir: a copy of the report replaces this directory (None: no copy).
        quiet: no progress on stderr.
        cv: also run leave-one-article-out cross-validation of both models (over
            ``data.corpus``); adds minutes (one training per article per model).
        cv_folds: with ``cv``, only the first this many folds.
        n_resamples, seed: bootstrap settings of every interval and test.

    Returns:
        ``{"created_utc", "stance_version", "training": [{name, kind, config, model_dir,
        train_seconds, validation}], "comparison": <stance.evaluation.evaluate.compare result>,
        "cv": [<cross_validate result + name>] or None, "timings": {...}, "versions",
        "report_dir", "docs_dir"}``.

    Raises:
        ConfigError: a config is of the wrong kind, has no test split, or the two configs name
            different test files (a paired comparison needs the same quotes).
        DataError: a split file is missing, or from training and evaluation (names the file).
        ModelError: from loading the trained models.
    """
    from stance import __version__
    from stance.evaluation.evaluate import compare, cross_validate
    from stance.evaluation.report import write_experiment_report
    from stance.models.training import _check_output_dir, train

    started = time.perf_counter()
    machine = _machine()
    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    configs = {
        "baseline": _load(baseline_config, "baseline"),
        "transformer": _load(transformer_config, "transformer"),
    }
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
    test_path = str(tests["baseline"])
    for cfg in configs.values():
        for split in (cfg.data.train, cfg.data.validation, cfg.data.test):
            if split and not Path(split).exists():
                # Fail before minutes of training, with the way out.
                raise DataError(
                    split,
                    f"file not found (named by {cfg.source}); create the splits with "
                    "`stance data split` or point the config's data section at existing files",
                )
    # Both model directories and the docs copy replace what is at their path: refuse, before
    # any training, a path holding something else (a mistyped --docs-dir would be deleted).
    for cfg in configs.values():
        _check_output_dir(Path(cfg.output_dir))
    if docs_dir is not None:
        _check_docs_dir(Path(docs_dir))
    if report_dir is not None:
        ensure_directory(report_dir)  # a file in the way fails now, not after training

    timings: dict[str, float] = {}
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
        })  # fmt: skip
        _log(
            quiet,
            f"[experiment] {name} trained in {timings[f'train_{name}']:.1f}s -> {result.model_dir}",
        )

    _log(quiet, f"[experiment] evaluating both on {test_path} ...")
    t0 = time.perf_counter()
    comparison = compare(
        [t["model_dir"] for t in training], test_path, n_resamples=n_resamples, seed=seed,
        names=[t["name"] for t in training],
    )  # fmt: skip
    timings["evaluate"] = round(time.perf_counter() - t0, 3)

    cv_results = None
    if cv:
        cv_results = []
        t0 = time.perf_counter()
        for name, cfg in configs.items():
            _log(quiet, f"[experiment] leave-one-article-out CV of the {name} ...")
            result = cross_validate(
                cfg, folds=cv_folds, quiet=quiet, n_resamples=n_resamples, seed=seed
            )
            cv_results.append({"name": name, **result})
        timings["cross_validation"] = round(time.perf_counter() - t0, 3)

    experiment: dict[str, Any] = {
        "created_utc": created.isoformat(),
        "stance_version": __version__,
        "training": training,
        "comparison": comparison,
        "cv": cv_results,
        "timings": timings,
        "versions": library_versions(),
        "machine": machine,
        "report_dir": None,
        "docs_dir": None,
    }
    if report_dir is not None:
        t0 = time.perf_counter()
        out = _report_subdir(Path(report_dir), created.strftime("%Y%m%dT%H%M%SZ"))
        experiment["report_dir"] = str(out)
        if docs_dir is not None:
            experiment["docs_dir"] = str(docs_dir)
        # The Markdown shows the total up to here; experiment.json adds the report stage.
        machine["load_average_at_end"] = _machine()["load_average_1_5_15min"]
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
        _log(
            quiet,
            f"[experiment] report written to {out}"
            + (f" and copied to {docs_dir}" if docs_dir else ""),
        )
    timings["total"] = round(time.perf_counter() - started, 3)
    return experiment


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
