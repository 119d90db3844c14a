"""Line breaks: every kind made a line feed, and hard-wrapped paragraphs joined.

The extractor reads one paragraph per line: a line end closes a quote's paragraph, a
sentence and a readers' comment. Text saved from email, plain-text archives or some PDF
converters is hard-wrapped instead (every line about 70-80 characters, a paragraph over
several lines), so each line end would cut a quote in the middle of a sentence.

:func:`unwrap` joins the lines of each paragraph by turning their line breaks into spaces,
one character for one, so every offset still points into the original article. It only acts
on text that :func:`is_hard_wrapped` recognises, and a line ends its paragraph when:

- the next line is blank (the usual paragraph separator of wrapped text), or indented when
  this one is not (a paragraph's indented first line);
- the next line's first word would have fitted on it: the writer ended the line there (a
  paragraph's last line, a heading, a byline, a list item), not the wrapping;
- it or the next line is a comment marker ("Readers' comments");
- it ends a sentence and the next line opens a new block: a quote mark (a new quoted
  paragraph, the newspaper convention) or a bullet.

Without blank lines between paragraphs, a paragraph whose last line happens to be nearly full
runs on into the next one.

The test for wrapping is deliberately strict: a page of short lines (menus, headings, lists,
short paragraphs) is not wrapped prose, and wrongly joining its lines would merge quotes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from stance.extract.vocab import _BULLET_RE, _COMMENT_MARKER_RE, _QUOTE_CHARS

__all__ = ["is_hard_wrapped", "one_line_break", "unwrap"]

# Wrap widths seen in practice are 60-80 (email, fixed-width archives). A text whose long
# lines exceed the maximum is laid out one paragraph per line; one whose lines stay under the
# minimum is a list or a menu. Joining the lines of either would be wrong.
MIN_WRAP_WIDTH = 40
MAX_WRAP_WIDTH = 110
# A text counts as wrapped when at least this share of the line breaks after its lines of at
# least half the width look like a wrap (the next word would not have fitted), and at least
# this many of those fall mid-sentence (the sentence plainly goes on).
MIN_WRAPPED_SHARE = 0.6
MIN_WRAPPED_BREAKS = 3
# A line longer than this many times the 90th percentile of the line lengths is an unbroken
# URL or the like, not a guide to the wrap width.
_OUTLIER = 1.25

_SENTENCE_END_RE = re.compile(r"[.!?…:][" + re.escape(_QUOTE_CHARS) + r")\]]*$")
_OPENING_MARKS = "\"'“‘„«"


# Line breaks other than "\n": a lone carriage return (old Mac and some spreadsheet exports)
# and the Unicode line and paragraph separators. "\r\n" keeps its "\r", which the line
# readers strip.
_OTHER_BREAK_RE = re.compile(r"\r(?!\n)|[\u2028\u2029]")


def one_line_break(text: str) -> str:
    """``text`` with every line break as a line feed: one character for one, so every offset
    still points into the original article."""
    return _OTHER_BREAK_RE.sub("\n", text) if _OTHER_BREAK_RE.search(text) else text


# What surrounds a line's words: the zones reader strips the same characters.
_SPACE = " \t\r\f\v\u00a0\ufeff\u200b"


class _Line(NamedTuple):
    end: int | None  # offset of the line break that ends it; None for the last line
    indented: bool
    length: int  # with its indentation, as a wrapper counts it, without trailing space
    text: str  # without surrounding space


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    pos = 0
    while True:
        nl = text.find("\n", pos)
        raw = text[pos:] if nl < 0 else text[pos:nl]
        end = None if nl < 0 else nl
        out.append(_Line(end, raw[:1] in (" ", "\t"), len(raw.rstrip(_SPACE)), raw.strip(_SPACE)))
        if nl < 0:
            return out
        pos = nl + 1


def _continues(line: str, nxt: str) -> bool:
    """True when a line break falls inside a sentence: the line does not end one and the
    next line carries on in lower case (or this line ends with a comma, a semicolon or a
    spaced dash)."""
    if not line or not nxt or _SENTENCE_END_RE.search(line):
        return False
    # a spaced dash ("GP practices -"), not a rule of dashes ("-------")
    dash = line[-1] in "-–—" and line[-2:-1] == " "
    return nxt[0].islower() or line[-1] in ",;" or dash


def _width(lines: list[_Line]) -> int:
    """The wrap width: the longest non-blank line, leaving out outliers (see ``_OUTLIER``)."""
    lengths = sorted(line.length for line in lines if line.text)
    if not lengths:
        return 0
    p90 = lengths[(9 * len(lengths)) // 10]
    return max(n for n in lengths if n <= _OUTLIER * p90)


def _wrap_point(line: _Line, nxt: _Line, width: int) -> bool:
    """A break that wrapping at ``width`` would make: the next line's first word would not
    have fitted on this line. Wrapping breaks every full line so; a writer's own line ends
    (paragraphs, headings, list items) rarely fall just there."""
    if not line.text or not nxt.text:
        return False
    # a no-break space joins words into one that wrapping does not break
    return line.length + 1 + len(nxt.text.split(" ", 1)[0]) > width


def is_hard_wrapped(text: str) -> bool:
    """Whether ``text`` looks hard-wrapped: lines of at most 40-110 characters, most of them
    broken where wrapping would break them, several in the middle of a sentence.

    Example:
        >>> is_hard_wrapped("Dr Ann Lee said the plan was one that the practices in the\\n"
        ...                 "town had been asking for, and that the federation would take\\n"
        ...                 "it on in the spring, with the vanguard and its partners in\\n"
        ...                 "the county.\\n")
        True
        >>> is_hard_wrapped("Dr Ann Lee said the plan would work.\\nShe is a GP.\\n")
        False
    """
    lines = _lines(one_line_break(text))
    width = _width(lines)
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH:
        return False
    # Breaks after lines of at least half the width: short lines (headings, menus, a
    # paragraph's last line) are line ends of the writer's in wrapped text too.
    pairs = [(a, b) for a, b in zip(lines, lines[1:]) if b.text and a.length >= width / 2]
    wraps = [(a, b) for a, b in pairs if _wrap_point(a, b, width)]
    mid = sum(_continues(a.text, b.text) for a, b in wraps)
    return mid >= MIN_WRAPPED_BREAKS and len(wraps) >= MIN_WRAPPED_SHARE * len(pairs)


def _ends_paragraph(line: _Line, nxt: _Line, width: int) -> bool:
    """Whether the break after ``line`` ends its paragraph (see the module docstring)."""
    if not line.text or not nxt.text or (nxt.indented and not line.indented):
        return True
    if not _wrap_point(line, nxt, width):
        return True  # the next word would have fitted: the writer ended the line here
    if _COMMENT_MARKER_RE.match(line.text) or _COMMENT_MARKER_RE.match(nxt.text):
        return True
    # A wrapped line goes on, unless it ends a sentence and what follows opens a new block. A
    # dash that wrapping moved to the start of a line ("standalone GP practices\n- in a bid")
    # is not a bullet: it follows a line that does not end a sentence.
    ends_sentence = bool(_SENTENCE_END_RE.search(line.text))
    opens_block = nxt.text[0] in _OPENING_MARKS or bool(_BULLET_RE.match(nxt.text))
    return ends_sentence and opens_block


def unwrap(text: str) -> str:
    """``text`` with every line break as a line feed (:func:`one_line_break`) and, if it is
    hard-wrapped (:func:`is_hard_wrapped`), the breaks inside each paragraph turned into spaces.

    The result has the same length as ``text`` and differs from it only in line breaks (and
    the carriage returns before them), so offsets into it are offsets into ``text``. Text that
    needs neither change is returned as it is (the same object).

    Example:
        >>> art = ("Dr Ann Lee, a GP in the town, said: 'We back the plan, and the\\n"
        ...        "practices in the federation have asked for it for a long time, since\\n"
        ...        "the vanguard began, because it works for patients.'\\n\\n"
        ...        "Mr Bo Ng, who chairs the local medical committee, said the plan was\\n"
        ...        "one that the practices could not afford without new money.\\n")
        >>> print(unwrap(art))
        Dr Ann Lee, a GP in the town, said: 'We back the plan, and the practices in the federation have asked for it for a long time, since the vanguard began, because it works for patients.'
        <BLANKLINE>
        Mr Bo Ng, who chairs the local medical committee, said the plan was one that the practices could not afford without new money.
        <BLANKLINE>
    """
    text = one_line_break(text)
    if not is_hard_wrapped(text):
        return text
    lines = _lines(text)
    width = _width(lines)
    chars = list(text)
    for line, following in zip(lines, lines[1:]):
        if _ends_paragraph(line, following, width):
            continue
        nl = line.end
        assert nl is not None  # only the last line has no break, and it is never first here
        chars[nl] = " "
        if nl > 0 and chars[nl - 1] == "\r":
            chars[nl - 1] = " "
    return "".join(chars)
