"""CLI: ``stance experiment`` (the main job)."""

from __future__ import annotations

from pathlib import Path

import typer

from stance.cli._app import (
    app,
    bootstrap_seed_option,
    data_warnings_as_lines,
    quiet_option,
    resamples_option,
)
from stance.constants import REPORTS_DIR


@app.command()
def experiment(
    baseline_config: Path = typer.Option(
        Path("configs/baseline.yaml"), "--baseline-config", help="Config of the baseline."
    ),
    transformer_config: Path = typer.Option(
        Path("configs/transformer.yaml"), "--transformer-config", help="Config of the transformer."
    ),
    report_dir: Path = typer.Option(
        Path(REPORTS_DIR), "--report-dir", help="The report goes to REPORT_DIR/<UTC time>/."
    ),
    docs_dir: Path = typer.Option(
        Path("docs/report"), "--docs-dir", help="A copy of the report replaces this directory."
    ),
    no_docs: bool = typer.Option(False, "--no-docs", help="Do not copy the report to --docs-dir."),
    cv: bool = typer.Option(
        False,
        "--cv",
        help="Also run leave-one-article-out cross-validation of both models (slower).",
    ),
    cv_folds: int | None = typer.Option(
        None, "--cv-folds", min=1, help="With --cv, only the first N folds."
    ),
    resamples: int = resamples_option(),
    seed: int = bootstrap_seed_option("Seed of the bootstrap (training uses each config's seed)."),
    quiet: bool = quiet_option("No progress on stderr."),
) -> None:
    """The main job: train the baseline and the transformer on the training split, evaluate both
    on the held-out test split (scores with 95% intervals, majority reference, paired tests),
    and write the report (Markdown + figures) to reports/<time>/ and docs/report/.
    """
    from stance.evaluation.experiment import run_experiment
    from stance.evaluation.report import comparison_text

    with data_warnings_as_lines():
        result = run_experiment(
            baseline_config, transformer_config, report_dir=report_dir,
            docs_dir=None if no_docs else docs_dir, quiet=quiet, cv=cv, cv_folds=cv_folds,
            n_resamples=resamples, seed=seed,
        )  # fmt: skip
    typer.echo(comparison_text(result["comparison"]))
    for item in result.get("cv") or []:
        typer.echo(
            f"\nCV {item['name']} ({item['n_folds']} folds, pooled n = {item['n']}): accuracy "
            f"{item['accuracy']:.3f} [{item['accuracy_ci'][0]:.3f}, {item['accuracy_ci'][1]:.3f}], macro-F1 "
            f"{item['macro_f1']:.3f} [{item['macro_f1_ci'][0]:.3f}, {item['macro_f1_ci'][1]:.3f}]"
        )
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result["timings"].items())
    typer.echo(f"\ntimings: {timings}")
    if result.get("report_dir"):
        typer.echo(
            f"report: {result['report_dir']}/report.md"
            + (f" (copied to {result['docs_dir']})" if result.get("docs_dir") else "")
        )
