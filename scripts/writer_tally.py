"""Tally one writer's batch files against the coverage plan (data/COVERAGE.md).

Usage: python scripts/writer_tally.py w3        # reads data/authored/round2/w3_*.jsonl

Prints schema errors (file:line: message), then counts per label, form, role, reform and year
band, word-length median and 95th percentile, contrast pairs and the distinct-trigram ratio, so
a writer can see how far their cells are filled while writing.
"""

from __future__ import annotations

import collections
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stance.constants import LABELS, REFORMS, ROLES  # noqa: E402

FORMS = ("reported", "long_direct", "comment", "direct")
HARD_TYPES = (
    "sarcasm", "implicit_condition", "keyword_trap", "negation", "hedged_support",
    "mixed_register", "rival_model",
)  # fmt: skip
PERIODS = {(2006, 2010): "2006-10", (2011, 2015): "2011-15", (2016, 2019): "2016-19",
           (2019, 2022): "2019-22", (2023, 2026): "2023-26"}  # fmt: skip
FIELDS = ("id", "text", "label", "source", "speaker", "role", "reform", "year", "form",
          "pair_id", "hard", "hard_type")  # fmt: skip


def period(year: int) -> str:
    if year <= 2010:
        return "2006-10"
    if year <= 2015:
        return "2011-15"
    if year <= 2018:
        return "2016-19"
    if year <= 2022:
        return "2019-22"
    return "2023-26"


def check(rec: dict, where: str, errors: list[str]) -> None:
    missing = [f for f in FIELDS if f not in rec]
    if missing:
        errors.append(f"{where}: missing fields {missing}")
        return
    if rec["label"] not in LABELS:
        errors.append(f"{where}: label {rec['label']!r} not in {LABELS}")
    if rec["role"] not in ROLES:
        errors.append(f"{where}: role {rec['role']!r} not in vocabulary")
    if rec["reform"] not in REFORMS:
        errors.append(f"{where}: reform {rec['reform']!r} not in vocabulary")
    if rec["form"] not in FORMS:
        errors.append(f"{where}: form {rec['form']!r} not in {FORMS}")
    if rec["source"] != "authored":
        errors.append(f"{where}: source must be 'authored'")
    if not isinstance(rec["year"], int) or not 2006 <= rec["year"] <= 2026:
        errors.append(f"{where}: year must be an int 2006-2026")
    if rec["hard"] and rec["hard_type"] not in HARD_TYPES:
        errors.append(f"{where}: hard_type {rec['hard_type']!r} not in {HARD_TYPES}")
    if not rec["hard"] and rec["hard_type"] is not None:
        errors.append(f"{where}: hard_type must be null when hard is false")
    n = len(rec["text"].split())
    if rec["form"] == "long_direct" and not 40 <= n <= 90:
        errors.append(f"{where}: long_direct must be 40-90 words, found {n}")


def main(writer: str) -> int:
    files = sorted((ROOT / "data/authored/round2").glob(f"{writer}_*.jsonl"))
    recs, errors, ids = [], [], set()
    for f in files:
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{f.name}:{i}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: malformed JSON ({e.msg})")
                continue
            check(rec, where, errors)
            if rec.get("id") in ids:
                errors.append(f"{where}: duplicate id {rec.get('id')}")
            ids.add(rec.get("id"))
            recs.append(rec)
    for e in errors:
        print("ERROR", e)
    if not recs:
        print("no records")
        return 1
    n = len(recs)
    print(f"{n} statements in {len(files)} files")
    for key in ("label", "form"):
        c = collections.Counter(r[key] for r in recs)
        print(key, {k: f"{v} ({v / n:.0%})" for k, v in c.most_common()})
    print("role", dict(collections.Counter(r["role"] for r in recs).most_common()))
    print("missing roles", [r for r in ROLES if r not in {x["role"] for x in recs}])
    print("reform", dict(collections.Counter(r["reform"] for r in recs).most_common()))
    print("period", dict(collections.Counter(period(r["year"]) for r in recs)))
    lens = sorted(len(r["text"].split()) for r in recs)
    print(
        f"words: median {statistics.median(lens)}, p95 {lens[int(0.95 * (n - 1))]}, max {lens[-1]}"
    )
    pairs = collections.Counter(r["pair_id"] for r in recs if r["pair_id"])
    bad = [p for p, k in pairs.items() if k != 2]
    print(f"contrast pairs: {sum(1 for k in pairs.values() if k == 2)} complete; incomplete {bad}")
    for p in pairs:
        labs = {r["label"] for r in recs if r["pair_id"] == p}
        if pairs[p] == 2 and len(labs) != 2:
            print("ERROR pair", p, "members have the same label")
    tri = [
        tuple(t)
        for r in recs
        for t in zip(*(re.findall(r"\w+", r["text"].lower())[i:] for i in range(3)))
    ]
    print(f"distinct-trigram ratio: {len(set(tri)) / max(1, len(tri)):.3f}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
