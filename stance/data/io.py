"""Reading labelled quote files (JSON Lines or CSV) with errors that name the file and line.

Two formats are accepted wherever data is read:

- JSON Lines (``.jsonl``, ``.json``, ``.ndjson``): one JSON object per line;
- CSV (``.csv``): a header row, with at least a ``text`` column (and ``label`` for labelled data).

Reading streams, so a file of a million rows never sits in memory at once
(:func:`iter_records`); :func:`load_labelled` reads a whole labelled file and checks every row.

Example:
    >>> data = load_labelled("data/splits/test.jsonl")        # doctest: +SKIP
    >>> len(data), data.texts[0][:30], data.labels[0]           # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.constants import LABELS
from stance.errors import DataError

__all__ = [
    "LabelledData",
    "detect_format",
    "iter_records",
    "read_records",
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


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a JSONL or CSV file")


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) decoded as UTF-8, failing on the first undecodable or binary line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                raise DataError(path, "binary data (NUL byte); expected UTF-8 text", line=number)
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    path,
                    f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); save the file as UTF-8",
                    line=number,
                ) from None


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream the records of a JSONL or CSV file as ``(line_number, record)`` pairs.

    Blank lines in JSONL are skipped. CSV records map the header's column names to strings.

    Raises:
        DataError: the file is missing, a directory, empty, not UTF-8 or binary, or a line is
            not a JSON object / a CSV row with the wrong number of fields. The error names the
            file and the line.
    """
    path = Path(path)
    _check_file(path)
    fmt = detect_format(path)
    seen_any = False
    if fmt == "jsonl":
        for number, line in _decoded_lines(path):
            if number == 1:
                line = line.removeprefix("\ufeff")  # tolerate a UTF-8 byte-order mark
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    path,
                    f"malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})",
                    line=number,
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    path,
                    f"expected a JSON object per line, found {type(record).__name__}",
                    line=number,
                )
            seen_any = True
            yield number, record
    else:
        yield from _iter_csv(path)
        return
    if not seen_any:
        raise DataError(path, "file is empty; expected one JSON object per line")


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # Decode line by line (for line numbers in encoding errors), then let csv handle quoting.
    # csv needs the physical lines of multi-line quoted fields joined, so it reads from a
    # generator and we track the line number through `reader.line_num`.
    def text_lines() -> Iterator[str]:
        for number, line in _decoded_lines(path):
            yield line.removeprefix("\ufeff") if number == 1 else line

    reader = csv.reader(text_lines())
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(path, "file is empty; expected a CSV header row such as 'text,label'")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise DataError(path, f"duplicate column names in header {header}", line=1)
        seen_any = False
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    path,
                    f"expected {len(header)} fields (columns {', '.join(header)}), found {len(row)}",
                    line=reader.line_num,
                )
            seen_any = True
            yield reader.line_num, dict(zip(header, row))
        # Like an empty JSONL file: no records is an error, not an empty dataset to score.
        if not seen_any:
            raise DataError(
                path, "file is empty: a header row but no records; expected at least one row"
            )
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})", line=reader.line_num) from None


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
