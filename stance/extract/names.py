"""Names and subjects: what the words before a reporting verb say about who is speaking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stance.extract.vocab import (
    _AUX,
    _CONJUNCTIONS,
    _INDEFINITE,
    _MENTION_RE,
    _NAME_LINKS,
    _NAMED_DOC_RE,
    _NOT_NAME,
    _ORG_NOUNS,
    _ORG_WORDS,
    _PERSON_NOUN_RE,
    _PRONOUNS,
    _SPOKES_RE,
    _SUBJECT_WINDOW,
    _SUBORDINATORS,
    _TITLE_SET,
)
from stance.extract.zones import _Para

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []


# An indefinite description that says where the person is from or that they stay anonymous
# ("A GP partner in Devon", "a practice manager from Leeds", "a GP who asked not to be named")
# describes a source of its own, not a lede the next named speaker fills in.
_UNNAMED_SOURCE_RE = re.compile(
    r"\b(?:in|from)\s+(?:the\s+)?[A-Z]|\bwho\s+(?:asked|wished|did\s+not\s+want)\b"
    r"|\bnot\s+to\s+be\s+(?:named|identified)\b|\banonymous(?:ly)?\b"
)


@dataclass
class _Ref:
    """A speaker reference before resolution.

    ``name`` is a name as written; ``back`` points back to the last speaker of a sort
    ("person", "org" or "any"); ``ahead`` marks an anonymous lede subject ("One of the top
    officials ...", "New research") that the next named speaker will fill in, and ``name``
    then holds the description to use if no speaker has been named yet. ``unnamed`` marks a
    source the article keeps unnamed on purpose ("A GP partner in Devon", "a GP who asked not
    to be named"): ``name`` is the description, the speaker as it stays.
    """

    name: str | None = None
    back: str | None = None
    ahead: bool = False
    unnamed: bool = False


def _clean_name(name: str) -> str:
    name = name.replace("\u00a0", " ")  # "Dr\u00a0Ann Lee" is the speaker "Dr Ann Lee"
    name = name.strip(" ,.;:’'\"“”‘()")
    name = re.sub(r"[’']s$", "", name)
    name = re.sub(r"^(?:the|The)\s+", "", name)
    # "BMA’s Dr Jo Park", "NHS England’s Simon Stevens" -> the person (but keep "King’s Fund")
    m = re.match(r"^.*?[’']s\s+(\S+(?:\s+\S+)+)$", name)
    if m and (len(m.group(1).split()) >= 2 or _is_title(m.group(1).split()[0])):
        name = m.group(1)
    return name.strip()


def _tokens(seg: str) -> list[str]:
    return seg.split()


def _is_cap(tok: str) -> bool:
    t = tok.strip("(),;:\"“”‘’'")
    return bool(t) and t[0].isupper() and t.lower() not in _NOT_NAME


def _is_title(tok: str) -> bool:
    return tok.lower().rstrip(".") in _TITLE_SET


def _name_run_at_end(toks: list[str]) -> list[str]:
    """The longest run of name tokens ending the token list (Title First Last, Royal College of X)."""
    run: list[str] = []
    i = len(toks) - 1
    while i >= 0:
        t = toks[i]
        if _is_cap(t) or _is_title(t):
            run.insert(0, t)
        elif t in _NAME_LINKS and run and i > 0 and _is_cap(toks[i - 1]):
            run.insert(0, t)
        else:
            break
        i -= 1
    return run


def _looks_like_name(seg: str) -> bool:
    """The whole segment is a name ("Dr Tom Coffey", "the NHS Confederation", "Coffey")."""
    toks = _tokens(_clean_name(seg))
    if not toks or len(toks) > 8:
        return False
    run = _name_run_at_end(toks)
    return len(run) == len(toks) and not all(t in _NAME_LINKS for t in run)


def _is_org(name: str) -> bool:
    """An organisation ("NHS Confederation", "RCGP") rather than a person ("a GP partner")?"""
    toks = [t.strip(".,’'()") for t in name.split()]
    if not toks or _is_title(toks[0]) or any(_PERSON_NOUN_RE.fullmatch(t) for t in toks):
        return False
    return any(t.lower() in _ORG_WORDS or (len(t) >= 2 and t.isupper()) for t in toks)


def _segment_ref(seg: str) -> _Ref | None:
    """What a clause before a reporting verb says about the speaker, or None if nothing."""
    seg = seg.strip(" ,;:—–-")
    toks = _tokens(seg)
    # drop auxiliaries and adverbs between subject and verb ("Dr X has also said")
    while toks and toks[-1].lower() in _AUX:
        toks.pop()
    # drop leading conjunctions ("But RCGP chair ...", "And the clinical director")
    while toks and toks[0].lower().strip(",") in _CONJUNCTIONS:
        toks.pop(0)
    if not toks:
        return None
    seg = " ".join(toks)
    low = seg.lower()
    if low in _PRONOUNS:
        return _Ref(back=_PRONOUNS[low])
    if _looks_like_name(seg):
        return _Ref(name=_clean_name(seg))
    m = _SPOKES_RE.match(seg)
    if m and _looks_like_name(m.group(1)):
        return _Ref(name=_clean_name(m.group(1)))
    m = _NAMED_DOC_RE.match(seg)
    if m:
        return _Ref(name=_clean_name(m.group(1)))
    if toks[0].lower() in _INDEFINITE and _UNNAMED_SOURCE_RE.search(seg):
        return _Ref(name=seg, unnamed=True)
    if toks[0].lower() in _INDEFINITE and len(toks) <= 10:
        return _Ref(name=seg, ahead=True)
    run = _name_run_at_end(toks)
    while run and run[0] in _NAME_LINKS:
        run.pop(0)
    if run and (_is_title(run[0]) or len(run) >= 2 or len(toks) <= 3):
        return _Ref(name=_clean_name(" ".join(run)))
    # "Lord Ara Darzi’s recent review ..." -> the possessor
    m = re.match(r"^(?:the\s+)?((?:[A-Z][\w\-]*\s+){0,4}[A-Z][\w\-]*)[’']s\s", seg)
    if m and _looks_like_name(m.group(1)):
        return _Ref(name=_clean_name(m.group(1)))
    # "the report", "The GP who works in London": a definite description of an earlier speaker
    m = re.match(r"^(?:the|this|that|these|those)\s+(\S+)(?:\s+(\S+))?", seg, re.IGNORECASE)
    if m:
        words = {w.lower().strip(",’'") for w in m.groups() if w}
        return _Ref(back="org" if words & _ORG_NOUNS else "person")
    # "Jacob West national lead ..." (no comma): a leading name
    lead = []
    for t in toks:
        if _is_cap(t) or _is_title(t):
            lead.append(t)
        else:
            break
    if len(lead) >= 2:
        return _Ref(name=_clean_name(" ".join(lead)))
    # "GP leaders", "Campaigners", "Local councils": an unnamed group, named by what it is
    head = toks[-1].lower().strip(",’'")
    if len(toks) <= 4 and (
        _PERSON_NOUN_RE.fullmatch(head) or head in _ORG_NOUNS or head.rstrip("s") in _ORG_NOUNS
    ):
        return _Ref(name=seg)
    return None


def _clause_subject(seg: str) -> _Ref | None:
    """The subject at the start of a main clause ("NHS England will make it ...", "it does ...")."""
    toks = _tokens(seg.strip(" ,;:—–-"))
    while toks and toks[0].lower().strip(",") in _CONJUNCTIONS - {"while", "also"}:
        toks.pop(0)
    if not toks or toks[0].lower() in _SUBORDINATORS:
        return None
    if toks[0] in ("The", "the") and len(toks) > 1 and _is_cap(toks[1]):
        toks.pop(0)  # "The King's Fund published ..."
    first = toks[0].lower()
    if first in _PRONOUNS:
        return _Ref(back=_PRONOUNS[first])
    lead = []
    for t in toks:
        if _is_cap(t) or _is_title(t) or (lead and t in _NAME_LINKS):
            lead.append(t)
        else:
            break
    while lead and lead[-1] in _NAME_LINKS:
        lead.pop()
    # a name, not just a capitalised first word ("Patients want ..."): two words or an acronym
    if (
        lead
        and len(lead) < len(toks)
        and (len(lead) >= 2 or (len(lead[0]) >= 2 and lead[0].isupper()))
    ):
        return _Ref(name=_clean_name(" ".join(lead)))
    # "the report ...", "the minister ...": only nouns that can speak
    if first in {"the", "this"} and len(toks) >= 2 and toks[1].islower():
        if toks[1] in _ORG_NOUNS:
            return _Ref(back="org")
        if _PERSON_NOUN_RE.fullmatch(toks[1]):
            return _Ref(back="person")
    return None


def _split_commas(seg: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in seg:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _subject_ref(left: str) -> _Ref | None:
    """The speaker named by the text just before a reporting verb.

    Handles appositives: "Jacob West, national lead for X, said" and "director of Y, Dr Tom
    Coffey, stated"; and clause openers: "Speaking to Pulse, Dr McShane said".
    """
    left = left[-_SUBJECT_WINDOW:].rstrip()
    # "Dr Clare Gerada, also expressed": adverbs between the appositive and the verb
    words = re.split("[ \u00a0]", left)  # a non-breaking space separates words too
    while words and words[-1].lower() in _AUX:
        words.pop()
    left = " ".join(words).rstrip()
    trailing_comma = left.endswith(",")
    parts = [p for p in _split_commas(left.rstrip(",")) if p.strip()]
    if not parts:
        return None
    last = parts[-1]
    ref = None
    if _looks_like_name(last) or last.strip().lower() in _PRONOUNS:
        ref = _segment_ref(last)
    if ref is None and trailing_comma and len(parts) >= 2:
        ref = _segment_ref(parts[-2])  # the name before an appositive description
    if ref is None:
        ref = _segment_ref(last)
    if ref is not None and ref.ahead and _UNNAMED_SOURCE_RE.search(left):
        # "A GP partner, who asked not to be named, said": the appositive keeps them unnamed
        ref = _Ref(name=ref.name, unnamed=True)
    return ref


def _core_tokens(name: str) -> list[str]:
    return [
        t.strip(".,’'")
        for t in name.split()
        if t.lower().rstrip(".") not in _TITLE_SET and t not in _NAME_LINKS
    ]


def _has_title(name: str) -> bool:
    toks = name.split()
    return bool(toks) and toks[0].lower().rstrip(".") in _TITLE_SET


def _same_last(a: str, b: str) -> bool:
    """Same word, or ``a`` an abbreviation of ``b`` (Confed -> Confederation)."""
    return a == b or (len(a) >= 4 and b.startswith(a))


def _mentions(text: str, paras: list[_Para]) -> list[str]:
    """Every multi-word name (or titled name) in the body: candidates for the fullest form."""
    out = set()
    for p in paras:
        for m in _MENTION_RE.finditer(text, p.start, p.end):
            toks = m.group().split()
            while toks and toks[0].lower() in _NOT_NAME:
                toks.pop(0)
            # split at a possessive ("BMA’s Dr Jo Park") and before a title ("GP Dr X")
            parts, cur = [], []
            for t in toks:
                if cur and _is_title(t):
                    parts.append(cur)
                    cur = []
                stem = re.sub(r"[’']s$", "", t)
                cur.append(stem)
                if stem != t:
                    parts.append(cur)
                    cur = []
            parts.append(cur)
            for part in parts:
                while part and part[-1] in _NAME_LINKS:
                    part.pop()
                if 2 <= len(part) <= 6 and part[0] not in _NAME_LINKS:
                    out.add(" ".join(part))
    return sorted(out)
