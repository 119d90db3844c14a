"""Line breaks: every kind made a line feed, and hard-wrapped paragraphs joined.

The extractor reads one paragraph per line: a line end closes a quote's paragraph, a
sentence and a readers' comment. Text saved from email, plain-text archives or some PDF
converters is hard-wrapped instead (every line about 70-80 characters, a paragraph over
several lines), so each line end would cut a quote in the middle of a sentence.

:func:`unwrap` joins the lines of each paragraph by turning their line breaks into spaces,
one character for one, so every offset still points into the original article. It only acts
on text that :func:`is_hard_wrapped` recognises: lines of at most 40-110 characters, several
of them broken in the middle of a sentence, where either most breaks fall where the next word
would not have fitted (what filling each line does, counted in characters or in UTF-8 bytes)
or blank lines separate the paragraphs (balanced wrappers such as ``fmt`` fill lines less).

With blank lines between paragraphs, the lines of each block are joined, except after a line
that is neither nearly full nor followed by a lower-case word (a heading, a byline), before a bullet
that follows a full stop, and around a comment marker ("Readers' comments"). Without
them, a line also ends its paragraph when the next word would have fitted on it (the writer
ended it there: a paragraph's last line, a heading, a byline, a list item), when the next line
is indented and this one is not, or when it ends a sentence and the next line opens with a
quote mark (a new quoted paragraph, the newspaper convention); a paragraph whose last line
happens to be nearly full then runs on into the next one.

Layout is the only evidence, so one-paragraph-per-line text whose lines all run to about the
same length and break mid-sentence (lower-case readers' comments of one length, say) can look
wrapped; a page of short or uneven lines (menus, headings, lists, short paragraphs) does not.
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
# A text counts as wrapped when at least this many of the breaks after its lines of at least
# half the width fall mid-sentence (the sentence plainly goes on), and either this share of
# those breaks fall where the next word would not have fitted, or blank lines separate its
# paragraphs and at least half of the breaks fall mid-sentence.
MIN_WRAPPED_BREAKS = 3
MIN_WRAPPED_SHARE = 0.6
# With blank lines between paragraphs, a line of at least this share of the wrap width is
# full enough to have been wrapped by a balanced wrapper.
FULL_LINE_SHARE = 0.75

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
    size: int  # the same in UTF-8 bytes (some wrappers count bytes)
    text: str  # without surrounding space


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    pos = 0
    while True:
        nl = text.find("\n", pos)
        raw = (text[pos:] if nl < 0 else text[pos:nl]).rstrip(_SPACE)
        indented = raw[:1] in (" ", "\t")
        out.append(_Line(None if nl < 0 else nl, indented, len(raw), len(raw.encode()),
                         raw.strip(_SPACE)))  # fmt: skip
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


def _p90(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[(9 * len(ordered)) // 10] if ordered else 0


class _Layout(NamedTuple):
    width: int  # the wrap width: the 90th percentile of the lengths of lines of two words or more
    width_bytes: int
    blank_separated: bool  # blank lines between paragraphs of several lines


def _layout(lines: list[_Line]) -> _Layout:
    # A line of one word (a long URL) is as long as the word, whatever the wrap width.
    full = [line for line in lines if " " in line.text]
    blocks, run = [], 0
    for line in lines + [_Line(None, False, 0, 0, "")]:
        if line.text:
            run += 1
        elif run:
            blocks.append(run)
            run = 0
    several = sum(n > 1 for n in blocks)
    return _Layout(_p90([line.length for line in full]), _p90([line.size for line in full]),
                   len(blocks) >= 3 and several >= 2)  # fmt: skip


def _wrap_point(line: _Line, nxt: _Line, layout: _Layout) -> bool:
    """A break that filling lines to the wrap width would make: the next line's first word
    would not have fitted on this line, counted in characters or in bytes."""
    if not line.text or not nxt.text:
        return False
    word = nxt.text.split(" ", 1)[0]  # a no-break space joins words that wrapping keeps whole
    return (line.length + 1 + len(word) > layout.width
            or line.size + 1 + len(word.encode()) > layout.width_bytes)  # fmt: skip


def is_hard_wrapped(text: str) -> bool:
    """Whether ``text`` looks hard-wrapped (see the module docstring).

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
    layout = _layout(lines)
    if not MIN_WRAP_WIDTH <= layout.width <= MAX_WRAP_WIDTH:
        return False
    # Breaks after lines of at least half the width: short lines (headings, menus, a
    # paragraph's last line) are the writer's own line ends in wrapped text too.
    pairs = [(a, b) for a, b in zip(lines, lines[1:]) if b.text and a.length >= layout.width / 2]
    mid = sum(_continues(a.text, b.text) for a, b in pairs)
    if mid < MIN_WRAPPED_BREAKS:
        return False
    if sum(_wrap_point(a, b, layout) for a, b in pairs) >= MIN_WRAPPED_SHARE * len(pairs):
        return True
    return layout.blank_separated and mid >= len(pairs) / 2


def _ends_paragraph(line: _Line, nxt: _Line, layout: _Layout) -> bool:
    """Whether the break after ``line`` ends its paragraph (see the module docstring)."""
    if not line.text or not nxt.text:
        return True
    if _COMMENT_MARKER_RE.match(line.text) or _COMMENT_MARKER_RE.match(nxt.text):
        return True
    ends_sentence = bool(_SENTENCE_END_RE.search(line.text))
    fits = not _wrap_point(line, nxt, layout)
    # A dash that wrapping moved to the start of a line ("standalone GP practices\n- in a
    # bid") is no bullet: it follows a line that does not end a sentence and that is full
    # (or, in blocks between blank lines, any such line: balanced wrappers fill lines less).
    if _BULLET_RE.match(nxt.text) and (ends_sentence or (fits and not layout.blank_separated)):
        return True
    if layout.blank_separated:
        # Balanced wrappers fill lines less than the width, so a line goes on when the next
        # word would not have fitted, when it is nearly full, or when the next line carries on
        # in lower case; any other (a heading, a byline, a menu item) was ended by the writer.
        full = line.length >= FULL_LINE_SHARE * layout.width
        return fits and not full and not nxt.text[0].islower()
    if fits or (nxt.indented and not line.indented and not _BULLET_RE.match(line.text)):
        return True  # the writer ended the line, or indented a paragraph's first line
    return ends_sentence and nxt.text[0] in _OPENING_MARKS


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
    layout = _layout(lines)
    chars = list(text)
    for line, following in zip(lines, lines[1:]):
        if _ends_paragraph(line, following, layout):
            continue
        nl = line.end
        assert nl is not None  # only the last line has no break, and it is never first here
        chars[nl] = " "
        if nl > 0 and chars[nl - 1] == "\r":
            chars[nl - 1] = " "
    return "".join(chars)
