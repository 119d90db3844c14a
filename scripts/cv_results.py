"""Make ``stance cv --json``-shaped results that ``stance compare`` can pair with real ones.

Two subcommands, both writing the cv format (one prediction per held-out seed quote, with id):

``from-curve``: one seed-CV point of a learning curve. ``stance learning-curve --seed-cv``
keeps, for every point, the pooled out-of-fold predictions (article, gold, predicted,
probabilities) in fold order, but not the quote ids that ``stance compare`` pairs by. At
fraction 1 a point trains on exactly what ``stance cv`` trains on, so its predictions line up
with any ``stance cv`` result of the same corpus: the ids and texts come from such a result
(the template), after checking that articles and gold labels agree quote by quote. Checked:
the baseline's curve point converts to a result that ``stance compare`` finds identical, quote
by quote, to its own ``stance cv`` (difference 0.000, no discordant quote).

``average``: the probability-averaging ensemble of several cv results. Each fold's members
trained on the same data, so the mean of their held-out probabilities is the ensemble's
out-of-fold prediction, with no training. Checked: averaging MiniLM's and the baseline's
results reproduces docs/model_selection/seed_cv_ensemble.md (macro-F1 0.567 [0.344, 0.791],
ECE 0.151), which scripts/ensemble_from_curves.py computed independently.

Usage::

    python scripts/cv_results.py from-curve docs/learning_curve/transformer/learning_curve.json \
        docs/cv/cv_baseline.json --out docs/cv/cv_minilm.json [--fraction 1] [--seed 0]
    python scripts/cv_results.py average docs/cv/cv_mpnet_previous_corpus.json docs/cv/cv_minilm.json \
        --out docs/cv/cv_mpnet+minilm.json
    stance compare docs/cv/cv_mpnet_previous_corpus.json docs/cv/cv_minilm.json docs/cv/cv_baseline.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.models.artifacts import atomic_file  # noqa: E402


def _read(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _cv_shaped(
    config: str, kind: str, like: dict[str, Any], source: str, predictions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The fields ``stance compare`` reads from a cv result; no per-fold rows (none were run)."""
    return {
        "config": config, "kind": kind, "corpus": like["corpus"], "labels": list(like["labels"]),
        "n": len(predictions), "n_folds": like["n_folds"], "source": source, "folds": [],
        "predictions": predictions,
    }  # fmt: skip


def from_curve(curve: dict[str, Any], template: dict[str, Any], fraction: float, seed: int) -> dict:
    """The cv-shaped result of ``curve``'s point at (fraction, seed); SystemExit on mismatch."""
    points = [p for p in curve["points"] if p["fraction"] == fraction and p["seed"] == seed]
    if not points:
        raise SystemExit(f"{curve['config']}: no point at fraction {fraction}, seed {seed}")
    held = points[0]["seed_cv_predictions"]
    entries = template["predictions"]
    if list(zip(held["article"], held["gold"])) != [(e["article"], e["gold"]) for e in entries]:
        raise SystemExit(
            "the curve's held-out quotes (article, gold) are not those of the template, in order; "
            "use a template cv result of the same corpus"
        )
    labels = list(template["labels"])
    predictions = [
        # The fold's no-skill reference ("majority") is the template's: same training data.
        {**entry, "predicted": predicted, "confidence": max(probs),
         "probabilities": dict(zip(labels, probs))}
        for entry, predicted, probs in zip(entries, held["predicted"], held["probabilities"])
    ]  # fmt: skip
    source = f"learning-curve point (fraction {fraction}, seed {seed}); ids from the template"
    return _cv_shaped(curve["config"], curve["kind"], template, source, predictions)


def average(results: list[dict[str, Any]]) -> dict[str, Any]:
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
    config = " + ".join(str(r["config"]) for r in results)
    return _cv_shaped(config, "ensemble", first, "probability average of cv results", predictions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("from-curve")
    c.add_argument("curve")
    c.add_argument("template")
    c.add_argument("--fraction", type=float, default=1.0)
    c.add_argument("--seed", type=int, default=0)
    a = sub.add_parser("average")
    a.add_argument("results", nargs="+")
    for p in (c, a):
        p.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "from-curve":
        result = from_curve(_read(args.curve), _read(args.template), args.fraction, args.seed)
    else:
        if len(args.results) < 2:
            raise SystemExit("average needs at least two cv results")
        result = average([_read(p) for p in args.results])
    # Atomic: an interrupted run never leaves a truncated result for stance compare to read.
    with atomic_file(args.out) as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {result['n']} predictions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
