"""Assemble data/corpus.jsonl and data/splits/ from the annotation files, and measure agreement.

Inputs (all under data/):
  seed_units.jsonl                 seed quotes cut from data/articles/ (text, offsets, speaker...)
  annotation/seed_pass1.jsonl      first independent labelling of the seed units  {id, label, note}
  annotation/seed_pass2.jsonl      second independent labelling                     {id, label, note}
  annotation/seed_reconciled.jsonl final label of every seed unit after reconciling {id, label, resolution}
  authored/part*.jsonl             authored statements, labelled by their writers
  annotation/authored_sample_ids.txt   the random sample given to the second pass
  annotation/authored_pass2.jsonl  second, independent labelling of that sample    {id, label, note}
  annotation/authored_decisions.jsonl  what was done where the passes disagreed     {id, action: keep|relabel|drop, label?, reason}
  authored/round2/w*_b*.jsonl      round-2 statements (form, pair_id), one writer per plan slice (coverage_plan.json)
  annotation/pass2/wN_sample_ids.txt, wN.jsonl  blind second labels of a 10% sample per writer  {id, label, note}
  annotation/review_decisions.jsonl  label-error review (stance review) decided against the guidelines  {id, action, label, reason}
  annotation/dev_pass1.jsonl       the development set of real positions as written  {id, text, label, speaker, organisation, year, basis...}
  annotation/dev_pass2.jsonl       its blind second labelling                       {id, label, note}

Outputs: data/corpus.jsonl, data/splits/{train,validation,test}.jsonl, data/dev_positions.jsonl,
data/eval/test_not_examples.jsonl (the test quotes that are not worked examples in GUIDELINES.md),
data/annotation/agreement.json (Cohen's kappa, counts, near-duplicates), data/COVERAGE.md,
data/length_histogram.png and data/README.md. Rerunning gives the
same files. Run from the repository root:  python scripts/build_corpus.py
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from stance.constants import CORPUS_FIELDS, DEV_FIELDS, LABELS, TEST_SOURCES
from stance.data.corpus import (
    check_files,
    corpus_stats,
    near_duplicates,
    split_corpus,
    write_jsonl,
)

DATA = Path("data")
ANN = DATA / "annotation"
ROUND2 = DATA / "authored" / "round2"
FIELDS = CORPUS_FIELDS


def read(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read(path)}


def agreement(a: dict[str, str], b: dict[str, str]) -> dict:
    ids = sorted(set(a) & set(b))
    x, y = [a[i] for i in ids], [b[i] for i in ids]
    return {
        "n": len(ids),
        "observed_agreement": round(sum(p == q for p, q in zip(x, y)) / len(ids), 3),
        "cohen_kappa": round(float(cohen_kappa_score(x, y, labels=list(LABELS))), 3),
        "confusion": {
            "labels": list(LABELS),
            "rows_pass1_cols_pass2": confusion_matrix(x, y, labels=list(LABELS)).tolist(),
        },
        "disagreements": [i for i in ids if a[i] != b[i]],
    }


def excluded_examples(report: dict) -> dict | None:
    """Seed agreement recomputed without the units quoted as worked examples in GUIDELINES.md."""
    path = ANN / "guideline_example_ids.txt"
    if not path.exists():
        return None
    skip = set(path.read_text(encoding="utf-8").split())
    p1 = {k: v["label"] for k, v in by_id(ANN / "seed_pass1.jsonl").items() if k not in skip}
    p2 = {k: v["label"] for k, v in by_id(ANN / "seed_pass2.jsonl").items() if k not in skip}
    return agreement(p1, p2)


def _table(title: str, counts: dict, total: int | None = None) -> str:
    total = total or sum(counts.values())
    rows = [f"| {title} | count | share |", "|---|---:|---:|"]
    rows += [f"| {k} | {v} | {v / total:.0%} |" for k, v in counts.items()]
    return "\n".join(rows)


def period(year: int | None) -> str:
    """The plan's five periods (2019 goes with PCNs, which began that year)."""
    if year is None:
        return "n/a"
    for name, last in (("2006-10", 2010), ("2011-15", 2015), ("2016-19", 2018), ("2019-22", 2022)):
        if year <= last:
            return name
    return "2023-26"


PERIODS = ("2006-10", "2011-15", "2016-19", "2019-22", "2023-26")


def round2_stats(rows: list[dict]) -> dict:
    """Counts per form, period, label, role and reform, pairs and lengths of the round-2 statements."""
    words = sorted(len(r["text"].split()) for r in rows)
    return {
        "n": len(rows),
        "forms": dict(Counter(r["form"] for r in rows).most_common()),
        "periods": {p: sum(period(r["year"]) == p for r in rows) for p in PERIODS},
        "labels": dict(Counter(r["label"] for r in rows).most_common()),
        "roles": dict(Counter(r["role"] for r in rows).most_common()),
        "reforms": dict(Counter(r["reform"] for r in rows).most_common()),
        "pairs": len({r["pair_id"] for r in rows if r.get("pair_id")}),
        "words_median": float(np.median(words)) if words else None,
        "words_p95": float(np.percentile(words, 95)) if words else None,
    }


def plot_lengths(seeds: list[dict], round2: list[dict], dev: list[dict], out: Path) -> None:
    """Histogram of words per statement: seed quotes against round-2 statements (and the dev set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = np.arange(0, 125, 5)
    fig, ax = plt.subplots(figsize=(7, 4))
    for rows, name in (
        (round2, "round-2 authored"),
        (dev, "dev set (real positions)"),
        (seeds, "seed quotes"),
    ):
        lengths = [min(len(r["text"].split()), 120) for r in rows]
        ax.hist(lengths, bins=bins, density=True, histtype="step", linewidth=2,
                label=f"{name} (n={len(rows)}, median {np.median(lengths):.0f})")  # fmt: skip
    ax.set_xlabel("words per statement (120 = 120 or more)")
    ax.set_ylabel("share of statements per word")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _matrix(rows: list[dict], row_key, col_values, col_key) -> list[str]:
    keys = sorted({row_key(r) for r in rows})
    out = [f"| | {' | '.join(col_values)} | total |", "|---|" + "---:|" * (len(col_values) + 1)]
    for k in keys:
        cells = [sum(1 for r in rows if row_key(r) == k and col_key(r) == c) for c in col_values]
        out.append(
            f"| {k} | " + " | ".join(str(c) if c else "." for c in cells) + f" | {sum(cells)} |"
        )
    return out


def render_coverage(rows: list[dict], report: dict) -> str:
    """data/COVERAGE.md: the plan (coverage_plan.json) and how far each cell is filled."""
    plan = json.loads((DATA / "coverage_plan.json").read_text(encoding="utf-8"))
    writers = report["round2_writers"]
    lines = ["# Coverage of the round-2 authored statements", "",
             "*Generated by `python scripts/build_corpus.py` from `coverage_plan.json` and the statements; do not edit by hand.*",
             "", plan["about"], "", "## Per writer (one plan slice each)", "",
             "| writer | slice | written | kept | support / oppose / conditional | reported / long_direct / comment / direct | smallest role count | pairs | distinct trigrams | kappa (n) |",
             "|---|---|---:|---:|---|---|---:|---:|---:|---|"]  # fmt: skip
    for w, info in writers.items():
        mine = [r for r in rows if r["id"].startswith(w + "-")]
        lab, form, roles = (
            Counter(r["label"] for r in mine),
            Counter(r["form"] for r in mine),
            Counter(r["role"] for r in mine),
        )
        n = max(1, len(mine))
        sl = plan["slices"].get(w, {})
        lines.append(
            f"| {w} | {sl.get('period', '?')}: {sl.get('theme', '')} | {info['written']} | {len(mine)} | "
            + " / ".join(f"{lab[x] / n:.0%}" for x in LABELS) + " | "
            + " / ".join(f"{form[x] / n:.0%}" for x in ("reported", "long_direct", "comment", "direct"))
            + f" | {min(roles.values()) if roles else 0} | {len({r['pair_id'] for r in mine if r.get('pair_id')})}"
            f" | {info['distinct_trigram_ratio']} | {info['cohen_kappa']} ({info['n']}) |"
        )  # fmt: skip
    lines += ["", "## Period x reform (round 2)", ""]
    lines += _matrix(rows, lambda r: r["reform"], list(PERIODS), lambda r: period(r["year"]))
    lines += ["", "## Role x period (round 2)", ""]
    lines += _matrix(rows, lambda r: r["role"], list(PERIODS), lambda r: period(r["year"]))
    lines += ["", "## Form x label (round 2)", ""]
    lines += _matrix(rows, lambda r: r["form"], list(LABELS), lambda r: r["label"])
    return "\n".join(lines) + "\n"


def _kappa_line(a: dict | None) -> str:
    if not a:
        return "n/a"
    return f"n = {a['n']}, observed agreement {a['observed_agreement']:.3f}, Cohen's kappa **{a['cohen_kappa']:.3f}**"


def _writer_rows(report: dict) -> list[str]:
    rows = [
        "| writer | second-pass sample | agreement | kappa | dropped | distinct trigrams |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for w, a in report["round2_writers"].items():
        rows.append(f"| {w} | {a['n']} | {a['observed_agreement']:.3f} | {a['cohen_kappa']:.3f} | "
                    f"{len(a['disagreements'])} | {a['distinct_trigram_ratio']} |")  # fmt: skip
    return rows


def render_readme(report: dict, without_examples: dict | None) -> str:
    """data/README.md, written from the numbers of this run (never edited by hand)."""
    # Over 80 lines on purpose: it is the page's template, read top to bottom like the page.
    st, seed, r2, dev = report["stats"], report["seed"], report["stats_round2"], report["stats_dev"]
    lw = st["length_words"]
    near = report["near_duplicates_over_0.8"]
    without = (
        f" Without the {seed['n'] - without_examples['n']} units quoted as worked examples in the guidelines: "
        + _kappa_line(without_examples) + "."
        if without_examples else ""
    )  # fmt: skip
    return f"""# The labelled quote corpus

*Generated by `python scripts/build_corpus.py` from the annotation files; do not edit by hand.*

`corpus.jsonl` holds {st["n"]} statements, one JSON object per line with the fields `id`, `text`,
`label`, `source`, `speaker`, `role`, `reform` (the schema in `stance/constants.py`), plus `form`
(`direct`, `reported`, `long_direct`, `comment`, `opinion`) and `pair_id` (contrast pairs), `kind`,
`start`, `end` for seed quotes (character offsets into `articles/<source>`) and `year`, `hard`,
`hard_type` for authored statements. Labels follow [GUIDELINES.md](GUIDELINES.md).

- **Seed quotes** ({report["stats_seed"]["n"]}): every stance-bearing statement of the five real
  articles in `articles/`, cut into one-stance units, text exactly as in the article.
- **Authored statements, round 1** ({report["stats_authored"]["n"] - r2["n"]}):
  short direct quotes (`authored/part*.jsonl`).
- **Authored statements, round 2** ({r2["n"]}): written by {len(report["round2_writers"])} writers, each owning one slice of the
  [coverage plan](coverage_plan.json) ([how far each cell is filled](COVERAGE.md)) and never seeing
  the others' work, in the register of real news quotes: reported speech, long quotes whose stance
  comes late, readers' comments with real-world typing, short quotes; {r2["pairs"]} contrast pairs.
  w1-w8 own periods and reforms; w9-w16 (issue 15) own registers of real news quotes (opinion
  columns, officials' announcements, readers' comments, interviews, news reports, speeches,
  evidence talk, local voices), planned after reading the models' errors in seed
  cross-validation, so cross-validation scores of models trained on them are no longer blind to
  that error analysis (the writers never saw the articles).
  Speakers are generic descriptions, never real people.
- **Development set** (`dev_positions.jsonl`, {dev["n"]}): paraphrases of real public positions taken by
  named organisations and public figures, 2006-2026, each with speaker, organisation, year and
  `basis`, written by a writer who never saw the training corpus. **Evaluation only**: it never
  reaches training and is not used to tune hyperparameters beyond choosing between model families.

Splits (`splits/`, deterministic): **test** = the seed quotes of whole held-out articles
({", ".join(TEST_SOURCES)}); `eval/test_not_examples.jsonl` = the {report["test_not_examples"]["n"]} of them
that are not quoted as worked examples in the guidelines ({report["test_not_examples"]["excluded"]} are: their
labels were visible to everyone who wrote training data, so figures are reported on both);
**validation** = 15% of the authored statements of each label and form, contrast pairs kept whole
(used for model selection: best epoch, calibration); **train** = the rest. Leave-one-article-out
folds over the five articles are used by `stance cv`.

Labels per split: {json.dumps(report["split_counts"])}

## Agreement

**Seed quotes**: two independent labelling passes, then reconciled: {_kappa_line(seed)}.{without}

**Round-1 authored statements**: blind second pass on a random sample: {_kappa_line(report["authored_sample"])}; disagreements resolved in `annotation/authored_decisions.jsonl`.

**Round-2 authored statements**: a blind second labeller (who saw the text and metadata, never the
writer's label) labelled a random 10% of every writer's statements (`annotation/pass2/`); the
statements the two read differently were dropped. Overall: {_kappa_line(report["round2_sample"])}.

{chr(10).join(_writer_rows(report))}

**Development set**: every statement labelled blind a second time (`annotation/dev_pass2.jsonl`):
{_kappa_line(report["dev"])}; the {len(report["dev"]["dropped_disagreements"])} disagreements were dropped, and
{len(report["dev"]["dropped_near_corpus"])} statements above 0.8 cosine to a corpus statement.

## Counts (round 2)

{_table("form", r2["forms"])}

{_table("period", r2["periods"])}

{_table("label", r2["labels"])}

{_table("role", r2["roles"])}

{_table("reform", r2["reforms"])}

Round-2 length in words: median {r2["words_median"]}, 95th percentile {r2["words_p95"]}
(seed quotes: median {report["stats_seed"]["length_words"]["median"]}, 95th percentile
{report["stats_seed"]["length_words"]["p95"]}).

![length histogram](length_histogram.png)

## Counts (whole corpus)

{_table("label", st["labels"])}

{_table("role", st["roles"])}

{_table("reform", st["reforms"])}

Length in words: min {lw["min"]}, median {lw["median"]}, 95th percentile {lw["p95"]}, max {lw["max"]}.

## Near-duplicates

TF-IDF (word 1-2 grams, sublinear tf) cosine over all pairs of statements (the two members of a
contrast pair are exempt from each other, and from nothing else): round-2 statements above 0.8
to an earlier statement were dropped ({len(report["near_duplicates_dropped"])}).
{"No pair above 0.8 remains." if not near else f"{len(near)} pair(s) above 0.8 remain: " + ", ".join(f"{p['a']}/{p['b']} ({p['cosine']})" for p in near)}

## Rebuild and check

```bash
python scripts/build_corpus.py      # corpus, splits, dev set, agreement.json, COVERAGE.md, this file
stance data check                   # corpus, splits and dev set: exits non-zero on any problem
stance data stats                   # counts
```
"""


def build_seeds(report: dict) -> list[dict]:
    """Seed units with their reconciled labels; ``form`` is the unit's kind."""
    units = read(DATA / "seed_units.jsonl")
    p1 = {k: v["label"] for k, v in by_id(ANN / "seed_pass1.jsonl").items()}
    p2 = {k: v["label"] for k, v in by_id(ANN / "seed_pass2.jsonl").items()}
    final = by_id(ANN / "seed_reconciled.jsonl")
    report["seed"] = agreement(p1, p2)
    articles = {p.name: p.read_text(encoding="utf-8") for p in (DATA / "articles").glob("*.txt")}
    seeds = []
    for u in units:
        assert articles[u["source"]][u["start"] : u["end"]] == u["text"], (
            f"offsets of {u['id']} do not match"
        )
        if u["id"] not in final:
            raise SystemExit(
                f"seed unit {u['id']} has no reconciled label in {ANN / 'seed_reconciled.jsonl'}"
            )
        if final[u["id"]]["label"] == "drop":
            continue
        seeds.append({**{k: u.get(k) for k in FIELDS if k != "label"}, "label": final[u["id"]]["label"],
                      "kind": u.get("kind"), "form": u.get("kind"), "start": u["start"], "end": u["end"]})  # fmt: skip
    return seeds


def _authored_record(r: dict, label: str, form: str, pair_id: str | None) -> dict:
    return {**{k: r.get(k) for k in FIELDS}, "label": label, "year": r.get("year"),
            "hard": r.get("hard", False), "hard_type": r.get("hard_type"),
            "form": form, "pair_id": pair_id}  # fmt: skip


def build_round1(report: dict) -> list[dict]:
    """The first round's authored statements: short direct quotes, second pass on a sample."""
    authored = [r for part in sorted((DATA / "authored").glob("part*.jsonl")) for r in read(part)]
    writer = {r["id"]: r["label"] for r in authored}
    second = {k: v["label"] for k, v in by_id(ANN / "authored_pass2.jsonl").items()}
    report["authored_sample"] = agreement(writer, second)
    decisions = by_id(ANN / "authored_decisions.jsonl")
    undecided = [i for i in report["authored_sample"]["disagreements"] if i not in decisions]
    if undecided:
        raise SystemExit(
            f"disagreements without a decision in authored_decisions.jsonl: {undecided}"
        )
    kept, dropped, relabelled = [], [], []
    for r in authored:
        d = decisions.get(r["id"])
        if d and d["action"] == "drop":
            dropped.append(r["id"])
            continue
        label = d["label"] if d and d["action"] == "relabel" else r["label"]
        if d and d["action"] == "relabel":
            relabelled.append(r["id"])
        kept.append(_authored_record(r, label, "direct", None))
    report["authored_dropped"], report["authored_relabelled"] = dropped, relabelled
    return kept


def distinct_trigram_ratio(texts: list[str]) -> float:
    """Distinct word trigrams / all word trigrams: a writer falling back on a template scores low."""
    grams = []
    for t in texts:
        words = re.findall(r"\w+", t.lower())
        grams += list(zip(words, words[1:], words[2:]))
    return round(len(set(grams)) / max(1, len(grams)), 3)


def build_round2(report: dict) -> list[dict]:
    """Round-2 statements per writer; blind second pass on 10% of each; disagreements dropped."""
    kept, per_writer, firsts, seconds = [], {}, {}, {}
    writers = {p.name.split("_")[0] for p in ROUND2.glob("w*_b*.jsonl")}
    for writer in sorted(writers, key=lambda w: int(w[1:])):  # w2 before w10
        if not (ANN / "pass2" / f"{writer}.jsonl").stat().st_size:
            raise SystemExit(
                f"{ANN / 'pass2' / writer}.jsonl is empty: the writer's sample has no second pass yet"
            )
        rows = [r for f in sorted(ROUND2.glob(f"{writer}_b*.jsonl")) for r in read(f)]
        first = {r["id"]: r["label"] for r in rows}
        second = {k: v["label"] for k, v in by_id(ANN / "pass2" / f"{writer}.jsonl").items()}
        agree = agreement(first, second)
        drop = set(agree["disagreements"])
        per_writer[writer] = {**agree, "written": len(rows), "dropped": sorted(drop),
                              "distinct_trigram_ratio": distinct_trigram_ratio([r["text"] for r in rows])}  # fmt: skip
        firsts.update({i: first[i] for i in second})
        seconds.update(second)
        # A pair whose member was dropped loses its pair id; its other member stays as a single.
        broken = {r["pair_id"] for r in rows if r["id"] in drop and r.get("pair_id")}
        for r in rows:
            if r["id"] not in drop:
                pair = r.get("pair_id") if r.get("pair_id") not in broken else None
                kept.append(_authored_record(r, r["label"], r["form"], pair))
    report["round2_writers"] = per_writer
    report["round2_sample"] = agreement(firsts, seconds) if seconds else None
    return kept


def apply_review(corpus: list[dict], report: dict) -> list[dict]:
    """Apply the decisions of the label-error review (annotation/review.md): relabel or drop."""
    path = ANN / "review_decisions.jsonl"
    decisions = by_id(path) if path.exists() else {}
    kept, changed = [], []
    for r in corpus:
        d = decisions.get(r["id"])
        if d and d["action"] == "drop":
            changed.append(f"{r['id']} dropped")
            continue
        if d and d["action"] == "relabel" and d["label"] != r["label"]:
            changed.append(f"{r['id']} {r['label']} -> {d['label']}")
            r = {**r, "label": d["label"]}
        kept.append(r)
    report["review"] = {"decided": len(decisions), "changed": changed}
    return kept


def drop_near_duplicates(corpus: list[dict], report: dict) -> list[dict]:
    """Drop round-2 statements above 0.8 cosine to anything earlier (pair members exempt from each other)."""
    near = near_duplicates(
        [r["text"] for r in corpus], 0.8, pairs=[r.get("pair_id") for r in corpus]
    )
    round2 = {
        i for i, r in enumerate(corpus) if r.get("pair_id") is not None or r["id"].startswith("w")
    }
    gone: set[int] = set()
    for i, j, _ in near:
        if i in gone or j in gone:
            continue
        later = j if j in round2 else i if i in round2 else None
        if later is not None:
            gone.add(later)
    report["near_duplicates_dropped"] = sorted(corpus[i]["id"] for i in gone)
    kept = [r for i, r in enumerate(corpus) if i not in gone]
    # A dropped pair member leaves its partner as a single statement.
    counts = Counter(r["pair_id"] for r in kept if r.get("pair_id"))
    for r in kept:
        if r.get("pair_id") and counts[r["pair_id"]] != 2:
            r["pair_id"] = None
    left = near_duplicates([r["text"] for r in kept], 0.8, pairs=[r.get("pair_id") for r in kept])
    report["near_duplicates_over_0.8"] = [
        {"a": kept[i]["id"], "b": kept[j]["id"], "cosine": round(s, 3)} for i, j, s in left
    ]
    return kept


def build_dev(report: dict, corpus: list[dict]) -> list[dict]:
    """The development set: real positions, second pass blind; disagreements and near-copies of the corpus dropped."""
    rows = read(ANN / "dev_pass1.jsonl")
    second = {k: v["label"] for k, v in by_id(ANN / "dev_pass2.jsonl").items()}
    agree = agreement({r["id"]: r["label"] for r in rows}, second)
    texts = [r["text"] for r in corpus] + [r["text"] for r in rows]
    n = len(corpus)
    close = {j - n for i, j, _ in near_duplicates(texts, 0.8) if i < n <= j}
    close_ids = sorted(rows[k]["id"] for k in close)
    drop = set(agree["disagreements"]) | set(close_ids)
    report["dev"] = {**agree, "written": len(rows), "dropped_disagreements": agree["disagreements"],
                     "dropped_near_corpus": close_ids}  # fmt: skip
    return [{k: r.get(k) for k in DEV_FIELDS + ("year",)} for r in rows if r["id"] not in drop]


def write_outputs(corpus: list[dict], dev: list[dict], report: dict) -> None:
    write_jsonl(DATA / "corpus.jsonl", corpus)
    problems = check_files([DATA / "corpus.jsonl"])
    if problems:
        raise SystemExit("\n".join(map(str, problems)))
    splits = split_corpus(corpus)
    for name, rows in splits.items():
        write_jsonl(DATA / "splits" / f"{name}.jsonl", rows)
    examples = set((ANN / "guideline_example_ids.txt").read_text(encoding="utf-8").split())
    blind = [r for r in splits["test"] if r["id"] not in examples]
    write_jsonl(DATA / "eval" / "test_not_examples.jsonl", blind)
    report["test_not_examples"] = {"n": len(blind), "excluded": len(splits["test"]) - len(blind)}
    write_jsonl(DATA / "dev_positions.jsonl", dev)
    problems = check_files([DATA / "dev_positions.jsonl"], fields=DEV_FIELDS)
    if problems:
        raise SystemExit("\n".join(map(str, problems)))
    report["split_counts"] = {k: dict(Counter(r["label"] for r in v)) for k, v in splits.items()}


def main() -> int:
    report: dict = {}
    seeds = build_seeds(report)
    round1 = build_round1(report)
    round2 = build_round2(report)
    corpus = drop_near_duplicates(apply_review(seeds + round1 + round2, report), report)
    if report["near_duplicates_over_0.8"]:
        print("near-duplicates above 0.8:", report["near_duplicates_over_0.8"], file=sys.stderr)
    dev = build_dev(report, corpus)
    write_outputs(corpus, dev, report)
    kept2 = [r for r in corpus if r["id"].startswith("w")]
    report["stats"] = corpus_stats(corpus)
    report["stats_seed"] = corpus_stats(seeds)
    report["stats_authored"] = corpus_stats([r for r in corpus if r["source"] == "authored"])
    report["stats_round2"] = round2_stats(kept2)
    report["stats_dev"] = corpus_stats(dev)
    (ANN / "agreement.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_lengths(seeds, kept2, dev, DATA / "length_histogram.png")
    (DATA / "COVERAGE.md").write_text(render_coverage(kept2, report), encoding="utf-8")
    (DATA / "README.md").write_text(
        render_readme(report, excluded_examples(report)), encoding="utf-8"
    )
    print(
        json.dumps(
            {k: report[k] for k in ("seed", "authored_sample", "round2_sample", "dev")}, indent=1
        )[:3000]
    )
    print(f"corpus: {len(corpus)} statements ({len(seeds)} seed, {len(round1)} round 1, "
          f"{len(kept2)} round 2); dev set: {len(dev)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
