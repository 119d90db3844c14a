"""CLI: ``stance predict`` (statements on the command line, or a whole JSONL/CSV file).

Examples::

    stance predict "PCNs have given us a voice." "Scrap the lot." --model models/baseline
    stance predict "PCNs have given us a voice." --json
    stance predict --input quotes.csv --output quotes.pred.csv --text-column quote
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import typer

from stance.cli._app import (
    app,
    backend_option,
    batch_size_option,
    check_model_options,
    device_option,
    json_option,
    precision_option,
    quiet_option,
    warnings_as_lines,
)
from stance.inference.predictor import FileSummary, Prediction, Predictor, TruncationWarning

# The table shows at most this many characters of each statement (the JSON output has all).
TABLE_TEXT_WIDTH = 70
# Options that only mean something with --input FILE (their defaults are applied there).
_FILE_OPTIONS = {
    "text_column": ("--text-column", "text"),
    "label_column": ("--label-column", "label"),
    "prob_prefix": ("--prob-prefix", "p_"),
}


def _column_option(name: str, help: str) -> Any:
    """Option declaration: an --input FILE column option, its default named in the help only."""
    # Unset (None) by default so that giving it without --input FILE can be refused; the
    # default of _FILE_OPTIONS is applied in file mode.
    flag, default = _FILE_OPTIONS[name]
    return typer.Option(None, flag, help=f"{help} [default: {default}]")


# Declared here, not in the signature, so that the command reads as parse, dispatch, print.
_TEXT_COLUMN = _column_option("text_column", "Column of --input holding the statements.")
_LABEL_COLUMN = _column_option(
    "label_column", "Name of the predicted-label column added to --output."
)
_PROB_PREFIX = _column_option(
    "prob_prefix", "Prefix of the probability columns added to --output (p_support, ...)."
)
_ENGINE = typer.Option(
    None,
    "--engine",
    help="local (one process), or ray: Ray Data over sharded JSONL/Parquet, --output is a "
    "directory. [default: local]",
)
_RAY_ADDRESS = typer.Option(
    None,
    "--ray-address",
    help="Ray cluster to use with --engine ray (default: $RAY_ADDRESS, else this machine).",
)
_NUM_CPUS = typer.Option(
    None, "--num-cpus", help="CPUs of the local Ray instance (--engine ray without a cluster)."
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _one_line(text: str, width: int = TABLE_TEXT_WIDTH) -> str:
    """A statement shown on one table row: control characters and line breaks as spaces, cut."""
    flat = "".join(" " if unicodedata.category(c)[0] in ("C", "Z") else c for c in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class _Progress:
    """Progress on stderr, created on the first update (when the row count is known): a bar
    on a terminal (only for runs longer than a second), else a line per tenth of the rows."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from stance.progress import Progress

            self.bar = Progress(
                total=total, desc="predict", unit="row", stream=sys.stderr, delay=1.0
            )
        self.bar.update_to(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _predict_ray(input_path, output_path, model, batch_size, skip_invalid, columns,
                 address, num_cpus, options) -> None:  # fmt: skip
    """--engine ray: the library call and its one-line summary."""
    from stance.inference.distributed import predict_files_ray

    summary = predict_files_ray(
        input_path, output_path, model, batch_size=batch_size, address=address,
        num_cpus=num_cpus, skip_invalid=skip_invalid, **columns, **options,
    )  # fmt: skip
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)
    counts = ", ".join(f"{label} {n}" for label, n in summary.label_counts.items())
    skipped = f", {summary.skipped} skipped" if summary.skipped else ""
    typer.echo(
        f"wrote {summary.rows} rows in {len(summary.files)} shard(s) to {summary.output} ({counts}{skipped})"
    )


@app.command()
def predict(
    texts: list[str] | None = typer.Argument(
        None, help="Statements to classify (quote each one).", show_default=False
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model directory (default: $STANCE_MODEL, else models/transformer).",
    ),
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="JSONL or CSV file to classify (one statement per row)."
    ),
    output_path: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write the rows with predictions (same format as --input).",
    ),
    text_column: str | None = _TEXT_COLUMN,
    batch_size: int = batch_size_option("Statements per forward pass."),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="With --input: write rows without a usable text with an empty label instead of failing.",
    ),
    label_column: str | None = _LABEL_COLUMN,
    prob_prefix: str | None = _PROB_PREFIX,
    as_json: bool = json_option(
        "Print JSON lines (text, label, confidence, scores) instead of a table."
    ),
    backend: str | None = backend_option(),
    device: str | None = device_option(),
    precision: str | None = precision_option(),
    quiet: bool = quiet_option("No progress bar."),
    engine: str | None = _ENGINE,
    ray_address: str | None = _RAY_ADDRESS,
    num_cpus: int | None = _NUM_CPUS,
) -> None:
    """Classify statements as support, oppose or conditional.

    Give statements as arguments to print a table (or JSON lines with --json), or
    --input FILE --output FILE to classify a JSONL/CSV file: every input column is kept, in
    the same row order, with the predicted label and one probability column per label
    appended. The output is written to a temporary file and renamed at the end, so an
    interrupted run never leaves a half-written output.
    """
    options = {"backend": backend, "device": device, "precision": precision}
    given = {"text_column": text_column, "label_column": label_column, "prob_prefix": prob_prefix}
    file_mode = input_path is not None or output_path is not None
    engine = _check_engine(engine, ray_address, num_cpus, file_mode)
    _check_file_only_options(given, skip_invalid, file_mode)
    if not file_mode:
        predictor, predictions = _predict_texts(texts, model, batch_size, options)
        if as_json:
            _print_json_lines(texts, predictions)
        else:
            _print_table(texts, predictions, predictor.labels)
        return
    _check_file_mode(texts, input_path, output_path, as_json)
    check_model_options([model], device, backend, precision)
    columns = {k: given[k] if given[k] is not None else _FILE_OPTIONS[k][1] for k in given}
    if engine == "ray":
        _predict_ray(input_path, output_path, model, batch_size, skip_invalid, columns,
                     ray_address, num_cpus, options)  # fmt: skip
        return
    summary = _predict_file(
        input_path, output_path, model, batch_size, skip_invalid, columns, options, quiet
    )
    _print_file_summary(input_path, summary)


def _check_engine(
    engine: str | None, ray_address: str | None, num_cpus: int | None, file_mode: bool
) -> str:
    """The engine to use (default local); refuse a bad one, or Ray options without Ray."""
    if engine not in (None, "local", "ray"):
        _fail(f"--engine must be local or ray, found {engine!r}")
    ray_options = [f for f, v in (("--ray-address", ray_address), ("--num-cpus", num_cpus)) if v is not None]  # fmt: skip
    if not file_mode and (engine is not None or ray_options):
        flags = ", ".join((["--engine"] if engine is not None else []) + ray_options)
        _fail(f"{flags}: for --input FILE only, not for statements given as arguments")
    if ray_options and engine != "ray":
        _fail(f"{', '.join(ray_options)}: for --engine ray only")
    return engine or "local"


def _check_file_only_options(
    given: dict[str, str | None], skip_invalid: bool, file_mode: bool
) -> None:
    """Refuse the options that only mean something with --input FILE when there is none."""
    misplaced = [_FILE_OPTIONS[k][0] for k, v in given.items() if v is not None]
    misplaced += ["--skip-invalid"] if skip_invalid else []
    if misplaced and not file_mode:
        _fail(
            f"{', '.join(misplaced)}: for --input FILE only, not for statements given as arguments"
        )


def _check_file_mode(
    texts: list[str] | None, input_path: Path | None, output_path: Path | None, as_json: bool
) -> None:
    """Refuse what cannot go with --input/--output: statements, one without the other, --json."""
    if texts:
        _fail("give statements as arguments or --input FILE, not both")
    if input_path is None or output_path is None:
        _fail("--input and --output go together: stance predict --input FILE --output FILE")
    if as_json:
        _fail("--json is for statements given as arguments; --output has the format of --input")


def _predict_file(input_path, output_path, model, batch_size, skip_invalid, columns,
                  options, quiet):  # fmt: skip
    """--input/--output with --engine local: the library call, with a progress bar."""
    from stance.inference.predictor import predict_file

    progress = _Progress(enabled=not quiet)
    try:
        with warnings_as_lines(TruncationWarning):
            return predict_file(
                input_path, output_path, model, batch_size=batch_size,
                skip_invalid=skip_invalid, progress=progress, **columns, **options,
            )  # fmt: skip
    finally:
        progress.close()


def _print_file_summary(input_path: Path, summary: FileSummary) -> None:
    """Warn about skipped rows (the first few by line), then one line on what was written."""
    for line, reason in summary.skipped_examples:
        typer.echo(f"warning: {input_path}:{line}: skipped: {reason}", err=True)
    if summary.skipped > len(summary.skipped_examples):
        typer.echo(
            f"warning: ... and {summary.skipped - len(summary.skipped_examples)} more skipped row(s)",
            err=True,
        )
    counts = ", ".join(f"{label} {n}" for label, n in summary.label_counts.items())
    skipped = f", {summary.skipped} skipped" if summary.skipped else ""
    typer.echo(f"wrote {summary.rows} rows to {summary.output} ({counts}{skipped})")


def _predict_texts(
    texts: list[str] | None,
    model: Path | None,
    batch_size: int,
    options: dict[str, str | None],
) -> tuple[Predictor, list[Prediction]]:
    """Statements given as arguments: check each with the API's own check, load, predict."""
    from stance.data.io import validate_text
    from stance.inference.predictor import load

    if not texts:
        _fail(
            'nothing to classify: give statements (stance predict "text" ...) or --input FILE --output FILE'
        )
    for i, text in enumerate(texts):
        try:  # the API's own check and message: items counted from 0, as Python indexes them
            validate_text(text, f"item {i}")
        except ValueError as exc:
            _fail(str(exc))
    check_model_options([model], **options)
    predictor = load(model, **options)
    with warnings_as_lines(TruncationWarning):
        predictions = predictor.predict(texts, batch_size=batch_size)
    return predictor, predictions


def _print_json_lines(texts: list[str], predictions: list[Prediction]) -> None:
    """One JSON object per statement: the text and its prediction."""
    for text, p in zip(texts, predictions):
        record = {"text": text, **p.to_dict()}
        try:
            typer.echo(json.dumps(record, ensure_ascii=False))
        except UnicodeEncodeError:  # undecodable bytes in argv arrive as lone surrogates
            typer.echo(json.dumps(record))


def _print_table(texts: list[str], predictions: list[Prediction], labels: list[str]) -> None:
    """A table: label, confidence, and the statement on one line."""
    width = max(len("label"), *(len(label) for label in labels))
    typer.echo(f"{'label':<{width}}  confidence  text")
    for text, p in zip(texts, predictions):
        typer.echo(f"{p.label:<{width}}  {p.confidence:>10.3f}  {_one_line(text)}")
