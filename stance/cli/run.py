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
from stance.constants import (
    ACCURATE_TRANSFORMER_CONFIG,
    BASELINE_CONFIG,
    DOCS_REPORT_DIR,
    EXTRA_EVAL_PATHS,
    MINILM_TRANSFORMER_CONFIG,
    REPORTS_DIR,
    TRANSFORMER_CONFIG,
)
from stance.errors import StanceError


@app.command()
def experiment(
    baseline_config: Path = typer.Option(
        Path(BASELINE_CONFIG), "--baseline-config", help="Config of the baseline."
    ),
    transformer_config: Path | None = typer.Option(
        None,
        "--transformer-config",
        help=f"Config of the transformer (default: {TRANSFORMER_CONFIG}, fine-tuned "
        f"all-mpnet-base-v2; {MINILM_TRANSFORMER_CONFIG} is the quicker MiniLM runner-up).",
    ),
    accurate: bool | None = typer.Option(
        None,
        "--accurate/--no-accurate",
        help=f"Train the accurate ensemble ({ACCURATE_TRANSFORMER_CONFIG}: three seeds averaged, "
        "three bf16 trainings, about twice the default's training time on a CPU) instead of the default model. Default: on where "
        "a CUDA GPU is present, else off.",
    ),
    report_dir: Path = typer.Option(
        Path(REPORTS_DIR), "--report-dir", help="The report goes to REPORT_DIR/<UTC time>/."
    ),
    docs: bool = typer.Option(
        False,
        "--docs/--no-docs",
        help=f"Also replace the committed copy of the report ({DOCS_REPORT_DIR}/); off by default.",
    ),
    docs_dir: Path = typer.Option(
        Path(DOCS_REPORT_DIR), "--docs-dir", help="With --docs: where the copy goes."
    ),
    extra_eval: list[Path] | None = typer.Option(
        None,
        "--extra-eval",
        help="Also score both models on this held-out labelled file (repeatable; a training or "
        "validation split, or a file sharing a text with either, is refused). Default: "
        + ", ".join(EXTRA_EVAL_PATHS)
        + ", those that exist.",
    ),  # fmt: skip
    no_extra_eval: bool = typer.Option(
        False, "--no-extra-eval", help="Score on the test split only."
    ),
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
    on the held-out test split and every extra evaluation file (scores with 95% intervals,
    majority reference, paired tests), and write the report (Markdown + figures) to
    reports/<time>/ (and to docs/report/ with --docs).
    """
    from stance.evaluation.experiment import choose_transformer_config, run_experiment
    from stance.evaluation.report import experiment_text

    if cv_folds is not None and not cv:
        raise StanceError("--cv-folds applies to cross-validation; add --cv or drop --cv-folds")
    if docs_dir != Path(DOCS_REPORT_DIR) and not docs:
        raise StanceError("--docs-dir applies with --docs; add --docs or drop --docs-dir")
    if no_extra_eval and extra_eval:
        raise StanceError("--extra-eval and --no-extra-eval contradict each other; keep one")
    transformer_config, why = choose_transformer_config(accurate, transformer_config)
    if not quiet:
        typer.echo(f"[experiment] transformer: {transformer_config} ({why})", err=True)
    with data_warnings_as_lines():
        result = run_experiment(
            baseline_config, transformer_config, report_dir=report_dir,
            docs_dir=docs_dir if docs else None, quiet=quiet, cv=cv, cv_folds=cv_folds,
            n_resamples=resamples, seed=seed, extra_eval=[] if no_extra_eval else extra_eval or None,
        )  # fmt: skip
    typer.echo(experiment_text(result))
