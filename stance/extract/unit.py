"""The unit of extraction: one quote, reported sentence or reader's comment, with offsets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "Quote"]

KINDS: tuple[str, ...] = ("direct", "reported", "comment")


@dataclass(frozen=True)
class Quote:
    """One stance-bearing unit of an article.

    Attributes:
        text: the unit's text, exactly ``article[start:end]``. A direct quote excludes its
            outer quote marks; a quote over several paragraphs gives one unit per paragraph,
            except that a piece too short to stand alone joins its neighbour (keeping the
            paragraph break and the mark that reopens the quote).
        speaker: the speaker as named in the article (fullest form), or ``None`` (readers'
            comments, or no speaker could be found).
        source: the article's file name (``None`` when extracted from a string).
        start: offset of the first character in the article (Python ``str`` index).
        end: offset just past the last character.
        kind: ``"direct"``, ``"reported"`` or ``"comment"``.
    """

    text: str
    speaker: str | None
    source: str | None
    start: int
    end: int
    kind: str

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)``."""
        return self.start, self.end

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, ready for ``json.dumps``."""
        return asdict(self)
