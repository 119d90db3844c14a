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

``average``: the probability-averaging ensemble of several cv results of one corpus (same
``corpus_sha256``, same quote ids, articles, folds and gold labels; checked). Each fold's
members trained on the same data, so the mean of their held-out probabilities is the ensemble's
out-of-fold prediction, with no training. An ensemble averages its members' raw (uncalibrated)
probabilities and calibrates the mean with a temperature, which keeps the top label; so when
every result records ``raw_probabilities`` (``stance cv`` does since 2026-12-07), their mean
gives exactly the ensemble's labels and macro-F1, and the output's ``probabilities`` are that
uncalibrated mean (its ECE is not the calibrated ensemble's). Older results hold only calibrated
probabilities: their mean approximates the ensemble (each member's calibration can move a close
call), and the output says so in ``averaged`` ("raw" or "calibrated"). Checked: averaging
MiniLM's and the baseline's (calibrated) results reproduces
docs/model_selection/seed_cv_ensemble.md (macro-F1 0.567 [0.344, 0.791], ECE 0.151), which
scripts/ensemble_from_curves.py computed independently.

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
        "config": config, "kind": kind, "corpus": like["corpus"],
        "corpus_sha256": like.get("corpus_sha256"), "labels": list(like["labels"]),
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


def _check_same_quotes(results: list[dict[str, Any]], names: list[str]) -> list[dict]:
    """Each result's predictions keyed by quote id, after checking that the results are runs of
    one corpus over the same quotes; SystemExit naming the first result that differs."""
    first, keyed = results[0], []
    corpus = first.get("corpus_sha256")
    for result, name in zip(results, names):
        found = result.get("corpus_sha256")
        if found is None or found != corpus:
            raise SystemExit(
                f"{name}: expected a cv result of the corpus with sha256 {corpus}, found "
                f"{found}; average runs of one corpus (stance cv --json)"
            )
        ids = [e.get("id") for e in result["predictions"]]
        if None in ids or len(set(ids)) != len(ids):
            raise SystemExit(
                f"{name}: every prediction needs its own quote id; rerun stance cv --json"
            )
        if list(result["labels"]) != list(first["labels"]):
            raise SystemExit(f"{name}: labels {result['labels']} differ from {first['labels']}")
        keyed.append({e["id"]: e for e in result["predictions"]})
        if set(keyed[-1]) != set(keyed[0]):
            raise SystemExit(f"{name}: the quote ids differ from {names[0]}'s")
    for entry in first["predictions"]:
        for by_id, name in zip(keyed, names):
            other = by_id[entry["id"]]
            if any(other[k] != entry[k] for k in ("gold", "article", "fold")):
                raise SystemExit(
                    f"{name}: quote {entry['id']!r} has another gold label, article or fold "
                    f"than in {names[0]}"
                )
    return keyed


def average(results: list[dict[str, Any]], names: list[str] | None = None) -> dict[str, Any]:
    """The cv-shaped result whose probabilities are the members' mean; SystemExit on mismatch.

    The members' raw probabilities are averaged when every result has them (the ensemble's
    labels exactly), else their calibrated ones (an approximation; see the module docstring).
    """
    names = names or [f"result {i + 1}" for i in range(len(results))]
    keyed = _check_same_quotes(results, names)
    labels = list(results[0]["labels"])
    entries = results[0]["predictions"]
    use_raw = all("raw_probabilities" in e for r in results for e in r["predictions"])
    field = "raw_probabilities" if use_raw else "probabilities"
    predictions = []
    for entry in entries:
        members = [k[entry["id"]] for k in keyed]
        probs = {lb: sum(m[field][lb] for m in members) / len(members) for lb in labels}
        best = max(labels, key=probs.__getitem__)
        out = {**entry, "predicted": best, "confidence": probs[best], "probabilities": probs}
        if use_raw:
            out["raw_probabilities"] = probs
        predictions.append(out)
    config = " + ".join(str(r["config"]) for r in results)
    source = ("mean of the members' raw probabilities (the ensemble's labels; uncalibrated)"
              if use_raw else "mean of the members' calibrated probabilities (approximates "
              "the ensemble, which averages raw probabilities)")  # fmt: skip
    result = _cv_shaped(config, "ensemble", results[0], source, predictions)
    result["averaged"] = "raw" if use_raw else "calibrated"
    return result


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
        result = average([_read(p) for p in args.results], list(args.results))
    # Atomic: an interrupted run never leaves a truncated result for stance compare to read.
    with atomic_file(args.out) as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {result['n']} predictions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
