"""CLI: ``stance explain`` (registered on the shared app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stance.cli._app import app


@app.command()
def explain(
    model: Path = typer.Option(
        ..., "--model", "-m", help="A baseline model directory, e.g. models/baseline."
    ),
    top: int = typer.Option(20, "--top", "-n", min=1, help="How many n-grams to show per label."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Show the n-grams that push the baseline hardest toward each label.

    Weights are logistic-regression coefficients on TF-IDF features. `word` rows are word
    n-grams; `char` rows are character n-grams, quoted so the spaces that mark word
    boundaries show. Only for the baseline (a transformer has no per-n-gram weights).
    """
    from stance.models.baseline import explain as explain_model

    result = explain_model(model, top=top)
    if as_json:
        out = {
            label: [
                {
                    "ngram": ngram,
                    "type": ngram.split(":", 1)[0],
                    "term": ngram.split(":", 1)[1],
                    "weight": weight,
                }
                for ngram, weight in rows
            ]
            for label, rows in result.items()
        }
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for i, (label, rows) in enumerate(result.items()):
        if i:
            typer.echo("")
        typer.echo(f"{label}: n-grams pushing toward '{label}'")
        if not rows:
            typer.echo("  (none: the model saw no examples of this label)")
            continue
        typer.echo(f"  {'rank':>4}  {'weight':>7}  {'type':<4}  n-gram")
        for rank, (ngram, weight) in enumerate(rows, 1):
            kind, term = ngram.split(":", 1)
            shown = repr(term) if kind == "char" else term
            typer.echo(f"  {rank:>4}  {weight:>7.3f}  {kind:<4}  {shown}")
