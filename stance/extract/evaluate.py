"""Evaluation of the extractor against gold units cut by hand from the same articles.

Gold units and extracted items are matched **one to one** (maximum bipartite matching,
:func:`match_units`): an item that covers four hand-cut units is credited for one of them, and
the other three are reported as *merged* (recovered only inside a longer item, whose single
stance label hides theirs), not as recovered.

Example:
    >>> r = evaluate_extraction("data/articles", "data/seed_units.jsonl")  # doctest: +SKIP
    >>> r["recovered"], r["gold_in_scope"], r["merged_units"]              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.constants import AUTHORED_SOURCE
from stance.errors import DataError
from stance.extract.quotes import extract_file, read_article
from stance.extract.speakers import speakers_match
from stance.extract.unit import Quote

__all__ = [
    "evaluate_extraction", "match_units", "wilson_interval", "EXTRACTION_TARGETS",
    "OUT_OF_SCOPE_KINDS",
]  # fmt: skip

# The targets the extractor is held to on the seed articles (docs/extraction.md).
EXTRACTION_TARGETS: dict[str, float] = {
    "recovery": 0.90,
    "precision": 0.80,
    "speaker_accuracy": 0.90,
}
# Gold kinds the extractor does not look for: an author's own argument in a column.
OUT_OF_SCOPE_KINDS: frozenset[str] = frozenset({"opinion"})

Span = tuple[int, int]


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _covers(item: Span, unit: Span, min_overlap: float) -> bool:
    """Does the item cover at least ``min_overlap`` of the unit's characters?"""
    return _overlap(item, unit) >= max(1, min_overlap * (unit[1] - unit[0]))


def match_units(
    gold: list[Span],
    items: list[Span],
    min_overlap: float = 0.5,
    in_scope: list[bool] | None = None,
) -> dict[int, int]:
    """One-to-one matching of gold units to extracted items, as {gold index: item index}.

    A pair may match when the item covers at least ``min_overlap`` of the gold unit's
    characters. Among all one-to-one matchings the one with the most in-scope pairs is chosen
    (``in_scope[i]`` False marks a unit the extractor does not look for; all in scope by
    default), then the one with the most pairs, ties broken by the larger total character
    overlap; so recovery is the maximum any assignment could credit, and an out-of-scope unit
    never takes an item an in-scope one could have. Solved exactly with the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``).

    Example:
        >>> match_units([(0, 10), (10, 20)], [(0, 20)])   # one long item, two units
        {0: 0}
        >>> match_units([(0, 12), (12, 20)], [(0, 20)], in_scope=[False, True])
        {1: 0}
    """
    if not gold or not items:
        return {}
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    in_scope = in_scope if in_scope is not None else [True] * len(gold)
    # Lexicographic weights: an in-scope pair is worth more than all other pairs together can
    # add (bonus > len(gold)); each pair is worth 1; overlap, scaled below 1 in total, only
    # breaks ties between matchings with the same counts.
    bonus = len(gold) + 1
    scale = (1 + sum(e - s for s, e in gold)) * (1 + len(gold))
    weight = np.zeros((len(gold), len(items)))
    for i, g in enumerate(gold):
        for j, q in enumerate(items):
            if _covers(q, g, min_overlap):
                weight[i, j] = bonus * in_scope[i] + 1 + _overlap(q, g) / scale
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return {int(i): int(j) for i, j in zip(rows, cols) if weight[i, j] > 0}


def wilson_interval(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of the proportion k/n (None when n == 0)."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


# --------------------------------------------------------------------------------------------
# Reading the gold units


def _read_gold(gold_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Gold units grouped by article, each with its file line in ``_line``."""
    from stance.data.io import iter_records

    by_source: dict[str, list[dict[str, Any]]] = {}
    for line, rec in iter_records(gold_path):
        if rec.get("source") == AUTHORED_SOURCE:
            continue  # a corpus file's authored statements come from no article
        missing = [k for k in ("text", "source") if not rec.get(k)]
        missing += [k for k in ("speaker",) if k not in rec]
        if missing:
            raise DataError(
                gold_path,
                f"missing field(s) {', '.join(missing)}; gold units need text, source and "
                "speaker (start, end and kind are used when present)",
                line=line,
            )
        rec = dict(rec, _line=line)
        rec.setdefault("kind", "unknown")  # e.g. a corpus file: every unit in scope
        by_source.setdefault(str(rec["source"]), []).append(rec)
    return by_source


def _gold_span(article: str, g: dict[str, Any], gold_path: Path, source: str) -> Span | None:
    """The unit's offsets; None when they had to be repaired (found by text instead)."""
    s, e = g.get("start"), g.get("end")
    if isinstance(s, int) and isinstance(e, int) and article[s:e] == g["text"]:
        return s, e
    if article.find(g["text"]) < 0:
        raise DataError(
            gold_path,
            f"unit text not found in {source} and its start/end do not match; "
            "fix the offsets or the text",
            line=g["_line"],
        )
    return None


# --------------------------------------------------------------------------------------------
# Counting


def _unit_row(g: dict[str, Any], source: str) -> dict[str, Any]:
    return {"id": g.get("id"), "source": source, "kind": str(g["kind"]), "text": g["text"]}


@dataclass
class _Tally:
    """Counts over all articles, filled one article at a time."""

    min_overlap: float
    gold_units: int = 0
    offset_fixes: int = 0
    kind_gold: dict[str, int] = field(default_factory=dict)
    kind_rec: dict[str, int] = field(default_factory=dict)
    kind_merged: dict[str, int] = field(default_factory=dict)
    items_by_kind: dict[str, int] = field(default_factory=dict)
    n_items: int = 0
    n_correct: int = 0
    n_spk: int = 0
    n_spk_ok: int = 0
    per_article: dict[str, dict[str, int]] = field(default_factory=dict)
    missed: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    fragments: list[dict[str, Any]] = field(default_factory=list)
    speaker_errors: list[dict[str, Any]] = field(default_factory=list)

    def add_article(self, source: str, units: list[dict], spans: list[Span], items: list[Quote]):
        item_spans = [(q.start, q.end) for q in items]
        scope = [str(g["kind"]) not in OUT_OF_SCOPE_KINDS for g in units]
        pairs = match_units(spans, item_spans, self.min_overlap, scope)
        stats = {"gold": 0, "recovered": 0, "merged": 0, "extracted": len(items), "correct": 0}
        self.per_article[source] = stats
        for i, (g, span) in enumerate(zip(units, spans)):
            self._gold_unit(source, g, span, items, pairs.get(i), pairs, stats)
        matched = set(pairs.values())
        for j, q in enumerate(items):
            self._item(q, j in matched, spans, stats)

    def _gold_unit(self, source, g, span, items, j, pairs, stats) -> None:
        kind = str(g["kind"])
        in_scope = kind not in OUT_OF_SCOPE_KINDS
        self.gold_units += 1
        self.kind_gold[kind] = self.kind_gold.get(kind, 0) + 1
        stats["gold"] += in_scope
        if j is None:
            # covered by an item that was credited to another unit: merged, not recovered
            host = next(
                (
                    items[k]
                    for k in pairs.values()
                    if _covers(items[k].span, span, self.min_overlap)
                ),
                None,
            )
            if host is None:
                self.missed.append(dict(_unit_row(g, source), speaker=g["speaker"]))
                return
            self.kind_merged[kind] = self.kind_merged.get(kind, 0) + 1
            stats["merged"] += in_scope
            self.merged.append(dict(_unit_row(g, source), item_start=host.start, item_end=host.end))
            return
        self.kind_rec[kind] = self.kind_rec.get(kind, 0) + 1
        if not in_scope:
            return
        stats["recovered"] += 1
        self.n_spk += 1
        if speakers_match(items[j].speaker, g["speaker"]):
            self.n_spk_ok += 1
        else:
            row = dict(_unit_row(g, source), gold=g["speaker"], extracted=items[j].speaker)
            self.speaker_errors.append(row)

    def _item(self, q: Quote, matched: bool, spans: list[Span], stats) -> None:
        self.n_items += 1
        self.items_by_kind[q.kind] = self.items_by_kind.get(q.kind, 0) + 1
        if matched:
            self.n_correct += 1
            stats["correct"] += 1
        elif any(_covers(s, q.span, self.min_overlap) for s in spans):
            self.fragments.append(q.to_dict())  # a piece of a unit another item was credited for
        else:
            self.unmatched.append(q.to_dict())


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _in_scope(counts: dict[str, int]) -> int:
    return sum(n for k, n in counts.items() if k not in OUT_OF_SCOPE_KINDS)


def _result(t: _Tally, articles: int) -> dict[str, Any]:
    in_scope, rec = _in_scope(t.kind_gold), _in_scope(t.kind_rec)
    merged = _in_scope(t.kind_merged)
    result: dict[str, Any] = {
        "matching": "one-to-one",
        "articles": articles,
        "gold_units": t.gold_units,
        "gold_in_scope": in_scope,
        "out_of_scope_kinds": sorted(OUT_OF_SCOPE_KINDS),
        "extracted": t.n_items,
        "extracted_by_kind": dict(sorted(t.items_by_kind.items())),
        "recovered": rec,
        "recovery": _rate(rec, in_scope),
        "recovery_all": _rate(sum(t.kind_rec.values()), t.gold_units),
        "merged_units": merged,
        "merged_rate": _rate(merged, in_scope),
        "recovery_by_kind": {
            k: {
                "gold": n,
                "recovered": t.kind_rec.get(k, 0),
                "merged": t.kind_merged.get(k, 0),
                "rate": _rate(t.kind_rec.get(k, 0), n),
            }
            for k, n in sorted(t.kind_gold.items())
        },
        "correct": t.n_correct,
        "precision": _rate(t.n_correct, t.n_items),
        "speaker_correct": t.n_spk_ok,
        "speaker_accuracy": _rate(t.n_spk_ok, t.n_spk),
        "per_article": t.per_article,
        "gold_offsets_repaired": t.offset_fixes,
        "missed": t.missed,
        "merged": t.merged,
        "unmatched": t.unmatched,
        "fragments": t.fragments,
        "speaker_errors": t.speaker_errors,
        "min_overlap": t.min_overlap,
        "targets": dict(EXTRACTION_TARGETS),
    }
    # 95% Wilson intervals: with a few dozen units, the point figures are rough
    result["intervals"] = {
        "recovery": wilson_interval(rec, in_scope),
        "merged_rate": wilson_interval(merged, in_scope),
        "precision": wilson_interval(t.n_correct, t.n_items),
        "speaker_accuracy": wilson_interval(t.n_spk_ok, t.n_spk),
    }
    result["meets_targets"] = all(
        result[k] is not None and result[k] >= v for k, v in EXTRACTION_TARGETS.items()
    )
    return result


# --------------------------------------------------------------------------------------------
# The evaluation


def evaluate_extraction(
    articles_dir: str | Path, gold_path: str | Path, min_overlap: float = 0.5
) -> dict[str, Any]:
    """Score the extractor against gold units cut by hand from the same articles.

    Gold units and extracted items are matched one to one (:func:`match_units`: an item may
    match a unit when it covers at least ``min_overlap`` of the unit's characters). Then:

    - a gold unit is *recovered* when it is matched;
    - it is *merged* when it is not matched but an item credited to another unit covers it
      (one long item holding several units: one label for several statements);
    - it is *missed* otherwise;
    - an extracted item is *correct* (precision) when it is matched; an unmatched item is a
      *fragment* when it lies inside a gold unit (over-segmentation) and *unmatched* otherwise;
    - *speaker accuracy* is measured on the recovered units, with the matched item's speaker
      (:func:`~stance.extract.speakers.speakers_match`).

    Recovery and speaker accuracy are reported over the in-scope gold units (all kinds but
    ``opinion``: a columnist's own argument, which the extractor does not look for); recovery
    also over all units (``recovery_all``).

    Args:
        articles_dir: the folder holding the articles named in the gold ``source`` field.
        gold_path: JSONL gold units with ``text``, ``source`` and ``speaker``, and usually
            ``start``/``end``/``kind`` (e.g. data/seed_units.jsonl, or a corpus file whose
            non-authored records were cut from the articles). Without offsets (or with wrong
            ones) a unit is located by its text; without ``kind`` it counts as in scope;
            ``source == "authored"`` records are skipped.
        min_overlap: the share of a gold unit an item must cover to match it.

    Returns:
        A dict with ``recovery``, ``recovery_all``, ``merged_units``, ``precision``,
        ``speaker_accuracy`` (with 95% Wilson ``intervals``), per-kind and per-article counts,
        ``missed`` / ``merged`` / ``unmatched`` / ``fragments`` / ``speaker_errors`` lists
        for inspection, the ``targets`` and ``meets_targets``.

    Raises:
        DataError: the gold file is missing or malformed, a record lacks a field, an
            article it names is not in ``articles_dir``, or a unit's text is not in its article.
    """
    articles_dir, gold_path = Path(articles_dir), Path(gold_path)
    if not articles_dir.is_dir():
        raise DataError(articles_dir, "not a directory; expected the folder of article .txt files")
    by_source = _read_gold(gold_path)
    tally = _Tally(min_overlap=min_overlap)
    for source in sorted(by_source):
        path = articles_dir / source
        if not path.is_file():
            raise DataError(
                gold_path,
                f"gold units name the article {source!r}, which is not in {articles_dir}/",
            )
        article = read_article(path)
        units = by_source[source]
        spans = []
        for g in units:
            span = _gold_span(article, g, gold_path, source)
            if span is None:  # offsets missing or off: the unit was found by its text
                tally.offset_fixes += 1
                start = article.find(g["text"])
                span = (start, start + len(g["text"]))
            spans.append(span)
        tally.add_article(source, units, spans, extract_file(path))
    return _result(tally, len(by_source))
