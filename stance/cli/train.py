"""CLI: ``stance train``."""

from __future__ import annotations

from pathlib import Path

import typer

from stance.cli._app import app, quiet_option, warnings_as_lines


@app.command()
def train(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="YAML training config, e.g. configs/baseline.yaml or configs/transformer.yaml.",
    ),
    output_dir: Path | None = typer.Option(
        None,
        "--output-dir",
        "-o",
        help="Where to save the model (default: the config's output_dir).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Training seed, overriding the config's seed."
    ),
    quiet: bool = quiet_option("No progress bars or per-epoch lines."),
) -> None:
    """Train a model (baseline or transformer, as the config says) and save it atomically.

    The model directory gets the weights, metadata.json (config, seed, data hashes, library
    versions, metrics, training time) and a model card README.md.
    """
    from stance.models.training import train as run_training

    overrides = {"seed": seed} if seed is not None else None
    from stance.models.training import LeakageWarning

    with warnings_as_lines(LeakageWarning):
        result = run_training(config, output_dir=output_dir, quiet=quiet, overrides=overrides)
    val = result.metrics.get("validation") or {}
    summary = f"saved {result.kind} model to {result.model_dir} in {result.train_seconds:.1f}s"
    if "macro_f1" in val:
        summary += f"; validation macro-F1 {val['macro_f1']:.3f}, accuracy {val['accuracy']:.3f}"
    typer.echo(summary)
