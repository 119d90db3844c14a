"""Quote marks: which marks open, close or are apostrophes, and how they pair over paragraphs."""

from __future__ import annotations

from dataclasses import dataclass, field

from stance.extract.vocab import (
    _AMBIG,
    _APOS,
    _CLOSE,
    _CLOSE_AFTER,
    _DOUBLE_MARKS,
    _MARK_RE,
    _OPEN,
    _OPEN_BEFORE,
    _QUOTE_CHARS,
    _SENT_END,
)
from stance.extract.zones import _Para

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []


def _family(ch: str) -> str:
    return "d" if ch in _DOUBLE_MARKS else "s"


def _classify(text: str, i: int, ps: int, pe: int) -> int:
    """Is the mark at ``i`` an opening mark, a closing mark, an ambiguous one, or an apostrophe?"""
    ch = text[i]
    prev = text[i - 1] if i > ps else " "
    nxt = text[i + 1] if i + 1 < pe else " "
    left_open = prev.isspace() or prev in _OPEN_BEFORE or prev in _QUOTE_CHARS
    right_open = nxt.isspace() or nxt in _CLOSE_AFTER or nxt in _QUOTE_CHARS
    if prev.isalnum() and nxt.isalnum():
        return _APOS  # don't, Government’s, O'Neill
    if prev in ",.;!?…" and right_open and ch not in "“„«‘‚‹‛":
        return _CLOSE  # ...community,’ he said
    if ch in "“„«‘‚‹‛":
        return _OPEN
    if ch in "”»":
        return _OPEN if left_open and not right_open else _CLOSE
    if ch == "›":
        return _CLOSE
    if ch == '"':
        if left_open and not right_open:
            return _OPEN
        if right_open and not left_open:
            return _CLOSE
        return _APOS
    # ’ and ' : apostrophes are common, so context decides.
    if left_open and not right_open:
        # ’90s, 'em: an elided word or year, not a quote
        return _APOS if nxt.isdigit() else _OPEN
    if right_open and not left_open:
        # GPs’ workload: a plural possessive or a closing mark; decided by what follows
        return _AMBIG if prev in "sSzZ" and nxt.isspace() else _CLOSE
    return _APOS


@dataclass
class _QuoteSpan:
    family: str
    open_pos: int  # index of the opening mark
    pieces: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, para index)
    close_pos: int | None = None  # index of the final closing mark, None if unclosed
    cur_start: int = 0
    cur_para: int = 0

    @property
    def last_para(self) -> int:
        return self.pieces[-1][2]


def _para_marks(text: str, p: _Para) -> list[tuple[int, str, int]]:
    return [
        (m.start(), _family(m.group()), _classify(text, m.start(), p.start, p.end))
        for m in _MARK_RE.finditer(text, p.start, p.end)
    ]


def _opens_with(marks: list[tuple[int, str, int]], p: _Para, family: str) -> bool:
    return bool(marks) and marks[0][0] == p.start and marks[0][1] == family and marks[0][2] == _OPEN


def _find_quotes(text: str, paras: list[_Para]) -> list[_QuoteSpan]:
    """Pair quote marks over the body paragraphs (one pass)."""
    quotes: list[_QuoteSpan] = []
    cur: _QuoteSpan | None = None
    marks_next = _para_marks(text, paras[0]) if paras else []
    for k, p in enumerate(paras):
        marks = marks_next
        marks_next = _para_marks(text, paras[k + 1]) if k + 1 < len(paras) else []
        # Backward pass: does a closing (or ambiguous) mark of each family follow mark j, and is
        # the next unambiguous mark of the same family a closing one?
        n = len(marks)
        close_after = {"d": [False] * (n + 1), "s": [False] * (n + 1)}
        next_is_close = [False] * (n + 1)
        seen_close = {"d": False, "s": False}
        last_unambig = {"d": None, "s": None}
        for j in range(n - 1, -1, -1):
            _, fam, cls = marks[j]
            close_after["d"][j] = seen_close["d"]
            close_after["s"][j] = seen_close["s"]
            next_is_close[j] = last_unambig[fam] == _CLOSE
            if cls in (_CLOSE, _AMBIG):
                seen_close[fam] = True
            if cls in (_OPEN, _CLOSE):
                last_unambig[fam] = cls
        start_j = 0
        if cur is not None:  # continued from the previous paragraph: skip the reopening mark
            cur.cur_start, cur.cur_para = marks[0][0] + 1, k
            start_j = 1
        for j in range(start_j, n):
            i, fam, cls = marks[j]
            if cur is None:
                if cls != _OPEN:
                    continue
                standalone = _only_space_or_colon_before(text, p.start, i)
                if (
                    not close_after[fam][j]
                    and not standalone
                    and not _opens_with(marks_next, paras[k + 1] if k + 1 < len(paras) else p, fam)
                ):
                    continue  # an opening mark nothing closes, mid-sentence: an apostrophe
                cur = _QuoteSpan(fam, i, cur_start=i + 1, cur_para=k)
            elif fam == cur.family and (cls == _CLOSE or (cls == _AMBIG and not next_is_close[j])):
                cur.pieces.append((cur.cur_start, i, cur.cur_para))
                cur.close_pos = i
                quotes.append(cur)
                cur = None
        if cur is not None:
            cur.pieces.append((cur.cur_start, p.end, k))
            if k + 1 < len(paras) and _opens_with(marks_next, paras[k + 1], cur.family):
                continue  # the quote goes on in the next paragraph
            quotes.append(cur)  # unclosed: it ends with its paragraph
            cur = None
    return quotes


def _only_space_or_colon_before(text: str, ps: int, i: int) -> bool:
    """True when the mark at ``i`` opens its paragraph or follows a colon or a sentence end."""
    j = i - 1
    while j >= ps and text[j].isspace():
        j -= 1
    return j < ps or text[j] in ":" + _SENT_END
