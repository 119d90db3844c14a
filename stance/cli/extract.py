"""CLI: ``stance extract`` and ``stance score`` (registered on the shared app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stance.cli._app import app, backend_option, check_model_options, device_option
from stance.constants import ARTICLES_DIR, SEED_UNITS_PATH
from stance.errors import DataError
from stance.tables import shorten


def _article_files(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its .txt files, any case (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
            if not found:
                raise DataError(path, "directory holds no .txt articles")
            files.extend(found)
        else:
            files.append(path)
    return files


def _write_jsonl(records: list[dict], output: Path | None) -> None:
    from stance.data.io import json_line

    lines = "".join(json_line(r) for r in records)
    if output is None:
        typer.echo(lines, nl=False)
        return
    from stance.models.artifacts import atomic_file

    with atomic_file(output) as fh:
        fh.write(lines)


@app.command()
def extract(
    articles: list[Path] = typer.Argument(
        None, help="Plain-text articles (UTF-8), or folders of .txt articles."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the JSONL here instead of printing it."
    ),
    evaluate: bool = typer.Option(
        False, "--evaluate", help="Score the extractor against gold units instead (see --gold)."
    ),
    gold: Path = typer.Option(
        Path(SEED_UNITS_PATH),
        "--gold",
        help="Gold units (JSONL with text, source, start, end, speaker, kind) for --evaluate.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="With --evaluate: print the full result as JSON."
    ),
) -> None:
    """Extract quotes, reported speech and readers' comments from articles as JSONL.

    One record per unit: text, speaker (fullest name in the article, or null), source (file
    name), start/end (character offsets: article[start:end] == text) and kind (direct,
    reported or comment). With --evaluate, compare against gold units instead: the article
    folder is ARTICLES (default data/articles).
    """
    from stance.extract.quotes import extract_article, read_article

    if evaluate:
        _evaluate(articles, gold, as_json)
        return
    if not articles:
        raise typer.BadParameter(
            "give one or more .txt articles (or a folder)", param_hint="ARTICLE"
        )
    records: list[dict] = []
    files = _article_files(articles)
    for path in files:
        quotes, joined = extract_article(read_article(path), source=path.name)
        if joined:
            typer.echo(
                f"note: {path} looks hard-wrapped; its lines were joined into paragraphs", err=True
            )
        if not quotes:
            typer.echo(f"note: no quotes found in {path}", err=True)
        records.extend(q.to_dict() for q in quotes)
    _write_jsonl(records, output)
    if output is not None:
        typer.echo(f"wrote {len(records)} units from {len(files)} article(s) to {output}", err=True)


def _evaluate(articles: list[Path] | None, gold: Path, as_json: bool) -> None:
    from stance.extract.evaluate import evaluate_extraction

    if not articles:
        folder = Path(ARTICLES_DIR)
    elif len(articles) == 1 and articles[0].is_dir():
        folder = articles[0]
    else:
        raise DataError(
            articles[0], "--evaluate takes one folder of articles (default data/articles)"
        )
    result = evaluate_extraction(folder, gold)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    _print_figures(result, gold)
    _print_lists(result)
    typer.echo("\n" + ("meets all targets" if result["meets_targets"] else "BELOW TARGET"))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _print_figures(result: dict, gold: Path) -> None:
    t, ci = result["targets"], result["intervals"]

    def row(name: str, metric: str, k: int, n: int) -> None:
        lo_hi = ci.get(metric)
        interval = "" if lo_hi is None else f"  [95% CI {_pct(lo_hi[0])}-{_pct(lo_hi[1])}]"
        target = f"   target >= {_pct(t[metric])}" if metric in t else ""
        typer.echo(f"{name:<21}{_pct(result[metric]):>7}  {k}/{n}{target}{interval}")

    typer.echo(
        f"gold: {gold} ({result['gold_units']} units in {result['articles']} articles; "
        f"{result['gold_in_scope']} in scope, {', '.join(result['out_of_scope_kinds'])} excluded)"
    )
    typer.echo(
        f"extracted: {result['extracted']} units "
        + ", ".join(f"{k} {n}" for k, n in result["extracted_by_kind"].items())
    )
    typer.echo("gold units and extracted items matched one to one")
    n_scope, n_rec = result["gold_in_scope"], result["recovered"]
    row("recovery (in scope)", "recovery", n_rec, n_scope)
    typer.echo(f"{'recovery (all kinds)':<21}{_pct(result['recovery_all']):>7}")
    row("merged into another", "merged_rate", result["merged_units"], n_scope)
    row("precision", "precision", result["correct"], result["extracted"])
    row("speaker accuracy", "speaker_accuracy", result["speaker_correct"], n_rec)
    typer.echo("\nrecovery by kind (recovered / merged / gold):")
    for kind, r in result["recovery_by_kind"].items():
        typer.echo(
            f"  {kind:<9} {r['recovered']:>3} / {r['merged']:>2} / {r['gold']:<3} {_pct(r['rate']):>7}"
        )


def _print_lists(result: dict) -> None:
    sections = [
        ("missed gold units", result["missed"], lambda m: f"{m['id'] or '?'} [{m['kind']}]"),
        (
            "gold units merged into an item credited to another unit",
            result["merged"],
            lambda m: f"{m['id'] or '?'} [{m['kind']}] in {m['item_start']}-{m['item_end']}",
        ),
        (
            "extracted units matching no gold unit",
            result["unmatched"],
            lambda u: f"{u['source']}:{u['start']} [{u['kind']}]",
        ),
        (
            "extracted fragments of a unit credited to another item",
            result["fragments"],
            lambda u: f"{u['source']}:{u['start']} [{u['kind']}]",
        ),
    ]
    for title, rows, head in sections:
        if rows:
            typer.echo(f"\n{title}:")
            for r in rows:
                typer.echo(f"  {head(r)} {shorten(r['text'], 70)}")
    if result["speaker_errors"]:
        typer.echo("\nspeaker errors:")
        for s in result["speaker_errors"]:
            typer.echo(f"  {s['id'] or '?'} gold {s['gold']!r}, extracted {s['extracted']!r}")


@app.command()
def score(
    articles: list[Path] = typer.Argument(
        ..., help="Plain-text articles (UTF-8), or folders of .txt articles."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model directory (default: $STANCE_MODEL, else models/transformer).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON record per quote (JSONL) instead of tables."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write the JSONL records to this file."
    ),
    width: int = typer.Option(
        60, "--width", min=10, help="Characters of each quote shown in the table."
    ),
    device: str | None = device_option(),
    backend: str | None = backend_option(),
) -> None:
    """Extract the quotes of each article and predict their stance.

    Prints a table per article (speaker, label, confidence, quote) and a summary per speaker
    over all articles: number of quotes, count of each label, the majority label, and the net
    stance = mean of P(support) - P(oppose) over the speaker's quotes (+1 all support, -1 all
    oppose, near 0 mixed or conditional). Records (--json, --output) hold the extraction fields
    plus label, confidence and per-label scores.
    """
    from stance.extract.score import score_articles, speaker_key, summarise_speakers

    files = _article_files(articles)
    if device is not None or backend is not None:
        from stance.inference.predictor import load

        check_model_options([model], device, backend)
        model = load(model, device=device, backend=backend)
    scored = score_articles(files, model=model)
    records = [s.to_dict() for items in scored.values() for s in items]
    for name, items in scored.items():
        if not items:
            typer.echo(f"note: no quotes found in {name}", err=True)
    if output is not None:
        _write_jsonl(records, output)
        typer.echo(f"wrote {len(records)} scored units to {output}", err=True)
    if as_json:
        _write_jsonl(records, None)
        return
    speaker_w = 28
    for n_art, (name, items) in enumerate(scored.items()):
        if n_art:
            typer.echo("")
        typer.echo(f"== {name}: {len(items)} unit(s)")
        if not items:
            continue
        typer.echo(f"{'speaker':<{speaker_w}} {'kind':<8} {'label':<12} {'conf':>5}  quote")
        for s in items:
            typer.echo(
                f"{shorten(speaker_key(s.quote), speaker_w):<{speaker_w}} {s.quote.kind:<8} "
                f"{s.label:<12} {s.confidence:>5.2f}  {shorten(s.quote.text, width)}"
            )
    summary = summarise_speakers(scored)
    if not summary:
        return
    labels = list(summary[0].labels)
    typer.echo("\n== speakers (all articles); net = mean P(support) - P(oppose)")
    head = f"{'speaker':<{speaker_w}} {'quotes':>6} " + " ".join(f"{lab:>11}" for lab in labels)
    typer.echo(f"{head} {'majority':<12} {'net':>6}")
    for row in summary:
        net = "n/a" if row.net is None else f"{round(row.net, 2) + 0.0:+.2f}"  # no "-0.00"
        counts = " ".join(f"{row.labels.get(lab, 0):>11}" for lab in labels)
        typer.echo(
            f"{shorten(row.speaker, speaker_w):<{speaker_w}} {row.n:>6} {counts} {row.majority:<12} {net:>6}"
        )
    _echo_adjusted_shares(summary, labels, speaker_w)


def _echo_adjusted_shares(summary: list, labels: list[str], speaker_w: int) -> None:
    """Per speaker: the share of each label adjusted for the model's held-out error rates, with
    its 95% interval (stance.evaluation.prevalence); under 10 quotes only the interval is shown,
    as a point estimate from so few quotes is not worth highlighting."""
    rows = [r for r in summary if r.shares]
    if not rows:
        return
    kind = "adjusted" if all(r.shares.get("adjusted") for r in rows) else "raw"
    typer.echo(f"\n== {kind} shares per speaker [95% CI]; * = under 10 quotes, interval only")
    typer.echo(f"{'speaker':<{speaker_w}} " + " ".join(f"{lab:>20}" for lab in labels))
    for row in rows:
        small = row.shares.get("small")
        cells = []
        for lab in labels:
            cell = row.shares[lab]
            low, high = cell[f"{kind}_ci"]
            text = (
                f"[{low:.2f}, {high:.2f}]" if small else f"{cell[kind]:.2f} [{low:.2f}, {high:.2f}]"
            )
            cells.append(f"{text:>20}")
        name = shorten(row.speaker, speaker_w - 2) + (" *" if small else "")
        typer.echo(f"{name:<{speaker_w}} " + " ".join(cells))
