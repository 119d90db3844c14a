"""Speakers: the last speaker of each sort, fullest forms of names, and name matching."""

from __future__ import annotations

import re

from stance.extract.names import _core_tokens, _has_title, _is_org, _Ref, _same_last
from stance.extract.vocab import _TITLE_SET

__all__ = ["speakers_match"]


class _Speakers:
    """Keeps the last speaker of each sort and resolves names to their fullest form."""

    def __init__(self, mentions: list[str]):
        # mentions by the first 4 letters of their last word: the only ones full() can pick
        self.mentions: dict[str, list[tuple[str, list[str]]]] = {}
        for m in mentions:
            core = _core_tokens(m)
            if core:
                self.mentions.setdefault(core[-1][:4], []).append((m, core))
        self.last: dict[str, str | None] = {"person": None, "org": None, "any": None}
        self.anon: str | None = None  # "a very senior GP": an unnamed person mentioned lately
        self._when: dict[str, int] = {"person": -1, "anon": -1}
        self._clock = 0
        self._cache: dict[str, str] = {}

    def resolve(self, ref: _Ref) -> str | None:
        if ref.name:
            return ref.name if (ref.ahead or ref.unnamed) else self.full(ref.name)
        back = ref.back or "any"
        if back == "person" and self.anon and self._when["anon"] > self._when["person"]:
            return self.anon
        return self.last.get(back) or self.last["any"] or (self.anon if back != "org" else None)

    def note(self, name: str | None) -> None:
        if name:
            self._clock += 1
            self.last["any"] = name
            sort = "org" if _is_org(name) else "person"
            self.last[sort] = name
            if sort == "person":
                self._when["person"] = self._clock

    def note_anon(self, description: str) -> None:
        self._clock += 1
        self.anon = description
        self._when["anon"] = self._clock

    def full(self, name: str) -> str:
        """The fullest form of ``name`` seen in the article ("Coffey" -> "Dr Tom Coffey")."""
        if name in self._cache:
            return self._cache[name]
        core = _core_tokens(name)
        best = name
        if core:
            best_key = (len(core), _has_title(name), len(name))
            for m, mc in self.mentions.get(core[-1][:4], ()):
                if not _same_last(core[-1], mc[-1]):
                    continue
                if not all(any(_same_last(t, u) for u in mc) for t in core[:-1]):
                    continue
                key = (len(mc), _has_title(m), len(m))
                if key > best_key:
                    best, best_key = m, key
        self._cache[name] = best
        return best


_DROP_IN_NAMES = _TITLE_SET | {"the", "a", "an", "unnamed", "anonymous"}


def _name_tokens(name: str) -> list[str]:
    name = re.sub(r"[’']s\b", "", name.lower())
    return [t for t in re.findall(r"[a-z0-9]+", name) if t not in _DROP_IN_NAMES]


def speakers_match(a: str | None, b: str | None) -> bool:
    """Do two speaker strings name the same speaker?

    Names are compared lower-cased without titles, articles and punctuation; they match when
    equal, or when they end in the same word and every word of the shorter one is in the
    longer ("Coffey" = "Dr Tom Coffey", "NHS Confed" = "NHS Confederation"). ``None`` matches
    only ``None`` (an anonymous reader's comment).

    Example:
        >>> speakers_match("Dr Tom Coffey", "Coffey"), speakers_match(None, None)
        (True, True)
    """
    if a is None or b is None:
        return a is None and b is None
    ta, tb = _name_tokens(a), _name_tokens(b)
    if not ta or not tb:
        return ta == tb
    if ta == tb:
        return True
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if not (_same_last(short[-1], long_[-1]) or _same_last(long_[-1], short[-1])):
        return False
    return all(any(_same_last(t, u) or _same_last(u, t) for u in long_) for t in short)
