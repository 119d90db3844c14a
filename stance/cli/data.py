"""CLI: ``stance data check|stats|split``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stance.cli._app import config_data_option, data_app, data_settings, refuse_renamed_column
from stance.constants import CORPUS_FIELDS, CORPUS_PATH, DEV_PATH, SPLITS_DIR, TEST_SPLIT_PATH


@data_app.command("check")
def check(
    paths: list[Path] = typer.Argument(
        None, help="Corpus files or directories (default: data/corpus.jsonl and data/splits/)."
    ),
    minimal: bool = typer.Option(
        False, "--minimal", help="Only require 'text' and 'label' (plain labelled files)."
    ),
    config: Path | None = config_data_option(
        "Training config: check labels and columns against its data section (default: "
        "support, oppose, conditional in columns text and label)."
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Column holding the statement (default: text, or the config's)."
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column holding the label (default: label, or the config's)."
    ),
) -> None:
    """Validate corpus files; print file:line: message for each problem and exit 1 if any.

    Checks: malformed JSON/CSV, non-UTF-8 or binary content, missing or empty fields, unknown
    labels, roles and reforms, duplicate ids, duplicate texts, and texts that occur in more
    than one split (file).
    """
    from stance.data.corpus import check_files

    labels, text_column, label_column = data_settings(config, text_column, label_column)
    targets = paths or [Path(CORPUS_PATH)]
    columns = {"labels": labels, "text_column": text_column, "label_column": label_column}
    fields = ("text", "label") if minimal else CORPUS_FIELDS
    problems = check_files(targets, fields=fields, **columns)
    if not paths and Path(SPLITS_DIR).is_dir():
        # The split files are checked together, so a text in two splits is caught.
        problems += check_files([Path(SPLITS_DIR)], **columns)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {', '.join(map(str, targets))} passed all checks")


@data_app.command("stats")
def stats(
    path: Path = typer.Argument(Path(CORPUS_PATH), help="Corpus file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Counts per label, source, role and reform, and the length distribution (in words)."""
    from stance.data.corpus import corpus_stats, load_corpus

    result = corpus_stats(load_corpus(path))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"{result['n']} statements in {path} ({result['hard']} marked hard)")
    for title, key in (
        ("label", "labels"),
        ("source", "sources"),
        ("role", "roles"),
        ("reform", "reforms"),
    ):
        typer.echo(f"\n{title:<32} count")
        for name, count in result[key].items():
            typer.echo(f"{name:<32} {count:>5}")
    typer.echo(
        "\nlength in words: " + ", ".join(f"{k} {v}" for k, v in result["length_words"].items())
    )


@data_app.command("split")
def split(
    corpus: Path = typer.Argument(Path(CORPUS_PATH), help="Corpus file."),
    out: Path = typer.Option(
        Path(SPLITS_DIR), "--out", help="Directory for train/validation/test.jsonl."
    ),
    test_source: list[str] = typer.Option(
        None,
        "--test-source",
        help="Article file name held out for test (repeatable; default: the project's choice).",
    ),
    seed: int = typer.Option(0, "--split-seed", min=0, help="Seed of the validation sample."),
) -> None:
    """Write the deterministic grouped splits: test = whole seed articles; authored only in train/validation."""
    from stance.constants import TEST_SOURCES
    from stance.data.corpus import load_corpus, split_corpus, write_splits

    splits = split_corpus(
        load_corpus(corpus), test_sources=tuple(test_source or TEST_SOURCES), seed=seed
    )
    for name, path in write_splits(splits, out).items():
        typer.echo(f"{path}: {len(splits[name])} statements")


@data_app.command("merge")
def merge(
    new_files: list[Path] = typer.Argument(
        ..., help="Newly labelled corpus files (e.g. stance label output)."
    ),
    corpus: Path = typer.Option(Path(CORPUS_PATH), "--into", help="Corpus to add them to."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the merged corpus here (default: --into, in place)."
    ),
    test: Path = typer.Option(
        Path(TEST_SPLIT_PATH),
        "--test",
        help="Test split that new quotes must not leak from (must exist).",
    ),
    dev: Path = typer.Option(
        Path(DEV_PATH),
        "--dev",
        help="Development set that new quotes must not leak from (must exist).",
    ),
    allow_near: bool = typer.Option(
        False,
        "--allow-near-duplicates",
        help="Accept near-duplicates of corpus texts (never of test texts).",
    ),
    config: Path | None = config_data_option(
        "Training config: check the new quotes' labels against its data.labels (default: "
        "support, oppose, conditional)."
    ),
) -> None:
    """Add labelled quotes to a corpus, refusing invalid records, duplicates of corpus texts or
    ids, and texts leaked from the test split or the dev set (same, re-cut, near-same, or from
    a test article or the dev set's source). Run from the repository root, or pass --test and --dev.
    """
    from stance.labelling.merge import merge_labels

    labels, text_column, label_column = data_settings(config)
    for column, expected in ((text_column, "text"), (label_column, "label")):
        refuse_renamed_column(config, column, expected, "stance data merge reads and writes")
    result = merge_labels(
        corpus, new_files, output, test=test, dev=dev, allow_near=allow_near, labels=labels
    )
    for problem in result["problems"]:
        typer.echo(problem, err=True)
    if not result["ok"]:
        typer.echo(f"{len(result['problems'])} problem(s); nothing merged", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"merged {result['n_new']} new statements into {result['output']} "
        f"({result['n_corpus'] + result['n_new']} in all); re-split with: "
        f"stance data split {result['output']} --out DIR"
    )
