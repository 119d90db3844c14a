"""Evaluation of the extractor against gold units cut by hand from the same articles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stance.constants import AUTHORED_SOURCE
from stance.errors import DataError
from stance.extract.quotes import extract_file, read_article
from stance.extract.speakers import speakers_match

__all__ = ["evaluate_extraction", "EXTRACTION_TARGETS", "OUT_OF_SCOPE_KINDS"]

# The targets the extractor is held to on the seed articles (docs/extraction.md).
EXTRACTION_TARGETS: dict[str, float] = {
    "recovery": 0.90,
    "precision": 0.80,
    "speaker_accuracy": 0.90,
}
# Gold kinds the extractor does not look for: an author's own argument in a column.
OUT_OF_SCOPE_KINDS: frozenset[str] = frozenset({"opinion"})


def _norm_text(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("’", "'")))


def _wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of the proportion k/n (None when n == 0)."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def evaluate_extraction(
    articles_dir: str | Path, gold_path: str | Path, min_overlap: float = 0.5
) -> dict[str, Any]:
    """Score the extractor against gold units cut by hand from the same articles.

    A gold unit is *recovered* when one extracted item covers at least ``min_overlap`` of its
    characters (offsets), or contains its normalised text. An extracted item is *correct*
    (precision) when it overlaps some gold unit by at least ``min_overlap`` of the shorter of
    the two, or one's normalised text contains the other's. *Speaker accuracy* is measured on
    the recovered units, with the best-overlapping item's speaker (:func:`speakers_match`).

    Recovery is reported over the in-scope gold units (all kinds but ``opinion``: a
    columnist's own argument, which the extractor does not look for) and over all units.
    Precision is measured against all gold units (``precision``) and against the in-scope
    ones only (``precision_in_scope``).

    Args:
        articles_dir: the folder holding the articles named in the gold ``source`` field.
        gold_path: JSONL gold units with ``text``, ``source`` and ``speaker``, and usually
            ``start``/``end``/``kind`` (e.g. data/seed_units.jsonl, or a corpus file whose
            non-authored records were cut from the articles). Without offsets (or with wrong
            ones) a unit is located by its text; without ``kind`` it counts as in scope;
            ``source == "authored"`` records are skipped.
        min_overlap: the overlap share that counts as a match.

    Returns:
        A dict with ``recovery``, ``recovery_all``, ``precision``, ``precision_in_scope``,
        ``speaker_accuracy`` (with 95% Wilson ``intervals``), per-kind and per-article counts,
        ``missed`` / ``unmatched`` /
        ``speaker_errors`` lists for inspection, the ``targets`` and ``meets_targets``.

    Raises:
        DataError: the gold file is missing or malformed, a record lacks a field, an
            article it names is not in ``articles_dir``, or a unit's text is not in its article.

    Example:
        >>> r = evaluate_extraction("data/articles", "data/seed_units.jsonl")  # doctest: +SKIP
        >>> round(r["recovery"], 3), round(r["precision"], 3)                 # doctest: +SKIP
    """
    from stance.data.io import iter_records

    articles_dir = Path(articles_dir)
    gold_path = Path(gold_path)
    if not articles_dir.is_dir():
        raise DataError(articles_dir, "not a directory; expected the folder of article .txt files")
    gold: list[dict[str, Any]] = []
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
        gold.append(rec)
    by_source: dict[str, list[dict[str, Any]]] = {}
    for rec in gold:
        by_source.setdefault(str(rec["source"]), []).append(rec)

    missed, unmatched, speaker_errors = [], [], []
    kind_gold: dict[str, int] = {}
    kind_rec: dict[str, int] = {}
    per_article: dict[str, dict[str, int]] = {}
    n_items = n_correct = n_correct_scope = n_spk = n_spk_ok = offset_fixes = 0
    items_by_kind: dict[str, int] = {}
    for source in sorted(by_source):
        path = articles_dir / source
        if not path.is_file():
            raise DataError(
                gold_path,
                f"gold units name the article {source!r}, which is not in {articles_dir}/",
            )
        article = read_article(path)
        items = extract_file(path)
        units = by_source[source]
        spans = []
        for g in units:
            s, e = g.get("start"), g.get("end")
            if not isinstance(s, int) or not isinstance(e, int) or article[s:e] != g["text"]:
                # offsets missing or off: find the text instead
                offset_fixes += 1
                i = article.find(g["text"])
                if i < 0:
                    raise DataError(
                        gold_path,
                        f"unit text not found in {source} and its start/end do not match; "
                        "fix the offsets or the text",
                        line=g["_line"],
                    )
                s, e = i, i + len(g["text"])
            spans.append((s, e))
        norm_items = [_norm_text(q.text) for q in items]
        norm_gold = [_norm_text(g["text"]) for g in units]
        stats = per_article.setdefault(
            source, {"gold": 0, "recovered": 0, "extracted": len(items), "correct": 0}
        )
        for g, span, ng in zip(units, spans, norm_gold):
            kind = str(g["kind"])
            kind_gold[kind] = kind_gold.get(kind, 0) + 1
            best, best_ov = None, 0
            for q, nq in zip(items, norm_items):
                ov = _overlap(span, (q.start, q.end))
                if ov >= min_overlap * max(1, span[1] - span[0]) or (ng and ng in nq):
                    if ov > best_ov or best is None:
                        best, best_ov = q, ov
            if kind not in OUT_OF_SCOPE_KINDS:
                stats["gold"] += 1
            if best is None:
                missed.append(
                    {
                        "id": g.get("id"),
                        "source": source,
                        "kind": kind,
                        "speaker": g["speaker"],
                        "text": g["text"],
                    }
                )
                continue
            kind_rec[kind] = kind_rec.get(kind, 0) + 1
            if kind in OUT_OF_SCOPE_KINDS:
                continue
            stats["recovered"] += 1
            n_spk += 1
            if speakers_match(best.speaker, g["speaker"]):
                n_spk_ok += 1
            else:
                speaker_errors.append(
                    {
                        "id": g.get("id"),
                        "source": source,
                        "gold": g["speaker"],
                        "extracted": best.speaker,
                        "text": g["text"],
                    }
                )
        for q, nq in zip(items, norm_items):
            n_items += 1
            items_by_kind[q.kind] = items_by_kind.get(q.kind, 0) + 1
            hits = [
                g
                for g, span, ng in zip(units, spans, norm_gold)
                if _overlap(span, (q.start, q.end))
                >= min_overlap * max(1, min(span[1] - span[0], q.end - q.start))
                or (ng and nq and (ng in nq or nq in ng))
            ]
            if hits:
                n_correct += 1
                stats["correct"] += 1
            if any(str(g["kind"]) not in OUT_OF_SCOPE_KINDS for g in hits):
                n_correct_scope += 1
            if not hits:
                unmatched.append(q.to_dict())

    def rate(k: int, n: int) -> float | None:
        return k / n if n else None

    in_scope = sum(n for k, n in kind_gold.items() if k not in OUT_OF_SCOPE_KINDS)
    rec_scope = sum(n for k, n in kind_rec.items() if k not in OUT_OF_SCOPE_KINDS)
    result: dict[str, Any] = {
        "articles": len(by_source),
        "gold_units": len(gold),
        "gold_in_scope": in_scope,
        "out_of_scope_kinds": sorted(OUT_OF_SCOPE_KINDS),
        "extracted": n_items,
        "extracted_by_kind": dict(sorted(items_by_kind.items())),
        "recovered": rec_scope,
        "recovery": rate(rec_scope, in_scope),
        "recovery_all": rate(sum(kind_rec.values()), len(gold)),
        "recovery_by_kind": {
            k: {"gold": n, "recovered": kind_rec.get(k, 0), "rate": rate(kind_rec.get(k, 0), n)}
            for k, n in sorted(kind_gold.items())
        },
        "correct": n_correct,
        "precision": rate(n_correct, n_items),
        "precision_in_scope": rate(n_correct_scope, n_items),
        "speaker_correct": n_spk_ok,
        "speaker_accuracy": rate(n_spk_ok, n_spk),
        "per_article": per_article,
        "gold_offsets_repaired": offset_fixes,
        "missed": missed,
        "unmatched": unmatched,
        "speaker_errors": speaker_errors,
        "min_overlap": min_overlap,
        "targets": dict(EXTRACTION_TARGETS),
    }
    # 95% Wilson intervals: with a few dozen units, the point figures are rough
    result["intervals"] = {
        "recovery": _wilson(rec_scope, in_scope),
        "precision": _wilson(n_correct, n_items),
        "speaker_accuracy": _wilson(n_spk_ok, n_spk),
    }
    result["meets_targets"] = all(
        result[k] is not None and result[k] >= v for k, v in EXTRACTION_TARGETS.items()
    )
    return result
