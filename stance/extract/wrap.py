"""Line breaks: every kind made a line feed, and hard-wrapped paragraphs joined.

The extractor reads one paragraph per line: a line end closes a quote's paragraph, a
sentence and a readers' comment. Text saved from email, plain-text archives or some PDF
converters is hard-wrapped instead (every line about 70-80 characters, a paragraph over
several lines), so each line end would cut a quote in the middle of a sentence.

:func:`unwrap` joins the lines of each paragraph by turning their line breaks into spaces,
one character for one, so every offset still points into the original article. It only acts
on text that :func:`is_hard_wrapped` recognises, and a line ends its paragraph when:

- the next line is blank (the usual paragraph separator of wrapped text), or indented;
- it is short for the text's wrap width (a paragraph's last line, a heading, a byline);
- it or the next line is a comment marker ("Readers' comments");
- it ends a sentence and the next line opens a new block: a quote mark (a new quoted
  paragraph, the newspaper convention) or a bullet.

Without blank lines between paragraphs, a paragraph whose last line happens to be nearly full
runs on into the next one.

The test for wrapping is deliberately strict: a page of short lines (menus, headings, a
list of links) is not wrapped prose, and wrongly joining its lines would merge quotes.
"""

from __future__ import annotations

import re

from stance.extract.vocab import _BULLET_RE, _COMMENT_MARKER_RE, _QUOTE_CHARS

__all__ = ["is_hard_wrapped", "one_line_break", "unwrap"]

# Wrap widths seen in practice are 60-80 (email, fixed-width archives). A text whose long
# lines exceed the maximum is laid out one paragraph per line; one whose lines stay under the
# minimum is a list or a menu. Joining the lines of either would be wrong.
MIN_WRAP_WIDTH = 40
MAX_WRAP_WIDTH = 110
# At least this many mid-sentence line breaks after full lines, and at least this share of
# the breaks after full lines, before a text counts as wrapped.
MIN_WRAPPED_BREAKS = 3
MIN_WRAPPED_SHARE = 0.5
# The last line of a paragraph is usually shorter than the wrap width; a line at least this
# share of the width is "full" and continues on the next line.
FULL_LINE_SHARE = 0.6

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


def _lines(text: str) -> list[tuple[int | None, str]]:
    """Each line as (offset of the line break that ends it, or None for the last line; the
    line without surrounding space)."""
    out: list[tuple[int | None, str]] = []
    pos = 0
    while (nl := text.find("\n", pos)) >= 0:
        out.append((nl, text[pos:nl].strip(_SPACE)))
        pos = nl + 1
    out.append((None, text[pos:].strip(_SPACE)))
    return out


def _continues(line: str, nxt: str) -> bool:
    """True when a line break falls inside a sentence: the line does not end one and the
    next line carries on in lower case (or this line ends with a comma, a semicolon or a
    spaced dash)."""
    if not line or not nxt or _SENTENCE_END_RE.search(line):
        return False
    # a spaced dash ("GP practices -"), not a rule of dashes ("-------")
    dash = line[-1] in "-–—" and line[-2:-1] == " "
    return nxt[0].islower() or line[-1] in ",;" or dash


def _width(lines: list[str]) -> int:
    """The wrap width: the 90th percentile of the non-blank lines' lengths."""
    lengths = sorted(len(line) for line in lines if line)
    return lengths[(9 * len(lengths)) // 10] if lengths else 0


def is_hard_wrapped(text: str) -> bool:
    """Whether ``text`` looks hard-wrapped: short lines that mostly break mid-sentence.

    Example:
        >>> para = "Dr Ann Lee said the plan was one that the practices in the\\n"
        >>> is_hard_wrapped(para + "town had been asking for, and that the federation\\n"
        ...                 "would take it on, in the spring, with the vanguard and its\\n"
        ...                 "partners in the county.\\n")
        True
        >>> is_hard_wrapped("Dr Ann Lee said the plan would work.\\nShe is a GP.\\n")
        False
    """
    lines = [line for _, line in _lines(one_line_break(text))]
    width = _width(lines)
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH:
        return False
    # A wrap falls at the end of a full line, so only full lines followed by another line
    # count: short ones are headings, menus and links, which a scraped page has many of.
    full = [(a, b) for a, b in zip(lines, lines[1:]) if b and len(a) >= FULL_LINE_SHARE * width]
    mid = sum(_continues(a, b) for a, b in full)
    return mid >= MIN_WRAPPED_BREAKS and mid >= MIN_WRAPPED_SHARE * len(full)


def _ends_paragraph(line: str, nxt: str, raw_next: str, width: int) -> bool:
    """Whether the break after ``line`` ends its paragraph (see the module docstring)."""
    if not line or not nxt or raw_next[:1] in " \t":
        return True
    if _COMMENT_MARKER_RE.match(line) or _COMMENT_MARKER_RE.match(nxt):
        return True
    if len(line) < FULL_LINE_SHARE * width:
        return True  # a short line: a paragraph's last line, a heading, a byline, a menu
    # A full line goes on, unless it ends a sentence and what follows opens a new block. A
    # dash that wrapping moved to the start of a line ("standalone GP practices\n- in a bid")
    # is not a bullet: it follows a line that does not end a sentence.
    ends_sentence = bool(_SENTENCE_END_RE.search(line))
    return ends_sentence and (nxt[0] in _OPENING_MARKS or bool(_BULLET_RE.match(nxt)))


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
    width = _width([line for _, line in lines])
    chars = list(text)
    for (nl, line), (next_nl, following) in zip(lines, lines[1:]):
        assert nl is not None  # only the last line has no break, and it is never first here
        raw_next = text[nl + 1 : len(text) if next_nl is None else next_nl]
        if _ends_paragraph(line, following, raw_next, width):
            continue
        chars[nl] = " "
        if nl > 0 and chars[nl - 1] == "\r":
            chars[nl - 1] = " "
    return "".join(chars)
