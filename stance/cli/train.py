"""CLI: ``stance train`` and ``stance ensemble`` (the commands that make models)."""

from __future__ import annotations

from pathlib import Path

import typer

from stance.cli._app import app, check_model_options, quiet_option, warnings_as_lines
from stance.errors import StanceError


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
    saved = f"saved {result.kind} model to {result.model_dir} in {result.train_seconds:.1f}s"
    typer.echo(_with_validation(saved, result.metrics))


def _with_validation(summary: str, metrics: dict) -> str:
    """``summary`` with the validation scores appended, when there are any."""
    val = metrics.get("validation") or {}
    if "macro_f1" in val:
        summary += f"; validation macro-F1 {val['macro_f1']:.3f}, accuracy {val['accuracy']:.3f}"
    return summary


@app.command()
def ensemble(
    models: list[Path] = typer.Argument(
        ..., help="Two or more trained model folders (baseline or transformer, same labels)."
    ),
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-o", help="Where to save the ensemble (replaced atomically)."
    ),
    validation: Path | None = typer.Option(
        None,
        "--validation",
        help="Labelled held-out file to calibrate the average on (default: the validation "
        "split recorded by the first model).",
    ),
    no_calibration: bool = typer.Option(
        False, "--no-calibration", help="Do not calibrate (every prediction then needs review)."
    ),
    name: list[str] | None = typer.Option(
        None, "--name", help="Folder name of each member, in order (default: the folders' names)."
    ),
    device: str | None = typer.Option(
        None, "--device", help="Device of the transformer members while calibrating."
    ),
    quiet: bool = quiet_option("No progress lines."),
) -> None:
    """Save trained models as one ensemble that averages their probabilities.

    The members are copied into OUTPUT_DIR/members/ (hard links where the disk allows), and the
    average of their probabilities on the validation file gets its own calibration and review
    threshold. The ensemble loads like any model: stance predict --model OUTPUT_DIR.
    """
    from stance.models.ensemble import build_ensemble, recorded_validation

    if no_calibration and validation is not None:
        raise StanceError("--validation and --no-calibration contradict each other; drop one")
    check_model_options(models, device, None)  # all baselines: --device would be ignored
    held_out = None if no_calibration else (validation or recorded_validation(models[0]))
    result = build_ensemble(
        models, output_dir, held_out, names=name or None, quiet=quiet, device=device
    )
    saved = f"saved an ensemble of {len(models)} models to {result.model_dir}"
    typer.echo(_with_validation(saved, result.metrics))
