"""CLI: ``stance prevalence`` (stance shares per group, adjusted for the model's errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stance.cli._app import app, bootstrap_seed_option, json_option, resamples_option


def _cell(share: dict[str, Any], small: bool) -> str:
    """``adjusted [low, high]``; a small group shows its interval only (no point estimate)."""
    low, high = share["adjusted_ci"]
    point = "   - " if small else f"{share['adjusted']:.2f}"
    return f"{point} [{low:.2f}, {high:.2f}]"


def prevalence_text(result: dict[str, Any]) -> str:
    """The terminal table: per group and label, raw share, adjusted share and its interval."""
    labels = result["labels"]
    width = max(len(result["by"]), *(len(str(r["group"])) for r in result["groups"])) + 2
    raw_w = {lab: len(lab) + 6 for lab in labels}  # "<label> raw"
    adj_w = {
        lab: max(len(lab) + 11, 20) for lab in labels
    }  # "<label> adjusted" / "0.46 [0.24, 0.72]"
    head = f"{result['by']:<{width}}{'n':>5}" + "".join(
        f"  {lab + ' raw':>{raw_w[lab]}}  {lab + ' adjusted':>{adj_w[lab]}}" for lab in labels
    )
    lines = [head]
    for row in result["groups"]:
        cells = "".join(
            f"  {row['shares'][lab]['raw']:>{raw_w[lab]}.2f}  {_cell(row['shares'][lab], row['small']):>{adj_w[lab]}}"
            for lab in labels
        )
        flag = f"  (small: under {result['settings']['min_group']} quotes)" if row["small"] else ""
        lines.append(f"{str(row['group']):<{width}}{row['n']:>5}{cells}{flag}")
    rates = result["error_rates"]
    lines.append(f"\nadjusted = classify-and-count corrected with the error rates of {rates['model']} on its "
                 f"{rates['fitted_on']} split ({rates['n_held_out']} quotes); [95% interval]: bootstrap over "
                 "the quotes and the error rates")  # fmt: skip
    return "\n".join(lines)


@app.command()
def prevalence(
    input_path: Path = typer.Option(
        ..., "--input", "-i", help="JSONL/CSV of quotes, raw or scored by stance predict --output."
    ),
    by: str = typer.Option(
        ..., "--by", help="Column to group by (role, speaker, year, source, ...)."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="The model that scored (or will score) the quotes; its held-out error rates correct the counts.",
    ),
    text_column: str = typer.Option(
        "text", "--text-column", help="Column holding the quotes (raw input)."
    ),
    label_column: str = typer.Option(
        "label",
        "--label-column",
        help="Predicted-label column of a scored input (as given to stance predict).",
    ),
    prob_prefix: str = typer.Option(
        "p_",
        "--prob-prefix",
        help="Prefix of a scored input's probability columns (as given to stance predict).",
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Write a PNG of the shares with intervals (and by year, if there is a year column).",
    ),
    as_json: bool = json_option(),
    resamples: int = resamples_option(),
    seed: int = bootstrap_seed_option(),
) -> None:
    """Share of support, oppose and conditional per group: raw counting, adjusted for the
    model's measured error rates, and a 95% interval. Groups under 10 quotes are flagged.
    """
    from stance.evaluation.prevalence import prevalence_file

    result = prevalence_file(input_path, by, model=model, text_column=text_column,
                             label_column=label_column, prob_prefix=prob_prefix,
                             n_resamples=resamples, seed=seed, plot=plot)  # fmt: skip
    for warning in result["warnings"]:  # on stderr, so --json output stays one JSON object
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False))
        return
    typer.echo(prevalence_text(result))
    if plot is not None:
        typer.echo(f"\nplot: {result['plot']}")
