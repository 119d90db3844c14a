"""Lines and zones: body paragraphs, readers' comment blocks, and page furniture (dropped)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from stance.extract.vocab import (
    _BULLET_RE,
    _COMMENT_MARKER_RE,
    _FURNITURE_RE,
    _SEPARATOR_RE,
    _SHORT_FURNITURE_RE,
    _TAIL_HEADING_RE,
    _WORD_RE,
    MIN_COMMENT_WORDS,
)

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []


@dataclass
class _Para:
    start: int
    end: int


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line's content, without its line break or surrounding spaces."""
    pos, n = 0, len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        stop = n if nl < 0 else nl
        s, e = pos, stop
        while s < e and text[s] in " \t\r\f\v\u00a0\ufeff\u200b":
            s += 1
        while e > s and text[e - 1] in " \t\r\f\v\u00a0\ufeff\u200b":
            e -= 1
        yield s, e
        if nl < 0:
            break
        pos = nl + 1


def _n_words(text: str) -> int:
    return sum(1 for _ in _WORD_RE.finditer(text))


def _zones(text: str) -> tuple[list[_Para], list[list[tuple[int, int]]]]:
    """Split the article into body paragraphs and readers' comment blocks; drop furniture.

    Returns:
        (body paragraphs, comment blocks); a comment block is a list of (start, end) lines.
    """
    body: list[_Para] = []
    comments: list[list[tuple[int, int]]] = []
    zone = "body"
    block: list[tuple[int, int]] = []

    def flush() -> None:
        nonlocal block
        if block:
            comments.append(block)
            block = []

    for s, e in _lines(text):
        line = text[s:e]
        if s == e:
            flush()  # a blank line ends a comment
            continue
        short = len(line) <= 80
        if short and _COMMENT_MARKER_RE.match(line):
            flush()
            zone = "comments"
            continue
        if _SEPARATOR_RE.match(line) or (short and _TAIL_HEADING_RE.match(line)):
            flush()
            if zone == "comments" or _TAIL_HEADING_RE.match(line):
                zone = "tail"  # what follows a comment section's end is the page's sidebar
            continue
        if zone == "tail":
            continue
        if _FURNITURE_RE.search(line) or (
            short and (_SHORT_FURNITURE_RE.search(line) or line.count("|") >= 2)
        ):
            flush()
            continue
        if zone == "body":
            body.append(_Para(s, e))
            continue
        # comments zone: a bullet starts a new comment; a continuation line joins the current one
        bullet = _BULLET_RE.match(line)
        if bullet:
            flush()
            s += bullet.end()
        if s < e:
            block.append((s, e))
    flush()
    # a comment has at least one line of prose ("Or contact Roy -" is a link, not a comment)
    kept = [
        blk for blk in comments if max(_n_words(text[s:e]) for s, e in blk) >= MIN_COMMENT_WORDS
    ]
    return body, kept
