"""Paired comparison of two leave-one-article-out cross-validations on the same seed quotes.

`stance cv --json` reports each model's pooled out-of-fold scores with intervals; whether one
model is better than the other needs a *paired* test on the same quotes. Every seed quote in
the corpus is held out exactly once, and the result lists the quotes a model got wrong, so
each model's out-of-fold prediction for every seed quote follows from the corpus and the
``misclassified`` list. This script rebuilds them and runs the paired bootstrap on macro-F1
and McNemar on accuracy (the same tests as `stance compare`).

Run from the repository root::

    stance cv -c configs/baseline.yaml --json -q > cv_baseline.json
    stance cv -c configs/transformer.yaml --json -q > cv_transformer.json   # ~20 min
    python scripts/compare_cv.py cv_transformer.json cv_baseline.json

The runs behind the README's figures are in docs/cv/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def out_of_fold(result: dict, corpus: list[dict]) -> dict[str, tuple[str, str]]:
    """``{quote id: (gold, predicted)}`` for every seed quote a cv result held out."""
    from stance.constants import AUTHORED_SOURCE

    wrong = {m["id"]: m["predicted"] for m in result["misclassified"]}
    seeds = [r for r in corpus if r["source"] != AUTHORED_SOURCE]
    if len(seeds) != result["n"]:
        raise SystemExit(f"the corpus has {len(seeds)} seed quotes, the cv result {result['n']}")
    return {r["id"]: (r["label"], wrong.get(r["id"], r["label"])) for r in seeds}


def main(argv: list[str] | None = None) -> int:
    from stance.models.artifacts import file_sha256
    from stance.evaluation.metrics import DEFAULT_RESAMPLES, mcnemar, paired_bootstrap

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="`stance cv --json` output of model A")
    parser.add_argument("b", type=Path, help="`stance cv --json` output of model B")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (args.a, args.b))
    corpus_path = ROOT / a["corpus"]
    # Both runs, and the corpus read now, must be the same data or the pairing is meaningless.
    digests = {a["corpus_sha256"], b["corpus_sha256"], file_sha256(corpus_path)}
    if len(digests) != 1:
        raise SystemExit(f"{corpus_path}: the two cv results and the corpus differ (sha256)")
    corpus = [json.loads(line) for line in corpus_path.read_text(encoding="utf-8").splitlines()]
    pa, pb = out_of_fold(a, corpus), out_of_fold(b, corpus)
    ids = sorted(pa)
    gold = [pa[i][0] for i in ids]
    pred_a, pred_b = [pa[i][1] for i in ids], [pb[i][1] for i in ids]
    labels = a["labels"]
    paired = paired_bootstrap(gold, pred_a, pred_b, labels, args.resamples, args.seed)
    test = mcnemar(gold, pred_a, pred_b)
    print(json.dumps({
        "a": {"config": a["config"], "kind": a["kind"], "macro_f1": a["macro_f1"]},
        "b": {"config": b["config"], "kind": b["kind"], "macro_f1": b["macro_f1"]},
        "n": len(ids),
        "paired_bootstrap_macro_f1": paired,
        "mcnemar_accuracy": test,
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
