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
    _is_heading,
    _is_standalone,
    _last_outside,
    _Masks,
    _reported_unit,
)
from stance.extract.marks import _find_quotes, _QuoteSpan
from stance.extract.names import _clause_subject, _clean_name, _mentions, _Ref, _split_commas
from stance.extract.sentences import _sentences
from stance.extract.speakers import _Speakers
from stance.extract.unit import KINDS, Quote
from stance.extract.vocab import _ANON_RE, _SUBJECT_WINDOW, _TITLED_RE
from stance.extract.zones import _Para, _zones

__all__ = [
    "KINDS",
    "Quote",
    "extract_quotes",
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
    data = path.read_bytes()
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
        text: the article (plain text; paragraphs on their own lines).
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
    if not isinstance(text, str):
        raise TypeError(f"expected the article text as a str, found {type(text).__name__}")
    paras, comment_blocks = _zones(text)
    out: list[Quote] = []
    out.extend(_body_units(text, paras, source))
    for blk in comment_blocks:
        s, e = blk[0][0], blk[-1][1]
        out.append(Quote(text[s:e], None, source, s, e, "comment"))
    out.sort(key=lambda q: (q.start, q.end))
    return out


def _body_units(text: str, paras: list[_Para], source: str | None) -> list[Quote]:
    quotes = _find_quotes(text, paras)
    speakers = _Speakers(_mentions(text, paras))
    # quote intervals (opening mark .. closing mark inclusive) per paragraph, for sentence
    # splitting and for masking verbs inside quotes
    per_para: list[list[tuple[int, int]]] = [[] for _ in paras]
    starts_at: dict[int, _QuoteSpan] = {}
    for q in quotes:
        for n, (s, e, k) in enumerate(q.pieces):
            last = n == len(q.pieces) - 1
            a = s - 1  # the opening (or reopening) mark
            b = q.close_pos + 1 if (last and q.close_pos is not None) else e
            per_para[k].append((a, b))
        starts_at[q.open_pos] = q
    out: list[Quote] = []
    pending: list[tuple[int, str]] = []  # (index in out, description) awaiting a named speaker

    def add(unit: Quote, ref: _Ref | None, fallback: str | None) -> str | None:
        if ref is None:
            speaker = fallback
        else:
            no_one_yet = speakers.last["any"] is None
            speaker = None if (ref.ahead and no_one_yet) else speakers.resolve(ref)
            if speaker is None and no_one_yet and (ref.ahead or ref.back):
                # an anonymous lede ("One of the top officials ... has criticised", "..., the
                # minister said"): the next speaker the article names is the one it describes
                pending.append((len(out), ref.name or ""))
                out.append(unit)
                return None
        if speaker and ref is not None and ref.name and not ref.ahead:
            for i, _ in pending:
                out[i] = replace(out[i], speaker=speaker)
            pending.clear()
        speakers.note(speaker)
        out.append(replace(unit, speaker=speaker))
        return speaker

    for k, p in enumerate(paras):
        masks = _Masks(per_para[k])
        heading = _is_heading(text, p)
        prev_quote_speaker: str | None = None  # for a quote split by "he said." in this paragraph
        for s, e in _sentences(text, p, masks):
            opened = [q for a, _ in masks.starting_in(s, e) if (q := starts_at.get(a)) is not None]
            direct = [q for q in opened if _is_standalone(text, q, s, p, masks)]
            if direct:
                for q in direct:
                    found = _direct_unit(text, q, s, paras, masks, source)
                    if found is not None:
                        unit, ref = found
                        fallback = prev_quote_speaker or speakers.last["any"]
                        prev_quote_speaker = add(unit, ref, fallback)
                continue
            found = None if heading else _reported_unit(text, s, e, masks, source)
            if found is not None:
                unit, ref, intro_only = found
                if intro_only:  # "He said:" before a quote in the next paragraph
                    if ref is not None and not ref.ahead:
                        speakers.note(speakers.resolve(ref))
                else:
                    add(unit, ref, None)
            else:
                # no unit, but the sentence may introduce the next speaker: its subject
                # ("The King's Fund published a review. It said: ...") or an unnamed person
                # ("I was chatting with a senior GP. He said ...")
                titled = None if heading else _last_outside(_TITLED_RE, text, s, e, masks)
                subject = _clause_subject(_split_commas(text[s : min(e, s + _SUBJECT_WINDOW)])[0])
                if titled is not None:  # "..., Dr Nikki Kanani, disagreed."
                    speakers.note(speakers.full(_clean_name(titled)))
                elif subject is not None and subject.name and not heading:
                    speakers.note(speakers.full(subject.name))
                elif (anon := _first_outside(_ANON_RE, text, s, e, masks)) is not None:
                    speakers.note_anon(anon)
    for i, description in pending:
        out[i] = replace(out[i], speaker=description or None)
    return out
