"""From a plain-text news article to the statements whose stance we classify.

:func:`extract_quotes` finds three kinds of stance-bearing units in an article:

- ``direct``: words inside quote marks that stand on their own (after ``said:``, opening a
  sentence or paragraph, or followed by ``, he said``), with their speaker;
- ``reported``: sentences of reported speech ("X said that ...", "X argued ...", "according to
  X, ..."), which often carry short quoted fragments (``he is "not a fan"``);
- ``comment``: one block per reader's comment, after a marker such as "Readers' comments".

Every unit carries character offsets into the article text (``text == article[start:end]``),
so a result can be checked against the article and against hand-cut gold units.

How it works, in one pass over the lines (linear in the article's length, no backtracking
regexes over unbounded text):

1. Lines are sorted into zones: the article body, a readers' comments section (after a
   marker line), and page furniture (cookie notices, sign-in prompts, menus, adverts,
   "Photo:", job lists, gossip columns), which is skipped.
2. Quote marks are paired per family (double: ``" “ ”``; single: ``' ‘ ’``) from their
   context: a mark between two letters is an apostrophe (don't, Government's); ``s'``/``s’``
   before a space (GPs' workload) closes a quote only if no later mark would. A quote still
   open at the end of a paragraph continues when the next paragraph opens with a mark of the
   same family (the newspaper convention for multi-paragraph quotes).
3. Sentences are split with quotes kept whole. A quote that stands on its own is ``direct``;
   its speaker comes from an attribution after it (``,' said Dr X``, ``,' he added``), before
   it (``Dr X said:``, ``According to X,``, ``It said:``), an earlier quote in the same
   paragraph (a quote split by ``he said.``), or else the last speaker named. Short quoted
   fragments inside a sentence are not units on their own: the sentence is a ``reported``
   unit when it has a reporting verb and a speaker, or when its subject is named ("NHS
   England will make it 'progressively less attractive' ...").
4. Pronouns (he/she/it/they) and definite descriptions ("the report", "the clinical
   director") continue the last speaker of the matching sort (organisation or person); an
   anonymous lede ("One of the top officials ... has criticised") takes the first speaker
   the article names; an unnamed person ("a very senior GP") is kept as described. Every
   speaker is resolved to the fullest form of the name seen in the article ("Coffey" ->
   "Dr Tom Coffey", "NHS Confed" -> "NHS Confederation").
5. Each unit is cut where its stance may turn (:mod:`stance.extract.segment`): at the
   reopened paragraphs of a quote, before a sentence opening with a contrast ("But",
   "However", ...), and in a reported sentence before ", but Dr Y said ..." when a second
   speaker takes over.

Out of scope (documented in docs/extraction.md): an author's own argument in a column or
editorial (no quote marks, no reporting verb), and readers' comments that a page shows with
no marker line before them.

Example:
    >>> qs = extract_quotes("Dr Ann Lee said: 'We back the plan.'\\n", source="a.txt")
    >>> [(q.kind, q.speaker, q.text) for q in qs]
    [('direct', 'Dr Ann Lee', 'We back the plan.')]
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stance.errors import DataError
from stance.extract.attribution import (
    _direct_unit,
    _first_outside,
    _intro_ref,
    _is_heading,
    _is_standalone,
    _last_outside,
    _Masks,
    _personal_name,
    _quote_trailing_ref,
    _reported_unit,
)
from stance.extract.marks import _find_quotes, _QuoteSpan
from stance.extract.names import _clause_subject, _clean_name, _mentions, _Ref, _split_commas
from stance.extract.segment import clause_cuts, split_unit
from stance.extract.sentences import _sentences, _strip
from stance.extract.speakers import _Speakers, speakers_match
from stance.extract.unit import KINDS, Quote
from stance.extract.vocab import _ANON_RE, _SUBJECT_WINDOW, _TITLED_RE
from stance.extract.wrap import one_line_break, unwrap
from stance.extract.zones import _Para, _zones

# ", but" / "; while" cuts tried per sentence for a change of speaker (real sentences have one
# or two; each try rereads the rest of the sentence).
_MAX_CLAUSE_CUTS = 8

__all__ = [
    "KINDS",
    "Quote",
    "extract_quotes",
    "extract_article",
    "extract_file",
    "read_article",
]


def read_article(path: str | Path) -> str:
    """Read an article as UTF-8 text, exactly as the offsets of :func:`extract_file` count it.

    Line endings are kept as they are (a ``\\r\\n`` file keeps its ``\\r``); a leading
    byte-order mark is kept too, so offsets match ``path.read_bytes().decode("utf-8")``.

    Raises:
        DataError: the file is missing, a directory, binary (contains NUL bytes) or not UTF-8
            (the message gives the byte offset and how to convert the file).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found; expected a plain-text article (.txt)")
    if path.is_dir():
        raise DataError(path, "is a directory; expected a plain-text article file")
    try:
        data = path.read_bytes()
    except OSError as exc:  # no permission, a broken mount
        raise DataError(
            path, f"cannot be read ({exc.strerror}); expected a readable article"
        ) from None
    if b"\x00" in data:
        raise DataError(
            path, "looks like a binary file (contains NUL bytes); expected plain UTF-8 text"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "convert it, e.g. `iconv -f cp1252 -t utf-8`",
        ) from None


def extract_file(path: str | Path) -> list[Quote]:
    """Extract the units of one article file; ``source`` is the file name.

    Args:
        path: a plain-text article (UTF-8).

    Returns:
        The units in article order; an empty list for an empty article or one without quotes.

    Raises:
        DataError: see :func:`read_article`.

    Example:
        >>> quotes = extract_file("data/articles/000_410b97c1aec12e84.txt")  # doctest: +SKIP
    """
    path = Path(path)
    return extract_quotes(read_article(path), source=path.name)


def extract_quotes(text: str, source: str | None = None) -> list[Quote]:
    """Find direct quotes, reported speech and readers' comments in an article.

    Args:
        text: the article (plain text; paragraphs on their own lines, or hard-wrapped with a
            blank line between paragraphs: :func:`stance.extract.wrap.unwrap` joins them).
        source: the article's name, copied into every :class:`Quote`.

    Returns:
        The units in article order; an empty list if there are none (or ``text`` is empty).

    Raises:
        TypeError: ``text`` is not a string.

    Example:
        >>> art = "Dr Ann Lee, a GP, said the plan would fail. 'It is a mess,' she added.\\n"
        >>> [(q.kind, q.speaker, q.text) for q in extract_quotes(art)]
        [('reported', 'Dr Ann Lee', 'Dr Ann Lee, a GP, said the plan would fail.'), ('direct', 'Dr Ann Lee', 'It is a mess')]
    """
    return extract_article(text, source)[0]


def extract_article(text: str, source: str | None = None) -> tuple[list[Quote], bool]:
    """:func:`extract_quotes`, and whether the article's lines had to be joined first.

    Returns:
        ``(units, joined)``: ``joined`` is True when the article was hard-wrapped and line
        breaks inside its paragraphs were read as spaces (worth telling the user: a wrong
        guess there merges or splits units).

    Raises:
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the article text as a str, found {type(text).__name__}")
    original, single = text, one_line_break(text)
    text = unwrap(single)
    joined = text != single
    paras, comment_blocks = _zones(text)
    out: list[Quote] = []
    out.extend(_body_units(text, paras, source))
    for blk in comment_blocks:
        s, e = blk[0][0], blk[-1][1]
        out.extend(split_unit(text, Quote(text[s:e], None, source, s, e, "comment")))
    out.sort(key=lambda q: (q.start, q.end))
    if original is text:
        return out, joined
    return [replace(q, text=original[q.start : q.end]) for q in out], joined


def _body_units(text: str, paras: list[_Para], source: str | None) -> list[Quote]:
    """Direct quotes and reported speech of the body paragraphs, with speakers, in order."""
    quotes = _split_unclosed(text, _find_quotes(text, paras), paras)
    per_para, starts_at = _quote_intervals(quotes, len(paras))
    # the reopening marks of continued quotes: their sentences belong to a direct unit already
    reopened = {a - 1 for q in quotes for a, _, _ in q.pieces[1:]}
    units = _Units(text, _Speakers(_mentions(text, paras)))
    for k, p in enumerate(paras):
        masks = _Masks(per_para[k])
        heading = _is_heading(text, p)
        prev_quote_speaker: str | None = None  # for a quote split by "he said." in this paragraph
        for s, e in _sentences(text, p, masks):
            opened = [q for a, _ in masks.starting_in(s, e) if (q := starts_at.get(a)) is not None]
            direct = [q for q in opened if _is_standalone(text, q, s, p, masks)]
            for q in direct:
                found = _direct_unit(text, q, s, paras, masks, source)
                if found is not None:
                    fallback = prev_quote_speaker or units.speakers.last["any"]
                    prev_quote_speaker = units.add(*found, fallback)
            if not direct and not any(a in reopened for a, _ in masks.starting_in(s, e)):
                _reported_sentence(units, s, e, masks, heading, source)
    return units.finish()


def _split_unclosed(text: str, quotes: list[_QuoteSpan], paras: list[_Para]) -> list[_QuoteSpan]:
    """Quotes that ran on over a missing closing mark, cut back at the paragraph end.

    A quote still open at a paragraph's end continues when the next paragraph opens with a
    mark (the convention for multi-paragraph quotes), so ``Dr Ann Lee said: “We back it.``
    with its closing mark missing, then ``“It is a disaster,” said Mr Bo Ng.``, reads as one
    quote of Mr Ng. When the name right before the quote (``Dr Ann Lee said:``) and the one
    after its last paragraph (``said Mr Bo Ng``) plainly name two people (no word in common),
    the last paragraph is a quote of its own. A continuation attributed by a pronoun, a role,
    an organisation or another form of the same name stays whole.
    """
    per_para, _ = _quote_intervals(quotes, len(paras))
    out: list[_QuoteSpan] = []
    for q in quotes:
        if len(q.pieces) < 2 or q.close_pos is None:
            out.append(q)
            continue
        k, last = q.pieces[0][2], q.pieces[-1]
        masks = _Masks(per_para[k])
        s = next(a for a, e in _sentences(text, paras[k], masks) if a <= q.open_pos < e)
        intro = _personal_name(_intro_ref(text, s, q.open_pos, masks))
        tail = _QuoteSpan(q.family, last[0] - 1, pieces=[last], close_pos=q.close_pos)
        after = _personal_name(_quote_trailing_ref(text, tail, paras[last[2]].end))
        if intro is not None and after is not None and not intro & after:
            out.append(replace(q, pieces=q.pieces[:-1], close_pos=None))
            out.append(tail)
        else:
            out.append(q)
    return out


def _quote_intervals(
    quotes: list[_QuoteSpan], n_paras: int
) -> tuple[list[list[tuple[int, int]]], dict[int, _QuoteSpan]]:
    """Quote intervals (opening mark .. closing mark inclusive) per paragraph, for sentence
    splitting and for masking verbs inside quotes; and each quote by its opening mark."""
    per_para: list[list[tuple[int, int]]] = [[] for _ in range(n_paras)]
    starts_at: dict[int, _QuoteSpan] = {}
    for q in quotes:
        for n, (s, e, k) in enumerate(q.pieces):
            last = n == len(q.pieces) - 1
            a = s - 1  # the opening (or reopening) mark
            b = q.close_pos + 1 if (last and q.close_pos is not None) else e
            per_para[k].append((a, b))
        starts_at[q.open_pos] = q
    return per_para, starts_at


class _Units:
    """The units found so far, their speakers, and those waiting for a named speaker."""

    def __init__(self, text: str, speakers: _Speakers):
        self.text = text
        self.speakers = speakers
        self.out: list[Quote] = []
        self.pending: list[tuple[int, str]] = []  # (index in out, description)

    def speaker_of(self, ref: _Ref | None, fallback: str | None) -> tuple[str | None, bool]:
        """(speaker, waits): ``waits`` when an anonymous lede must wait for a named speaker."""
        if ref is None:
            return fallback, False
        no_one_yet = self.speakers.last["any"] is None
        speaker = None if (ref.ahead and no_one_yet) else self.speakers.resolve(ref)
        # an anonymous lede ("One of the top officials ... has criticised", "..., the minister
        # said"): the next speaker the article names is the one it describes
        return speaker, speaker is None and no_one_yet and bool(ref.ahead or ref.back)

    def add(self, unit: Quote, ref: _Ref | None, fallback: str | None) -> str | None:
        """Add the unit (cut at its stance turns) with its speaker; return the speaker."""
        speaker, waits = self.speaker_of(ref, fallback)
        pieces = split_unit(self.text, unit)
        if waits:
            for piece in pieces:
                self.pending.append((len(self.out), ref.name or ""))
                self.out.append(piece)
            return None
        if speaker and ref is not None and ref.name and not (ref.ahead or ref.unnamed):
            for i, _ in self.pending:
                self.out[i] = replace(self.out[i], speaker=speaker)
            self.pending.clear()
        self.speakers.note(speaker)
        self.out.extend(replace(piece, speaker=speaker) for piece in pieces)
        return speaker

    def finish(self) -> list[Quote]:
        """The units; those still waiting keep the lede's own description as speaker."""
        for i, description in self.pending:
            self.out[i] = replace(self.out[i], speaker=description or None)
        return self.out


def _reported_sentence(units: _Units, s: int, e: int, masks: _Masks, heading: bool, source):
    """A sentence without a standalone quote: reported speech (one unit per speaker), a bare
    attribution before a quote, or a sentence that only names the next speaker."""
    text, speakers = units.text, units.speakers
    found = None if heading else _reported_unit(text, s, e, masks, source)
    if found is None:
        _note_introduced_speaker(units, s, e, masks, heading)
        return
    unit, ref, intro_only = found
    if intro_only:  # "He said:" before a quote in the next paragraph
        if ref is not None and not ref.ahead:
            speakers.note(speakers.resolve(ref))
        return
    turn = _speaker_turn(units, s, e, masks, ref, source)
    if turn is None:
        units.add(unit, ref, None)
        return
    for part, part_ref in turn:
        units.add(part, part_ref, None)


def _speaker_turn(units: _Units, s: int, e: int, masks: _Masks, ref: _Ref | None, source):
    """``Dr X said A, but Dr Y argued B``: the two clauses as units with their own speakers,
    or None when the sentence has one speaker (or a clause is not reported speech itself)."""
    first = units.speaker_of(ref, None)[0]
    # Each cut reads the rest of the sentence again: a cap keeps a pathological run-on
    # sentence (", but ..." hundreds of times) linear in its length.
    for cut in clause_cuts(units.text, s, e)[:_MAX_CLAUSE_CUTS]:
        if masks.inside(cut):
            continue
        left = _reported_unit(units.text, s, cut, masks, source)
        right = _reported_unit(units.text, cut + 1, e, masks, source)
        # a pronoun after the conjunction ("..., but she warned") is the same speaker
        if left is None or right is None or left[2] or right[2] or not (right[1] and right[1].name):
            continue
        other = units.speaker_of(right[1], None)[0]
        if other is None or first is None or speakers_match(first, other):
            continue
        right_unit = right[0]
        rs, re_ = _strip(units.text, right_unit.start, right_unit.end)
        right_unit = replace(right_unit, text=units.text[rs:re_], start=rs, end=re_)
        return [(left[0], left[1]), (right_unit, right[1])]
    return None


def _note_introduced_speaker(units: _Units, s: int, e: int, masks: _Masks, heading: bool) -> None:
    """No unit, but the sentence may introduce the next speaker: a titled name ("..., Dr Nikki
    Kanani, disagreed."), its subject ("The King's Fund published a review. It said: ...") or
    an unnamed person ("I was chatting with a senior GP. He said ...")."""
    text, speakers = units.text, units.speakers
    titled = None if heading else _last_outside(_TITLED_RE, text, s, e, masks, skip_objects=True)
    subject = _clause_subject(_split_commas(text[s : min(e, s + _SUBJECT_WINDOW)])[0])
    if titled is not None:
        speakers.note(speakers.full(_clean_name(titled)))
    elif subject is not None and subject.name and not heading:
        speakers.note(speakers.full(subject.name))
    elif (anon := _first_outside(_ANON_RE, text, s, e, masks)) is not None:
        speakers.note_anon(anon)
