"""Tables and shortened text for reports, model cards and the terminal: one implementation.

Example:
    >>> print(markdown_table(["label", "F1"], [["support", "0.71"], ["a | b", "0.5"]]))
    | label | F1 |
    |---|---:|
    | support | 0.71 |
    | a \\| b | 0.5 |
    >>> shorten("a  long\\nquote", 8)
    'a long …'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["markdown_cell", "markdown_table", "terminal_table", "shorten"]

_MARKS = {"l": "---", "r": "---:", "c": ":---:"}


def markdown_cell(text: Any) -> str:
    """Any value made safe inside a Markdown table cell (pipes escaped, whitespace one space)."""
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").strip()


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A Markdown table; ``align`` has one of l/r/c per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(_MARKS[a] for a in align) + "|"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def terminal_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Plain-text table lines: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in cells
    ]


def shorten(text: Any, width: int) -> str:
    """``text`` on one line (whitespace runs as one space), cut to ``width`` characters with "…"."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
