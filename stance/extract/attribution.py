"""Attribution: the speaker reference of a quote or a reported sentence, and the units they make."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from stance.extract.marks import _QuoteSpan
from stance.extract.names import (
    _clause_subject,
    _clean_name,
    _core_tokens,
    _has_title,
    _is_cap,
    _is_org,
    _looks_like_name,
    _name_run_at_end,
    _Ref,
    _segment_ref,
    _split_commas,
    _subject_ref,
)
from stance.extract.sentences import _strip
from stance.extract.unit import Quote
from stance.extract.vocab import (
    _ATTRIBUTION_WINDOW,
    _NAME_LINKS,
    _PERSON_NOUNS,
    _PRONOUNS,
    _QUOTE_CHARS,
    _SENT_END,
    _SUBJECT_WINDOW,
    _SUBORDINATORS,
    _THAT_ONLY,
    _TITLE_SET,
    _TITLED_RE,
    _VERB_RE,
    MIN_ATTRIBUTED_WORDS,
    MIN_DIRECT_WORDS,
    MIN_REPORTED_WORDS,
)
from stance.extract.zones import _n_words, _Para

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []


class _Masks(list):
    """A paragraph's quote intervals (sorted, disjoint), with O(log n) look-ups."""

    def __init__(self, intervals: list[tuple[int, int]]):
        super().__init__(intervals)
        self.starts = [a for a, _ in intervals]

    def inside(self, pos: int) -> bool:
        k = bisect_right(self.starts, pos) - 1
        return k >= 0 and self[k][0] <= pos < self[k][1]

    def starting_in(self, s: int, e: int) -> list[tuple[int, int]]:
        return self[bisect_left(self.starts, s) : bisect_left(self.starts, e)]


def _verbs(text: str, s: int, e: int, masks: _Masks) -> Iterator[re.Match]:
    """Reporting verbs in text[s:e] outside the masked (quoted) intervals."""
    for m in _VERB_RE.finditer(text, s, e):
        if not masks.inside(m.start()):
            yield m


def _verb_ok(text: str, m: re.Match, e: int) -> bool:
    """Some verbs report speech only before "that" or at the end ("..., the report found.")."""
    verb = re.sub(r"\s+", " ", m.group()).lower()
    if verb in _THAT_ONLY:
        after = text[m.end() : min(e, m.end() + 12)]
        return bool(re.match(r"\s+that\b", after)) or not after.strip(" .!?’”'\"")
    return True


_AFTER_VERB_FIRST = re.compile(r"[\s,]*(?:" + _VERB_RE.pattern + r")\s+(?P<subj>[^,.;:!?\n]{1,80})")
_ACCORDING_RE = re.compile(r"\baccording\s+to\s+(?P<subj>[^,.;:!?\n]{1,100})", re.IGNORECASE)


def _after_verb_ref(subj: str) -> _Ref | None:
    """The speaker named after the verb (``,' said <subj>``), up to its first comma."""
    toks = subj.split()
    # "said RCGP chair Professor Martin Marshall", "said GP Dr Bob Smith": the titled person
    titled = _TITLED_RE.search(subj)
    if titled:
        return _Ref(name=_clean_name(titled.group()))
    if _looks_like_name(subj) or subj.lower() in _PRONOUNS:  # "said Smith", "said NHS England"
        return _segment_ref(subj)
    lead = []
    for t in toks:
        if _is_cap(t) or t.lower().rstrip(".") in _TITLE_SET or (lead and t in _NAME_LINKS):
            lead.append(t)
        else:
            break
    # "said health secretary Matt Hancock", "said NHS England chief executive Simon Stevens":
    # a role, then the name (not "said Simon Stevens at NHS England")
    end = _name_run_at_end(toks)
    role = toks[len(lead) : len(toks) - len(end)]
    if len(end) >= 2 and role and _ROLE_WORD_RE.fullmatch(role[-1].lower()):
        return _Ref(name=_clean_name(" ".join(end)))
    if lead:  # "said Simon Stevens in London"
        return _Ref(name=_clean_name(" ".join(lead)))
    if toks and toks[0].lower() in _PRONOUNS:
        return _Ref(back=_PRONOUNS[toks[0].lower()])
    if toks and toks[0].lower() in ("a", "an"):  # "said a spokesperson for NHS England"
        return _segment_ref(subj)
    if toks and toks[0].lower() in ("the", "this"):
        return _segment_ref(" ".join(toks[:3]))  # "said the report", "said the chair"
    return None


# The last word of a role before a name: "secretary", "chief executive", "chair", "GP partner".
_ROLE_WORD_RE = re.compile(
    "(?:" + _PERSON_NOUNS + "|secretary|president|officer|lead|head|founder|member|mp|adviser)",
    re.IGNORECASE,
)


def _trailing_ref(text: str, i: int, end: int) -> _Ref | None:
    """Attribution right after a closing mark: ``,' said Dr X`` / ``,' he added`` / ``according to X``."""
    post = text[i : min(end, i + _ATTRIBUTION_WINDOW)]
    m = _AFTER_VERB_FIRST.match(post)
    if m:
        ref = _after_verb_ref(m.group("subj").strip())
        if ref:
            return ref
    # "' Dr X said" / "' Dr X, chair of Y, said": a short subject (appositives allowed) then a verb
    stop = len(post)
    for ch in '.!?;:“‘«"':  # not ’ or ': "the BMA’s Dr X said"
        k = post.find(ch)
        if 0 <= k < stop:
            stop = k
    m = _VERB_RE.search(post, 0, stop)
    if m and _n_words(post[: m.start()]) <= 15:
        # the subject comes first; an appositive may follow it (", chair of the LMC,")
        first = _split_commas(post[: m.start()].strip(" ,"))[0]
        ref = _segment_ref(first)
        if ref:
            return ref
    m = _ACCORDING_RE.match(post.lstrip(" ,"))
    if m:
        return _segment_ref(m.group("subj"))
    return None


def _leading_ref(text: str, s: int, i: int, masks: _Masks) -> _Ref | None:
    """Attribution before an opening mark in the same sentence: ``Dr X said:`` / ``According to X,``."""
    best = _last_verb(text, s, i, masks)
    if best is not None:
        ref = _subject_ref(text[max(s, best.start() - _SUBJECT_WINDOW) : best.start()])
        if ref is not None:
            return ref
        # "said Dr X:" (verb first)
        return _trailing_ref(text, best.start(), i)
    m = _ACCORDING_RE.search(text, max(s, i - _SUBJECT_WINDOW), i)
    if m:
        return _segment_ref(m.group("subj"))
    return None


def _last_verb(text: str, s: int, i: int, masks: _Masks) -> re.Match | None:
    """The last reporting verb outside quotes in the subject window before ``i``."""
    last = None
    for m in _verbs(text, max(s, i - _SUBJECT_WINDOW), i, masks):
        last = m
    return last


def _intro_ref(text: str, s: int, i: int, masks: _Masks) -> _Ref | None:
    """The speaker of ``Dr X said: "...`` / ``Dr X warned, "...``: a subject and reporting verb
    with nothing but a colon or a comma between the verb and the opening mark at ``i``."""
    last = _last_verb(text, s, i, masks)
    if last is None or text[last.end() : i].strip() not in ("", ":", ","):
        return None
    return _subject_ref(text[max(s, last.start() - _SUBJECT_WINDOW) : last.start()])


def _personal_name(ref: _Ref | None) -> set[str] | None:
    """The lower-cased words of a reference that plainly names a person (a title, or two
    capitalised words that are neither a role nor an organisation); None for a pronoun, a
    role ("the Health Secretary", "the GP"), an organisation or an unnamed source."""
    if ref is None or not ref.name or ref.back or ref.ahead or ref.unnamed or _is_org(ref.name):
        return None
    core = _core_tokens(ref.name)
    if not _has_title(ref.name):
        roles = [t for t in core if _ROLE_WORD_RE.fullmatch(t) or t.lower() in _ROLE_EXTRAS]
        if len(core) < 2 or roles or not all(_is_cap(t) for t in core):
            return None
    return {t.lower() for t in core}


# Words of a role that _ROLE_WORD_RE (the last word of a role) does not cover.
_ROLE_EXTRAS = frozenset({"chief", "state", "health", "clinical", "medical", "national", "general"})


def _first_outside(pattern: re.Pattern, text: str, s: int, e: int, masks: _Masks) -> str | None:
    for m in pattern.finditer(text, s, e):
        if not masks.inside(m.start()):
            return m.group()
    return None


def _last_outside(pattern: re.Pattern, text: str, s: int, e: int, masks: _Masks,
                  skip_objects: bool = False) -> str | None:  # fmt: skip
    """The last match outside quotes; with ``skip_objects``, not one right after a preposition
    ("drawn up by Professor Bob Smith" names no one who goes on to speak)."""
    found = None
    for m in pattern.finditer(text, s, min(e, s + 2000)):  # bounded: a giant sentence stays linear
        if masks.inside(m.start()):
            continue
        if skip_objects and _PREPOSITION_BEFORE_RE.search(text, max(s, m.start() - 12), m.start()):
            continue
        found = m.group()
    return found


# A preposition right before a name makes it an object, not the sentence's subject.
_PREPOSITION_BEFORE_RE = re.compile(
    r"\b(?:by|with|to|from|for|of|against|about|on|at|than|via|under)\s+$", re.IGNORECASE
)


def _is_heading(text: str, p: _Para) -> bool:
    """A headline or subheading: a line that does not end like a sentence."""
    e = p.end
    while e > p.start and text[e - 1] in _QUOTE_CHARS + ")] ":
        e -= 1
    return e > p.start and text[e - 1] not in _SENT_END + ":"


def _is_standalone(text: str, q: _QuoteSpan, s: int, p: _Para, masks: _Masks) -> bool:
    """Is the quote a statement on its own, rather than a fragment inside a sentence?

    Standalone: it runs over paragraphs, follows a colon, has an attribution after it
    (",' he said"), follows "Dr X said," / "According to X,", or opens a sentence and is not
    just a phrase (at least MIN_DIRECT_WORDS words).
    """
    n_words = _n_words(text[slice(*_quote_bounds(text, q))])
    if n_words < MIN_ATTRIBUTED_WORDS:
        return False
    if len(q.pieces) > 1:
        return True  # runs over paragraphs
    j = q.open_pos - 1  # the last character before the quote, within the sentence
    while j >= s and text[j].isspace():
        j -= 1
    before = text[j] if j >= s else ""
    if before == ":":
        return True
    if before == "" and _quote_trailing_ref(text, q, p.end) is not None:
        return True  # "'It will not work,' he said." (a quote inside a sentence stays a fragment)
    if before == ",":
        # 'Dr X said, "..."' / 'According to X, "..."'
        tail = text[max(s, q.open_pos - 120) : q.open_pos]
        if next(
            _verbs(text, max(s, q.open_pos - 40), q.open_pos, masks), None
        ) or _ACCORDING_RE.search(tail):
            return True
    return before == "" and n_words >= MIN_DIRECT_WORDS


def _quote_trailing_ref(text: str, q: _QuoteSpan, end: int) -> _Ref | None:
    """The attribution right after a quote's closing mark, if it belongs to this sentence.

    "‘... it,’ he said" and "‘... it?’ Dr X asked" are attributions; after "‘... it.’" a
    capital letter starts a new sentence ("He added: ..."), which is not.
    """
    if q.close_pos is None:
        return None
    k = q.close_pos - 1
    while k > q.pieces[-1][0] and text[k].isspace():
        k -= 1
    nxt = q.close_pos + 1
    while nxt < end and text[nxt] in " \t":
        nxt += 1
    if text[k] == "." and nxt < end and text[nxt].isupper():
        return None
    if text[k] not in ",.!?…" and text[q.close_pos + 1 : q.close_pos + 2] != ",":
        return None  # "‘complex care’ practices, but Dr X said": the quote goes on as a phrase
    return _trailing_ref(text, q.close_pos + 1, end)


def _quote_bounds(text: str, q: _QuoteSpan) -> tuple[int, int]:
    s, e = q.pieces[0][0], q.pieces[-1][1]
    s, e = _strip(text, s, e)
    while e > s and text[e - 1] in ",;:—–- ":
        e -= 1
    return s, e


def _direct_unit(text, q, s, paras, masks, source) -> tuple[Quote, _Ref | None] | None:
    qs, qe = _quote_bounds(text, q)
    if qs >= qe:
        return None
    ref = _quote_trailing_ref(text, q, paras[q.last_para].end)
    if ref is None:
        ref = _leading_ref(text, s, q.open_pos, masks)
    elif _personal_name(ref) is None:
        # 'Dr X said: "...," she added' (over one paragraph or several) or '..., the GP said':
        # the name that introduces the quote is its speaker; the pronoun would look back past
        # her to an earlier speaker, the role would replace her name. Only a name right before
        # the quote counts: in 'After Dr X spoke, he hit back: "...," he said' it is not hers.
        intro = _intro_ref(text, s, q.open_pos, masks)
        if intro is not None and intro.name and not (intro.back or intro.ahead):
            ref = intro
    return Quote(text[qs:qe], None, source, qs, qe, "direct"), ref


def _reported_unit(text, s, e, masks, source) -> tuple[Quote, _Ref | None, bool] | None:
    """A sentence of reported speech, as (unit, speaker reference, intro_only), or None.

    ``intro_only`` is true for a bare attribution ("He said:") that introduces a quote in
    the next paragraph: no unit, but it names the speaker.
    """
    unit = Quote(text[s:e], None, source, s, e, "reported")
    for m in _verbs(text, s, e, masks):
        if not _verb_ok(text, m, e):
            continue
        ref = _subject_ref(text[max(s, m.start() - _SUBJECT_WINDOW) : m.start()])
        if ref is None:
            continue
        # (bounded windows: only "at least a few words" matters)
        rest = text[m.end() : min(e, m.end() + 200)].strip()
        if rest.startswith(":") and _n_words(rest) < MIN_REPORTED_WORDS:
            return unit, ref, True
        # the content is after the verb ("X said that ...") or before it ("..., X said.")
        before = text[max(s, m.start() - 200) : m.start()]
        if _n_words(rest) < MIN_REPORTED_WORDS and _n_words(before) < MIN_REPORTED_WORDS + 3:
            continue
        return unit, ref, False
    m = _ACCORDING_RE.search(text, s, e)
    if m and _n_words(text[s:e]) - _n_words(m.group()) >= MIN_REPORTED_WORDS:
        ref = _segment_ref(m.group("subj"))
        if ref is not None:
            return unit, ref, False
    # A sentence that quotes a phrase ("NHS England will make it 'progressively less
    # attractive' to ...") carries the stance of its subject even without a reporting verb.
    first = next((a for a, _ in masks.starting_in(s, e)), None)
    if first is not None and _n_words(text[s:e]) >= MIN_REPORTED_WORDS + 3:
        for seg in _split_commas(text[s:first]):
            ref = _clause_subject(seg)
            if ref is not None:
                return unit, ref, False
            if seg.strip() and seg.strip().split()[0].lower() not in _SUBORDINATORS:
                break  # only a subordinate clause may come before the main clause
    return None
