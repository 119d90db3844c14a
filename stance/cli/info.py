"""CLI: ``stance info``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stance.cli._app import app


@app.command()
def info(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory, e.g. models/baseline."),
) -> None:
    """Print what a model records about itself: kind, labels, config, seed, data hashes, versions, metrics."""
    from stance.models.artifacts import read_metadata

    typer.echo(json.dumps(read_metadata(model), indent=2))
