"""Average the out-of-fold probabilities of several ``stance cv --json`` results (an ensemble).

Each fold's members trained on the same data, so averaging their held-out probabilities gives
the out-of-fold predictions of the probability-averaging ensemble, with no training. The result
is in the cv format, so ``stance compare`` scores and pairs it with its members::

    python scripts/average_cv.py docs/cv/cv_transformer.json docs/cv/cv_minilm.json \
        --out docs/cv/cv_mpnet+minilm.json
    stance compare docs/cv/cv_mpnet+minilm.json docs/cv/cv_transformer.json docs/cv/cv_minilm.json

Checked: averaging MiniLM's and the baseline's results reproduces the ensemble figures of
docs/model_selection/seed_cv_ensemble.md (macro-F1 0.567 [0.344, 0.791], ECE 0.151), which
scripts/ensemble_from_curves.py computed independently from the learning curves.

Usage:
    python scripts/average_cv.py CV.json CV.json [CV.json ...] --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def average(results: list[dict]) -> dict:
    """The cv-shaped result whose probabilities are the members' mean; SystemExit on mismatch."""
    first = results[0]
    labels = list(first["labels"])
    keyed = [{e["id"]: e for e in r["predictions"]} for r in results]
    for r, by_id in zip(results[1:], keyed[1:]):
        if list(r["labels"]) != labels or set(by_id) != set(keyed[0]):
            raise SystemExit(
                "the cv results differ in labels or quote ids; average runs of one corpus"
            )
    predictions = []
    for entry in first["predictions"]:
        members = [k[entry["id"]] for k in keyed]
        if any(m["gold"] != entry["gold"] for m in members):
            raise SystemExit(f"quote {entry['id']!r} has different gold labels across the results")
        probs = {lb: sum(m["probabilities"][lb] for m in members) / len(members) for lb in labels}
        best = max(labels, key=probs.__getitem__)
        predictions.append({**entry, "predicted": best, "confidence": probs[best],
                            "probabilities": probs})  # fmt: skip
    return {
        "config": " + ".join(str(r["config"]) for r in results), "kind": "ensemble",
        "corpus": first["corpus"], "labels": labels, "n": len(predictions),
        "n_folds": first["n_folds"], "source": "probability average of cv results",
        "folds": [], "predictions": predictions,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if len(args.results) < 2:
        raise SystemExit("average needs at least two cv results")
    loaded = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.results]
    result = average(loaded)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {result['n']} averaged predictions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
