"""Turn one seed-CV point of a learning curve into a ``stance cv --json``-shaped result.

``stance learning-curve --seed-cv`` keeps, for every point, the pooled out-of-fold predictions
of the seed quotes (article, gold, predicted, probabilities) in fold order, but not the quote
ids that ``stance compare`` pairs results by. At fraction 1 a point trains on exactly what
``stance cv`` trains on, so its predictions line up with any ``stance cv`` result of the same
corpus: this script takes the ids and texts from such a result (the template), checks that
articles and gold labels agree quote by quote, and writes the point's predictions in the cv
format. Then::

    stance compare docs/cv/cv_transformer.json docs/cv/cv_minilm.json docs/cv/cv_baseline.json

pairs the three on the same 81 quotes. Checked: the baseline's curve point at fraction 1
converts to a result that `stance compare` finds identical, quote by quote, to its own
`stance cv` (difference 0.000, no discordant quote), and MiniLM's reproduces the figures of
docs/model_selection/seed_cv_ensemble.md.

Usage:
    python scripts/curve_point_to_cv.py CURVE.json TEMPLATE_CV.json --out OUT.json \
        [--fraction 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def convert(curve: dict, template: dict, fraction: float, seed: int) -> dict:
    """The cv-shaped result of ``curve``'s point at (fraction, seed); SystemExit on mismatch."""
    points = [p for p in curve["points"] if p["fraction"] == fraction and p["seed"] == seed]
    if not points:
        raise SystemExit(f"{curve['config']}: no point at fraction {fraction}, seed {seed}")
    held = points[0]["seed_cv_predictions"]
    entries = template["predictions"]
    pairs = list(zip(held["article"], held["gold"]))
    if pairs != [(e["article"], e["gold"]) for e in entries]:
        raise SystemExit(
            "the curve's held-out quotes (article, gold) are not those of the template, in order; "
            "use a template cv result of the same corpus"
        )
    labels = list(template["labels"])
    predictions = []
    for entry, predicted, probs in zip(entries, held["predicted"], held["probabilities"]):
        predictions.append({
            "id": entry["id"], "article": entry["article"], "fold": entry["fold"],
            "text": entry["text"], "gold": entry["gold"], "predicted": predicted,
            "confidence": max(probs), "probabilities": dict(zip(labels, probs)),
            # The fold's no-skill reference: its training majority, the same training data.
            "majority": entry["majority"],
        })  # fmt: skip
    return {
        "config": curve["config"], "kind": curve["kind"], "corpus": template["corpus"],
        "labels": labels, "n": len(predictions), "n_folds": template["n_folds"],
        "source": f"learning-curve point (fraction {fraction}, seed {seed}); ids from the template",
        "folds": [], "predictions": predictions,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve")
    parser.add_argument("template")
    parser.add_argument("--out", required=True)
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    curve = json.loads(Path(args.curve).read_text(encoding="utf-8"))
    template = json.loads(Path(args.template).read_text(encoding="utf-8"))
    result = convert(curve, template, args.fraction, args.seed)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {result['n']} predictions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
