"""CLI: ``stance evaluate``, ``stance compare`` and ``stance cv``.

With ``--json`` each prints exactly one JSON object on stdout and nothing else: anything a
library prints while the models load or train is sent to stderr instead.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from stance.cli._app import (
    app,
    backend_option,
    batch_size_option,
    bootstrap_seed_option,
    check_model_options,
    data_warnings_as_lines,
    device_option,
    json_option,
    precision_option,
    quiet_option,
    report_option,
    resamples_option,
)
from stance.constants import DEFAULT_BATCH_SIZE
from stance.errors import StanceError


def _run(as_json: bool, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work``; in JSON mode keep stdout clean by sending stray prints to stderr.

    Warnings about the user's data (truncated quotes; in `cv`, leaked test texts) are shown
    as one ``warning: ...`` line each.
    """
    stdout = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with data_warnings_as_lines(), stdout:
        return work()


def _echo(result: dict[str, Any], as_json: bool, text: str) -> None:
    """Print ``result`` as strict JSON, or ``text`` and where the report went."""
    if as_json:
        # allow_nan=False: the output is strict JSON that any parser reads.
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False))
        return
    typer.echo(text)
    if result.get("report"):
        typer.echo(f"\nreport: {result['report']['markdown']}")


@app.command()
def evaluate(
    model: Path = typer.Option(
        ..., "--model", "-m", help="Model directory (baseline or transformer)."
    ),
    data: Path = typer.Option(
        ...,
        "--data",
        "-d",
        help="Labelled JSONL or CSV file with 'text' and 'label' columns (others ignored).",
    ),
    as_json: bool = json_option(),
    report: Path | None = report_option(
        "Write report.md, confusion_matrix.png and reliability.png into this directory."
    ),
    resamples: int = resamples_option(),
    seed: int = bootstrap_seed_option(),
    batch_size: int = batch_size_option(),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the statement."),
    label_column: str = typer.Option(
        "label", "--label-column", help="Column holding the gold label."
    ),
    device: str | None = device_option(),
    backend: str | None = backend_option(),
    precision: str | None = precision_option(),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Column to break the scores down by (role, year, source, ...): "
        "accuracy and gold vs predicted label shares per value.",
    ),  # fmt: skip
) -> None:
    """Score a model on a labelled file: accuracy and macro-F1 with 95% bootstrap intervals,
    per-label precision/recall/F1, confusion matrix, calibration (ECE, reliability table),
    and with --by the same per group of a column.
    """
    from stance.evaluation.evaluate import evaluate as run_evaluation
    from stance.evaluation.report import evaluation_text

    check_model_options([model], device, backend, precision)
    result = _run(as_json, lambda: run_evaluation(
        model, data, n_resamples=resamples, seed=seed, batch_size=batch_size, report_dir=report,
        text_column=text_column, label_column=label_column, device=device, backend=backend,
        precision=precision, by=by,
    ))  # fmt: skip
    _echo(
        result,
        as_json,
        f"{result['model']} ({result['kind']}) on {data}\n{evaluation_text(result)}",
    )


@app.command()
def compare(
    models: list[Path] = typer.Argument(
        ..., help="Two or more model directories, or two or more `stance cv --json` result files."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        "-d",
        help="Labelled JSONL or CSV file all models are scored on (model directories only).",
    ),  # fmt: skip
    as_json: bool = json_option(),
    report: Path | None = report_option(),
    resamples: int = resamples_option(),
    seed: int = bootstrap_seed_option(),
    batch_size: int | None = batch_size_option(
        f"Texts per forward pass (model directories only). [default: {DEFAULT_BATCH_SIZE}]", None
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Column of --data holding the statement. [default: text]"
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column of --data holding the gold label. [default: label]"
    ),
    device: str | None = device_option(),
    backend: str | None = backend_option(),
    precision: str | None = precision_option(),
) -> None:
    """Compare models on the same quotes: scores with intervals side by side, a majority-class
    reference, and for each pair the paired bootstrap of the macro-F1 difference and McNemar's test.
    Given `stance cv --json` files instead of models, compares their out-of-fold predictions.
    """
    from stance.evaluation.evaluate import compare as run_compare
    from stance.evaluation.evaluate import compare_cv
    from stance.evaluation.report import comparison_text

    for_models = {"--text-column": text_column, "--label-column": label_column,
                  "--batch-size": batch_size, "--device": device, "--backend": backend,
                  "--precision": precision}  # fmt: skip
    if _cv_results(models):
        misplaced = [flag for flag, value in for_models.items() if value is not None]
        if misplaced:
            raise StanceError(
                f"{', '.join(misplaced)}: for model directories only, not cv result files"
            )
        if data is not None:
            raise StanceError(
                "--data applies to model directories; cv result files carry their quotes"
            )
        result = _run(as_json, lambda: compare_cv(
            models, n_resamples=resamples, seed=seed, report_dir=report
        ))  # fmt: skip
    else:
        if data is None:
            raise StanceError(
                "--data is required to compare model directories (or pass cv .json files)"
            )
        check_model_options(list(models), device, backend, precision)
        result = _run(as_json, lambda: run_compare(
            models, data, n_resamples=resamples, seed=seed,
            batch_size=batch_size or DEFAULT_BATCH_SIZE, report_dir=report,
            text_column=text_column or "text", label_column=label_column or "label",
            device=device, backend=backend, precision=precision,
        ))  # fmt: skip
    _echo(result, as_json, comparison_text(result))


def _cv_results(paths: list[Path]) -> bool:
    """True when every path is a .json file (cv results); mixing them with model dirs is an error."""
    is_json = [p.suffix.lower() == ".json" and not p.is_dir() for p in paths]
    if any(is_json) and not all(is_json):
        raise StanceError(
            "compare takes either model directories or `stance cv --json` files, not both"
        )
    return all(is_json)


@app.command()
def cv(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="Training config (baseline or transformer); its data.corpus is cross-validated.",
    ),
    as_json: bool = json_option(),
    report: Path | None = report_option(),
    folds: int | None = typer.Option(
        None,
        "--folds",
        min=1,
        help="Run only the first N folds (articles in name order), for a quick check.",
    ),
    resamples: int = resamples_option(),
    seed: int = bootstrap_seed_option("Seed of the bootstrap (training uses the config's seed)."),
    train_seed: int | None = typer.Option(
        None, "--seed", min=0, help="Training seed of every fold, overriding the config's seed."
    ),
    quiet: bool = quiet_option("No per-fold progress on stderr."),
    device: str | None = device_option(
        "Transformer configs: where each fold trains and predicts, overriding "
        "transformer.device (auto, cpu, cuda, mps)."
    ),
) -> None:
    """Leave-one-article-out cross-validation over the corpus' seed quotes: one model per
    article trained on everything else; the pooled out-of-fold scores with intervals, and per fold.
    """
    from stance.config import load_config
    from stance.evaluation.evaluate import cross_validate
    from stance.evaluation.report import cv_text

    config = load_config(config, {"seed": train_seed} if train_seed is not None else None)
    if device is not None:
        if config.transformer is None:
            raise StanceError(
                f"--device applies to transformer configs; {config.source} is a {config.kind} "
                "config (leave --device unset)"
            )
        config.transformer.device = device
    result = _run(as_json, lambda: cross_validate(
        config, folds=folds, quiet=quiet, n_resamples=resamples, seed=seed, report_dir=report
    ))  # fmt: skip
    _echo(result, as_json, cv_text(result))
