"""Reading labelled quote files (JSON Lines or CSV) with errors that name the file and line.

Two formats are accepted wherever data is read:

- JSON Lines (``.jsonl``, ``.json``, ``.ndjson``): one JSON object per line;
- CSV (``.csv``): a header row, with at least a ``text`` column (and ``label`` for labelled data).

Reading streams, so a file of a million rows never sits in memory at once
(:func:`iter_records`); :func:`load_labelled` reads a whole labelled file and checks every row.
:func:`scan_records` is the same reader for checks that report every bad line, not just the
first. :func:`json_line` / :func:`write_jsonl` are the one JSON Lines writer: every JSONL file
the package writes goes through them, so escaping is the same everywhere.

Example:
    >>> data = load_labelled("data/splits/test.jsonl")        # doctest: +SKIP
    >>> len(data), data.texts[0][:30], data.labels[0]           # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.constants import LABELS
from stance.errors import DataError

__all__ = [
    "LabelledData",
    "detect_format",
    "iter_records",
    "scan_records",
    "read_records",
    "json_line",
    "write_jsonl",
    "write_jsonl_files",
    "check_jsonl_output",
    "json_line_problem",
    "load_labelled",
    "validate_text",
    "to_dataset",
]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv",)


@dataclass
class LabelledData:
    """Texts and their labels, read from one file, in file order.

    Attributes:
        texts: the statements.
        labels: their gold labels (strings from the label set).
        records: the full records (all columns), for reports and grouping.
        lines: the 1-based line number of each record in ``path``.
        path: where they were read from.
    """

    texts: list[str]
    labels: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    path: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def column(self, name: str, default: Any = None) -> list[Any]:
        """The values of one column, ``default`` where a record lacks it."""
        return [r.get(name, default) for r in self.records]

    def subset(self, indices: Sequence[int]) -> LabelledData:
        """A new LabelledData holding the given rows, in the given order."""
        return LabelledData(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            records=[self.records[i] for i in indices] if self.records else [],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            path=self.path,
        )


def detect_format(path: str | Path) -> str:
    """Return ``"jsonl"`` or ``"csv"`` from the file suffix.

    Raises:
        DataError: the suffix is neither (the message lists the accepted suffixes).
    """
    suffix = Path(path).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    accepted = ", ".join(JSONL_SUFFIXES + CSV_SUFFIXES)
    raise DataError(
        path, f"unknown file type {suffix or '(no suffix)'!r}; expected one of {accepted}"
    )


def _file_problem(path: Path) -> str | None:
    if not path.exists():
        return "file not found"
    if path.is_dir():
        return "is a directory, expected a JSONL or CSV file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied); expected a readable JSONL or CSV file"
    return None


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    """(line, None) decoded as UTF-8, or (None, problem) for binary or undecodable bytes."""
    if b"\x00" in raw:
        return None, "binary data (NUL byte); expected UTF-8 text"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, (
            f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); save the file as UTF-8"
        )


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) decoded as UTF-8, failing on the first undecodable or binary line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line, problem = _decode(raw)
            if problem is not None:
                raise DataError(path, problem, line=number)
            yield number, line.removeprefix("\ufeff") if number == 1 else line


# A pretty-printed JSON file (an array, or one object over many lines) is a common mistake for
# JSON Lines; every line after the first would be "malformed", so say what the file is instead.
_NOT_JSONL = (
    "found a JSON array or a JSON object over several lines; expected JSON Lines: one JSON "
    "object per line (convert an array with: jq -c '.[]' FILE > FILE.jsonl)"
)


def _parse_json_line(line: str, first: bool) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(record, problem, fatal) for one non-blank JSONL line; ``fatal`` ends the file's scan."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        if first and line.strip() in ("[", "{"):
            return None, _NOT_JSONL, True
        return None, f"malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})", False
    if first and isinstance(record, list):
        return None, _NOT_JSONL, True
    if not isinstance(record, dict):
        return None, f"expected a JSON object, found {type(record).__name__}", False
    return record, None, False


def json_line_problem(line: str) -> str | None:
    """What the JSONL reader says of ``line`` when it is not a file's first line (None: a JSON
    object). For readers that see a file in pieces, whose first line is no file's first."""
    return _parse_json_line(line, first=False)[1] if line.strip() else None


def scan_records(
    path: str | Path,
) -> Iterator[tuple[int | None, dict[str, Any] | None, str | None]]:
    """Yield ``(line, record, None)`` or ``(line, None, problem)`` for every line of a file.

    The reader behind :func:`iter_records`, for checks (``stance data check``) that report
    every broken JSONL line at once. Whole-file problems (missing, a directory, empty,
    pretty-printed JSON, binary, CSV structure) end the scan of that file.

    Raises:
        DataError: the suffix is neither JSONL nor CSV.
    """
    path = Path(path)
    fmt = detect_format(path)
    problem = _file_problem(path)
    if problem is not None:
        yield None, None, problem
        return
    if fmt == "csv":
        try:
            for line, record in _iter_csv(path):
                yield line, record, None
        except DataError as exc:
            yield exc.line, None, exc.message
        return
    yield from _scan_jsonl(path)


def _scan_jsonl(path: Path) -> Iterator[tuple[int | None, dict[str, Any] | None, str | None]]:
    seen_any = False
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line, problem = _decode(raw)
            if problem is not None:
                yield number, None, problem
                if "NUL" in problem:
                    return
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")  # tolerate a UTF-8 byte-order mark
            if not line.strip():
                continue
            record, problem, fatal = _parse_json_line(line, first=not seen_any)
            seen_any = True
            yield number, record, problem
            if fatal:
                return
    if not seen_any:
        yield None, None, "file is empty; expected one JSON object per line"


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream the records of a JSONL or CSV file as ``(line_number, record)`` pairs.

    Blank lines in JSONL are skipped. CSV records map the header's column names to strings.

    Raises:
        DataError: the file is missing, a directory, empty, not UTF-8 or binary, or a line is
            not a JSON object / a CSV row with the wrong number of fields. The error names the
            file and the line.
    """
    for number, record, problem in scan_records(path):
        if problem is not None:
            raise DataError(path, problem, line=number)
        yield number, record


def _raise_csv_field_limit() -> None:
    # csv's default field limit (131,072 characters) would reject a long quote as "malformed
    # CSV"; long texts are the model's business (truncated with a warning), as in JSONL.
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long is 32 bits on Windows
            limit //= 2


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # Decode line by line (for line numbers in encoding errors), then let csv handle quoting.
    # csv needs the physical lines of multi-line quoted fields joined, so it reads from a
    # generator; a record is numbered by its first physical line, where an editor should jump.
    # strict: a stray or missing double quote is an error, not the rows after it silently
    # merged into one field.
    _raise_csv_field_limit()
    reader = csv.reader((line for _, line in _decoded_lines(path)), strict=True)
    start = 1
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(path, "file is empty; expected a CSV header row such as 'text,label'")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise DataError(path, f"duplicate column names in header {header}", line=1)
        seen_any = False
        start = reader.line_num + 1
        for row in reader:
            # A blank line is no record, as in JSONL. A row of empty cells (",,", what
            # spreadsheets write for an empty row) is one: dropping it would shift every later
            # row against the input, so it reaches the caller, whose checks name its line.
            if row and not (len(row) == 1 and not row[0].strip()):
                if len(row) != len(header):
                    raise DataError(
                        path,
                        f"expected {len(header)} fields (columns {', '.join(header)}), "
                        f"found {len(row)}",
                        line=start,
                    )
                seen_any = True
                yield start, dict(zip(header, row))
            start = reader.line_num + 1
        # Like an empty JSONL file: no records is an error, not an empty dataset to score.
        if not seen_any:
            raise DataError(
                path, "file is empty: a header row but no records; expected at least one row"
            )
    except csv.Error as exc:
        raise DataError(path, _csv_error(exc, start, reader.line_num), line=start) from None


def _csv_error(exc: csv.Error, start: int, end: int) -> str:
    found = f"{exc}" if end == start else f"{exc}, at line {end}"
    return (
        f"malformed CSV record starting on this line ({found}): a stray or missing double "
        "quote? Expected a field holding commas, quotes or line breaks wholly inside double "
        'quotes, with each quote in it doubled ("")'
    )


def read_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """All ``(line_number, record)`` pairs of a file (see :func:`iter_records`)."""
    return list(iter_records(path))


def validate_text(value: Any, where: str) -> str:
    """Return ``value`` if it is a non-blank string, else raise a ``TypeError``/``ValueError``.

    Args:
        value: the candidate text.
        where: how to name it in the message, e.g. ``"item 3"``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a string, found {type(value).__name__} {value!r:.60}")
    if not value.strip():
        raise ValueError(f"{where}: text is empty or whitespace only")
    return value


def load_labelled(
    path: str | Path,
    labels: Sequence[str] | None = LABELS,
    text_column: str = "text",
    label_column: str = "label",
) -> LabelledData:
    """Read a labelled JSONL or CSV file, checking every row.

    Args:
        path: the file.
        labels: the allowed label names; ``None`` accepts any non-empty label.
        text_column: the column holding the statement.
        label_column: the column holding the gold label.

    Returns:
        The texts, labels, full records and line numbers, in file order.

    Raises:
        DataError: naming the file and line of the first problem: a missing column, an empty
            text, or a label outside ``labels`` (the message lists the allowed ones).
    """
    texts: list[str] = []
    golds: list[str] = []
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    allowed = set(labels) if labels is not None else None
    for number, record in iter_records(path):
        for column in (text_column, label_column):
            if column not in record:
                raise DataError(
                    path,
                    f"missing column {column!r} (found columns: {', '.join(map(str, record)) or 'none'})",
                    line=number,
                )
        text, label = record[text_column], record[label_column]
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                path, f"{text_column!r} must be a non-empty string, found {text!r:.60}", line=number
            )
        if not isinstance(label, str) or not label.strip():
            raise DataError(
                path,
                f"{label_column!r} must be a non-empty string, found {label!r:.60}",
                line=number,
            )
        label = label.strip()
        if allowed is not None and label not in allowed:
            raise DataError(
                path, f"unknown label {label!r}; allowed labels: {', '.join(labels)}", line=number
            )
        texts.append(text)
        golds.append(label)
        records.append(record)
        lines.append(number)
    return LabelledData(texts=texts, labels=golds, records=records, lines=lines, path=str(path))


# Characters that str.splitlines() and many tools treat as line breaks; JSON allows them raw
# inside strings, so they are escaped to keep one record per physical line for every reader.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
# A lone surrogate (from a "\ud800" escape in the input) cannot be written as UTF-8; escaped,
# it reads back as the same string.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(record: dict[str, Any]) -> str:
    """One record as a line of JSON Lines (UTF-8 text as is, ending in ``"\\n"``).

    Line-break characters other than ``\\n`` (U+0085, U+2028, U+2029) and lone surrogates are
    written as ``\\uXXXX`` escapes, so the line is valid UTF-8 and no reader splits it.
    """
    text = json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write records as JSON Lines (see :func:`json_line`), atomically: a failure midway
    leaves any previous file intact."""
    from stance.models.artifacts import atomic_file  # lazy: keeps `import stance.data` light

    path = Path(path)
    with atomic_file(path) as fh:
        for record in records:
            fh.write(json_line(record))
    return path


def write_jsonl_files(
    outputs: Mapping[str | Path, Iterable[dict[str, Any]]],
) -> list[Path]:
    """Write several JSON Lines files as one set: every file is written in full (and synced)
    before any of them replaces its previous version.

    Files that belong together, such as the train/validation/test splits of one corpus, must
    never be left half old and half new: a failure while writing any of them (a full disk, a
    record that is not JSON) leaves every previous file intact
    (:func:`stance.models.artifacts.atomic_files`).
    """
    from stance.models.artifacts import atomic_files  # lazy: keeps `import stance.data` light

    paths = [Path(p) for p in outputs]
    with atomic_files(paths) as handles:
        for handle, records in zip(handles, outputs.values(), strict=True):
            for record in records:
                handle.write(json_line(record))
    return paths


def check_jsonl_output(
    path: str | Path, inputs: Iterable[str | Path | None] = (), what: str = "output"
) -> Path:
    """Refuse an output that a JSON Lines writer cannot write safely, before any work.

    Expected: a ``.jsonl``/``.json``/``.ndjson`` file name (these commands write JSON Lines,
    so a ``.csv`` name would hold JSON under a CSV name), not a folder, in a folder, and not
    the same file as any of ``inputs`` (the command's own input, or held-out data that must
    never change).

    Raises:
        DataError: names the output and what to choose instead.
    """
    path = Path(path)
    if path.suffix.lower() not in JSONL_SUFFIXES:
        raise DataError(path, f"the {what} is written as JSON Lines; expected a name ending in "
                        f"{' or '.join(JSONL_SUFFIXES)}, found {path.suffix or 'no suffix'!r}")  # fmt: skip
    if path.is_dir():
        raise DataError(path, f"is a directory; expected a file name for the {what}")
    from stance.models.artifacts import check_directory_target  # lazy: keeps import light

    check_directory_target(path.parent)
    for other in inputs:
        if (
            other is not None
            and path.exists()
            and Path(other).exists()
            and os.path.samefile(path, other)
        ):
            raise DataError(path, f"is also {other}, which the {what} would overwrite; choose "
                            "another output file")  # fmt: skip
    return path


def to_dataset(data: LabelledData, label_names: Sequence[str] = LABELS):
    """A ``datasets.Dataset`` with ``text`` and integer ``label`` columns (class order = ``label_names``).

    Files are read and checked by :func:`load_labelled` first (so errors name the line), then
    handed to the ``datasets`` library in memory; nothing touches the hub.
    """
    import datasets  # heavy: imported only when a Dataset is really needed

    index = {name: i for i, name in enumerate(label_names)}
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(label_names))}
    )
    return datasets.Dataset.from_dict(
        {"text": list(data.texts), "label": [index[label] for label in data.labels]},
        features=features,
    )
