"""CLI: ``stance calibrate`` (refit a model's calibration on held-out labelled quotes)."""

from __future__ import annotations

from pathlib import Path

import typer

from stance.cli._app import app, check_model_options


@app.command()
def calibrate(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory to recalibrate."),
    data: Path = typer.Option(
        ..., "--data", "-d", help="Held-out labelled quotes (JSONL/CSV), never the test set."
    ),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the quote."),
    label_column: str = typer.Option("label", "--label-column", help="Column holding the label."),
    device: str | None = typer.Option(None, "--device", help="Transformer only: cpu, cuda, ..."),
) -> None:
    """Refit the calibration (temperature or Platt scaling), the review threshold and the
    held-out error rates on labelled quotes, without retraining; the weights are unchanged and
    the model directory is rewritten atomically."""
    from stance.models.recalibrate import recalibrate

    check_model_options([model], device, None)  # a baseline would ignore --device silently
    s = recalibrate(model, data, text_column=text_column, label_column=label_column, device=device)
    typer.echo(
        f"recalibrated {model} on {data} (n = {s['n']}, {s['method']}): ECE {s['ece_raw']:.3f} raw -> "
        f"{s['ece_calibrated']:.3f} calibrated; {_review_line(s)}"
    )
    # Measured (docs/model_selection/calibration_size.md): on article quotes a threshold fitted
    # on some articles rarely holds on others, so the in-sample figure must not read as a promise.
    typer.echo(
        "note: these figures are measured on the same quotes the threshold was fitted on; on new "
        "articles the accepted share and its accuracy can differ widely "
        "(docs/model_selection/calibration_size.md)",
        err=True,
    )


def _review_line(summary: dict) -> str:
    review, target = summary["review"], summary["target_precision"]
    if summary["review_threshold"] is None:
        return f"no review threshold reaches {target:.2f} precision: every prediction needs review"
    return (
        f"review threshold {summary['review_threshold']:.3f} accepts {review['n_accepted']} of "
        f"{review['n']} quotes ({review['coverage']:.0%}), {review['precision']:.0%} of them right "
        f"(target {target:.0%})"
    )
