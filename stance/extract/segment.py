"""Segmentation: cut a unit where its stance may turn, so that each unit holds one stance.

A classifier gives each unit one label, so a unit that praises and then doubts a reform gets
a label that is wrong for half of it. Three cues cut a unit, each keeping exact offsets
(``article[start:end] == text``):

- **a new quoted paragraph** (direct quotes): each paragraph of a multi-paragraph quote,
  which the newspaper reopens with a quote mark, is a turn of its own;
- **a sentence that opens with a contrast** (direct quotes and readers' comments): "But",
  "However", "Yet", "Having said that", "That said", "On the other hand", "Nevertheless",
  "Even so" start a new unit ("... it works. But you have to fund it." -> two units);
- **a second speaker** (reported speech): "Dr X said A, but Dr Y argued B" is cut before
  the conjunction when the clause after it has its own subject and reporting verb and names
  another speaker (done by the caller, which can resolve speakers; see :func:`clause_cuts`).

Contrasts inside a sentence ("..., but there is also some push") are not cut: the clause
after them rarely stands as a statement on its own.
"""

from __future__ import annotations

import re
from dataclasses import replace

from stance.extract.sentences import _strip
from stance.extract.unit import Quote
from stance.extract.vocab import _QUOTE_CHARS
from stance.extract.zones import _n_words

__all__ = ["split_unit", "clause_cuts", "MIN_PIECE_WORDS"]

# A piece shorter than this is not a statement ("‘Absolutely.’"): it stays with its neighbour.
MIN_PIECE_WORDS = 4

_CONTRAST = (
    r"but|however|yet|nevertheless|nonetheless|having\s+said\s+that|that\s+said"
    r"|on\s+the\s+other\s+hand|even\s+so"
)
# A sentence end (optionally a closing mark or bracket), space, then a contrast word. The
# contrast may be lower case: readers' comments often are.
_CONTRAST_TURN_RE = re.compile(
    r"(?P<end>[.!?…]["
    + re.escape(_QUOTE_CHARS)
    + r")\]]?)\s+(?=["
    + re.escape(_QUOTE_CHARS)
    + r"]?"
    r"(?i:" + _CONTRAST + r")\b)"
)
# Inside a sentence: a conjunction that may hand over to another speaker.
_CLAUSE_TURN_RE = re.compile(r"[,;]\s+(?=(?:but|while|whereas|however,?)\s)", re.IGNORECASE)
_TRAILING = ",;:—–- "


def split_unit(text: str, unit: Quote) -> list[Quote]:
    """The unit cut at its stance turns (paragraphs of a quote, contrast sentences).

    Args:
        text: the whole article (offsets index into it).
        unit: a unit found in ``text``.

    Returns:
        One or more units of the same kind and speaker, in order, with exact offsets.

    Example:
        >>> art = "‘It works well for us. But it needs money to last.’"
        >>> [u.text for u in split_unit(art, Quote(art[1:-1], "X", None, 1, len(art) - 1, "direct"))]
        ['It works well for us.', 'But it needs money to last.']
    """
    spans = [unit.span]
    if unit.kind == "direct":
        spans = [p for s, e in spans for p in _paragraphs(text, s, e)]
    if unit.kind in ("direct", "comment"):
        spans = [p for s, e in spans for p in _contrast_turns(text, s, e)]
    spans = _merge_short(text, spans)
    if len(spans) == 1:
        return [unit]
    return [replace(unit, text=text[s:e], start=s, end=e) for s, e in spans]


def clause_cuts(text: str, s: int, e: int) -> list[int]:
    """Where a sentence may hand over to another speaker: the offsets of ``, but`` / ``; while``
    / ``, whereas`` (the position of the comma). The caller decides whether the clause after
    one names a different speaker."""
    return [m.start() for m in _CLAUSE_TURN_RE.finditer(text, s, e)]


def _piece(text: str, s: int, e: int) -> tuple[int, int]:
    """A piece without surrounding space, a reopening quote mark, or trailing commas/dashes."""
    s, e = _strip(text, s, e)
    if s < e and text[s] in _QUOTE_CHARS:
        s += 1
    while e > s and text[e - 1] in _TRAILING:
        e -= 1
    return s, e


def _paragraphs(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """A direct quote over several paragraphs, one span per paragraph."""
    out, a = [], s
    while True:
        nl = text.find("\n", a, e)
        b = e if nl < 0 else nl
        piece = _piece(text, a, b)
        if piece[0] < piece[1]:
            out.append(piece)
        if nl < 0:
            return out or [(s, e)]
        a = nl + 1


def _contrast_turns(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """Cut before each sentence that opens with a contrast word."""
    out, a = [], s
    for m in _CONTRAST_TURN_RE.finditer(text, s, e):
        out.append(_piece(text, a, m.end("end")))
        a = m.end()
    out.append(_piece(text, a, e))
    return [p for p in out if p[0] < p[1]] or [(s, e)]


def _merge_short(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a piece under MIN_PIECE_WORDS words to the piece before it (or after, if first)."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        short = _n_words(text[s:e]) < MIN_PIECE_WORDS
        if out and (short or _n_words(text[out[-1][0] : out[-1][1]]) < MIN_PIECE_WORDS):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
