"""CLI: ``stance review``, ``stance suggest``, ``stance label`` and ``stance learning-curve``.

The labelling loop (library: :mod:`stance.labelling`); ``stance data merge`` lives with the
other data commands in :mod:`stance.cli.data`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from stance.cli._app import (
    app,
    config_data_option,
    data_settings,
    data_warnings_as_lines,
    json_option,
    one_of,
    quiet_option,
    refuse_renamed_column,
)
from stance.constants import ARTICLES_DIR, REFORMS, ROLES

BASELINE_CONFIG = Path("configs/baseline.yaml")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _check_kind_options(config: Path, C: float | None = None, epochs: int | None = None) -> None:
    """--C is for baseline configs, --epochs for transformer ones: name the flag, not the YAML
    key it would have set."""
    from stance.config import load_config

    kind = load_config(config).kind
    if C is not None and kind != "baseline":
        raise typer.BadParameter(f"applies to baseline configs; {config} is a {kind} config "
                                 "(drop --C)", param_hint="--C")  # fmt: skip
    if epochs is not None and kind != "transformer":
        raise typer.BadParameter(f"applies to transformer configs; {config} is a {kind} config "
                                 "(drop --epochs)", param_hint="--epochs")  # fmt: skip


def _progress(what: str, quiet: bool):
    if quiet:
        return None
    return lambda i, n: print(f"{what} {i}/{n} done", file=sys.stderr, flush=True)


@app.command()
def review(
    data: Path | None = typer.Argument(
        None, help="Labelled JSONL/CSV (default: the config's corpus)."
    ),
    config: Path = typer.Option(
        BASELINE_CONFIG, "--config", "-c", help="Model config (baseline: fast)."
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="Grouped cross-validation folds."),
    C: float | None = typer.Option(
        None,
        "--C",
        help="Baseline only: use this C in every fold instead of searching the config's grid "
        "(much faster; e.g. the C in models/baseline/metadata.json).",
    ),
    top: int = typer.Option(40, "--top", min=0, help="Rows to print (0: all); the JSONL has all."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write every flagged row as JSONL."
    ),
    as_json: bool = json_option(),
    quiet: bool = quiet_option("No per-fold progress lines."),
) -> None:
    """Find likely label errors: out-of-fold probabilities (articles kept whole) + cleanlab.

    Prints rank, id, given label, suggested label, score (the out-of-fold probability of the
    given label: low = suspect) and the text. Decide each against data/GUIDELINES.md.
    """
    from stance.data.io import check_jsonl_output
    from stance.labelling.review import find_label_errors, write_issues

    if output is not None:  # before the folds: a bad name should not cost the training
        check_jsonl_output(output, [data], "flagged rows")
    _check_kind_options(config, C=C)
    with data_warnings_as_lines():
        overrides = {"baseline.C_grid": [C]} if C is not None else None
        result = find_label_errors(
            config, data, folds, progress=_progress("fold", quiet), overrides=overrides
        )
    if output is not None:
        write_issues(result["issues"], output)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    typer.echo(
        f"{result['n_issues']} of {result['n']} statements flagged in {result['data']} "
        f"({result['kind']}, {result['folds']}-fold grouped CV over {result['n_groups']} groups; "
        f"out-of-fold macro-F1 {result['oof']['macro_f1']:.3f}, accuracy {result['oof']['accuracy']:.3f})"
    )
    rows = result["issues"][:top] if top else result["issues"]
    typer.echo(f"\n{'rank':>4}  {'id':<22} {'label':<12} {'suggested':<12} {'score':>6}  text")
    for r in rows:
        typer.echo(
            f"{r['rank']:>4}  {str(r['id'] or r['line']):<22} {r['label']:<12} "
            f"{r['suggested']:<12} {r['score']:>6.3f}  {_short(r['text'], 70)}"
        )
    if output is not None:
        typer.echo(f"\nwrote {result['n_issues']} rows to {output}")


@app.command()
def suggest(
    input: Path = typer.Option(
        ..., "--input", "-i", help="Quotes to choose from (JSONL/CSV, e.g. stance extract output)."
    ),
    n: int = typer.Option(50, "--n", min=1, help="How many quotes to pick."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the batch here (JSONL) instead of stdout."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Trained model directory (default: train --config now)."
    ),
    config: Path = typer.Option(
        BASELINE_CONFIG, "--config", "-c", help="Config trained when no --model is given."
    ),
    method: str = typer.Option("margin", "--method", help="Uncertainty: margin or entropy."),
    pool_factor: int = typer.Option(
        5, "--pool-factor", min=1, help="Diversity picks among the n*this most uncertain."
    ),
    exclude: list[Path] = typer.Option(
        None,
        "--exclude",
        help="Labelled files never to suggest from (repeatable; default data/corpus.jsonl). "
        "The test split and the dev set are always excluded too, when they exist.",
    ),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the quote."),
) -> None:
    """Pick the quotes to label next: most uncertain for the model, and diverse (greedy
    k-center on TF-IDF), skipping quotes already labelled and those of the test split and the
    dev set (never trained on). The output is ready for stance label.
    """
    from stance.constants import CORPUS_PATH
    from stance.labelling.suggest import METHODS
    from stance.labelling.suggest import suggest as pick
    from stance.models.artifacts import atomic_file

    if method not in METHODS:
        raise typer.BadParameter(
            f"expected one of {', '.join(METHODS)}, found {method!r}", param_hint="--method"
        )
    if exclude is None:
        exclude = [Path(CORPUS_PATH)] if Path(CORPUS_PATH).is_file() else []
    if output is not None:
        from stance.data.io import check_jsonl_output

        check_jsonl_output(output, [input, *exclude], "batch")
    with data_warnings_as_lines():
        batch = pick(
            input, n, model, None if model else config, method, pool_factor, exclude, text_column
        )
    from stance.data.io import json_line  # the one JSONL writer: same escaping everywhere

    lines = "".join(json_line(it) for it in batch["items"])
    if output is None:
        typer.echo(lines, nl=False)
    else:
        with atomic_file(output) as fh:
            fh.write(lines)
    excluded = ", ".join(batch["excluded"]) or "no file"
    typer.echo(
        f"picked {len(batch['items'])} of {batch['n_input']} quotes ({batch['n_excluded']} already "
        f"labelled, held out or near-copies, skipped; excluded {excluded}; {method} "
        f"uncertainty, k-center over the {batch['n_pool']} most uncertain)"
        + (f"; wrote {output}" if output else ""),
        err=True,
    )


@app.command()
def label(
    input: Path = typer.Argument(
        ..., help="Quotes to label (JSONL/CSV; e.g. stance suggest output)."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Labelled corpus file (appended; resumed if it exists)."
    ),
    role: str = typer.Option(
        "other",
        "--role",
        callback=one_of(ROLES),
        help="Role for quotes whose input has none (the role vocabulary of data/GUIDELINES.md).",
    ),
    reform: str = typer.Option(
        "new_care_models",
        "--reform",
        callback=one_of(REFORMS),
        help="Reform for quotes whose input has none (the reform vocabulary of data/GUIDELINES.md).",
    ),
    articles: Path = typer.Option(
        Path(ARTICLES_DIR), "--articles", help="Where to find articles for context."
    ),
    config: Path | None = config_data_option(
        "Training config: answer with its data.labels, in order, and read its text column "
        "(default: support, oppose, conditional; column text)."
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Column holding the quote (default: text, or the config's)."
    ),
) -> None:
    """Label quotes in the terminal: 1/2/3 for support/oppose/conditional, s skip, u undo, q quit.

    Every answer is saved at once (appended and flushed to disk); run the same command again
    to resume. The output passes stance data check and goes into a corpus with stance data merge.
    With --config, the keys 1..k answer the config's labels in order.
    """
    from stance.labelling.annotate import Session, run_session

    labels, text_column, label_column = data_settings(config, text_column)
    refuse_renamed_column(config, label_column, "label", "stance label writes each answer to")
    defaults = {"role": role, "reform": reform}
    session = Session.open(input, output, labels, defaults, text_column)
    result = run_session(session, articles_dir=articles)
    typer.echo(
        f"{result['labelled_now']} labelled now; {output}: {result['answered']} labelled, "
        f"{result['skipped']} skipped, {result['remaining']} to go"
        + ("" if result["remaining"] else " (done)")
    )


@app.command("learning-curve")
def learning_curve(
    config: Path = typer.Option(
        BASELINE_CONFIG, "--config", "-c", help="Model config (baseline: fast)."
    ),
    eval_files: list[Path] = typer.Option(
        None,
        "--eval",
        "-e",
        help="Labelled files to score on (repeatable; default the config's test file).",
    ),
    fractions: str = typer.Option(
        "0.125,0.25,0.5,1", "--fractions", help="Comma-separated fractions of the training split."
    ),
    seeds: int = typer.Option(
        3, "--seeds", min=1, help="Subsets drawn per fraction (seeds 0..N-1)."
    ),
    C: float | None = typer.Option(
        None, "--C", help="Baseline only: use this C for every point instead of searching the grid."
    ),
    epochs: int | None = typer.Option(
        None,
        "--epochs",
        min=1,
        help="Transformer only: train every point for this many epochs (recorded in the table).",
    ),
    seed_cv: bool = typer.Option(
        False,
        "--seed-cv",
        help="Score the seed leave-one-article-out cross-validation (only authored data is cut); "
        "--eval files are then scored by every fold's model and averaged, so they must hold no "
        "corpus text (the test split is refused; the dev set is fine).",
    ),
    out: Path = typer.Option(
        Path("reports/learning_curve"), "--out", help="Directory for the table (md, json) and PNG."
    ),
    as_json: bool = json_option(),
    quiet: bool = quiet_option("No per-point progress lines."),
) -> None:
    """Train on 1/8, 1/4, 1/2 and all of the training data with several seeds, score each on
    the evaluation file(s), and write a table and a PNG: does labelling more still help?
    """
    from stance.labelling.curve import curve_markdown, write_curve
    from stance.labelling.curve import learning_curve as run_curve
    from stance.models.artifacts import check_directory_target

    try:
        parts = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError:
        parts = []
    if not parts or not all(0 < f <= 1 for f in parts):  # NaN fails the comparison too
        raise typer.BadParameter(
            f"expected fractions in (0, 1] like 0.25,0.5,1, found {fractions!r}",
            param_hint="--fractions",
        )
    _check_kind_options(config, C=C, epochs=epochs)
    check_directory_target(out)  # before the training: a bad --out must not cost the run

    def show(p: dict) -> None:
        scores = ", ".join(f"{k} macro-F1 {v['macro_f1']:.3f}" for k, v in p["scores"].items())
        print(
            f"fraction {p['fraction']:g} seed {p['seed']} (n={p['n_train']}): {scores}",
            file=sys.stderr,
            flush=True,
        )

    with data_warnings_as_lines():
        overrides = {"baseline.C_grid": [C]} if C is not None else {}
        if epochs is not None:
            overrides["transformer.num_epochs"] = epochs
        curve = run_curve(
            config,
            eval_files or None,
            parts,
            range(seeds),
            progress=None if quiet else show,
            overrides=overrides or None,
            seed_cv=seed_cv,
        )
    curve["seeds"] = list(curve["seeds"])
    curve["report"] = write_curve(curve, out)
    if as_json:
        typer.echo(json.dumps(curve, indent=2))
        return
    typer.echo(curve_markdown(curve))
    typer.echo(f"wrote {', '.join(curve['report'].values())}")
