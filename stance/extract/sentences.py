"""Sentence spans of a paragraph, with quotes kept whole."""

from __future__ import annotations

from stance.extract.vocab import _ABBREVIATIONS, _QUOTE_CHARS, _SENT_END
from stance.extract.zones import _Para

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []


def _sentences(text: str, p: _Para, intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans of a paragraph; ``intervals`` (sorted) are quotes, never split inside."""
    out: list[tuple[int, int]] = []
    s = p.start
    i = p.start
    q = 0
    while i < p.end:
        if q < len(intervals) and i >= intervals[q][0]:
            qs, qe = intervals[q]
            q += 1
            i = max(i, qe)
            # a quote ending in .!? before its closing mark ends the sentence if a new one starts
            if qe - 2 >= qs and text[qe - 2] in _SENT_END and _starts_sentence(text, qe, p.end):
                out.append((s, qe))
                s = qe
            continue
        ch = text[i]
        if ch in _SENT_END and (i + 1 >= p.end or text[i + 1].isspace() or text[i + 1] in ")]"):
            if not _is_abbreviation(text, p.start, i) and _starts_sentence(text, i + 1, p.end):
                out.append((s, i + 1))
                s = i + 1
        i += 1
    if s < p.end:
        out.append((s, p.end))
    return [_strip(text, a, b) for a, b in out if text[a:b].strip()]


def _starts_sentence(text: str, i: int, end: int) -> bool:
    while i < end and text[i].isspace():
        i += 1
    if i >= end:
        return True
    ch = text[i]
    return ch.isupper() or ch.isdigit() or ch in _QUOTE_CHARS or ch in "([•"


def _is_abbreviation(text: str, ps: int, i: int) -> bool:
    j = i
    while j > max(ps, i - 12) and not text[j - 1].isspace():  # bounded: abbreviations are short
        j -= 1
    word = text[j:i].lower().strip("(\"'‘“")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e
