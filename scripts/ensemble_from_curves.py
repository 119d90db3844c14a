"""Score a probability-averaging ensemble of two models from their seed-CV learning curves.

``stance learning-curve --seed-cv`` keeps, for every point, the held-out seed quotes'
probabilities and each fold model's probabilities on the evaluation files. For one fraction
(default: all the authored data) this script scores, on the same quotes:

- **seed_cv**: the pooled out-of-fold predictions of model A, model B and their average (each
  fold's A and B models saw exactly the same training data); intervals and paired tests
  resample whole articles;
- each evaluation file (e.g. dev_positions): every model's five fold models averaged into one
  prediction per quote (a bag of the fold models), then A, B and A+B compared quote by quote.

Paired tests (bootstrap of the macro-F1 difference, McNemar) compare A with B and the
ensemble with each model alone. Scores come from stance.evaluation.metrics, which the test suite checks against
scikit-learn.

Usage:
    python scripts/ensemble_from_curves.py A/learning_curve.json B/learning_curve.json \
        [--fraction 1] [--seed 0] [--out docs/model_selection/ensemble.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.constants import LABELS  # noqa: E402
from stance.data.io import load_labelled  # noqa: E402
from stance.evaluation.metrics import (  # noqa: E402
    accuracy,
    bootstrap_ci,
    expected_calibration_error,
    macro_f1,
    mcnemar,
    paired_bootstrap,
)


def _point(curve: dict, fraction: float, seed: int) -> dict:
    for p in curve["points"]:
        if p["fraction"] == fraction and p["seed"] == seed:
            return p
    raise SystemExit(f"{curve['config']}: no point at fraction {fraction} seed {seed}")


def _sets(curve: dict, point: dict) -> dict[str, dict]:
    """{set: {"gold", "groups", "proba"}} for the seed CV and every evaluation file."""
    held = point["seed_cv_predictions"]
    out = {"seed_cv": {"gold": held["gold"], "groups": held["article"],
                       "proba": np.array(held["probabilities"])}}  # fmt: skip
    for name, path in curve["eval_files"].items():
        if name == "seed_cv":
            continue
        gold = load_labelled(ROOT / path if not Path(path).is_absolute() else path).labels
        bag = np.mean([np.array(f["probabilities"][name]) for f in point["folds"]], axis=0)
        out[name] = {"gold": gold, "groups": None, "proba": bag}
    return out


def _row(name: str, gold: list, proba: np.ndarray, groups: list | None) -> str:
    pred = [LABELS[i] for i in proba.argmax(axis=1)]
    ci = bootstrap_ci(gold, pred, LABELS, groups=groups)
    f1, acc = ci["macro_f1"], ci["accuracy"]
    ece = expected_calibration_error(proba.max(axis=1), [g == p for g, p in zip(gold, pred)])
    return (f"| {name} | {macro_f1(gold, pred, LABELS):.3f} [{f1[0]:.3f}, {f1[1]:.3f}] | "
            f"{accuracy(gold, pred):.3f} [{acc[0]:.3f}, {acc[1]:.3f}] | {ece:.3f} |")  # fmt: skip


def _test(
    gold: list, first: list, second: list, groups: list | None, other: str, this: str = "ensemble"
) -> str:
    boot = paired_bootstrap(gold, first, second, LABELS, groups=groups)
    mc = mcnemar(gold, first, second)
    return (f"{this} - {other}: {boot['difference']:+.3f} [{boot['ci'][0]:+.3f}, "
            f"{boot['ci'][1]:+.3f}], paired bootstrap p = {boot['p_value']:.3f} "
            f"(resampling {boot['unit']}s); McNemar p = {mc['p_value']:.3f}")  # fmt: skip


def report(path_a: Path, path_b: Path, fraction: float, seed: int) -> str:
    curve_a, curve_b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (path_a, path_b))
    sets_a = _sets(curve_a, _point(curve_a, fraction, seed))
    sets_b = _sets(curve_b, _point(curve_b, fraction, seed))
    names = (
        f"A: {curve_a['kind']} ({curve_a['config']})",
        f"B: {curve_b['kind']} ({curve_b['config']})",
    )
    lines = [f"# Ensemble of A and B (probabilities averaged), fraction {fraction:g}, seed {seed}", "",
             f"From {path_a} and {path_b}.", ""]  # fmt: skip
    for name in sets_a:
        a, b = sets_a[name], sets_b[name]
        if a["gold"] != b["gold"]:
            raise SystemExit(f"{name}: the two curves scored different quotes")
        gold, groups = a["gold"], a["groups"]
        probas = {names[0]: a["proba"], names[1]: b["proba"],
                  "A + B averaged": (a["proba"] + b["proba"]) / 2}  # fmt: skip
        preds = {label: [LABELS[i] for i in p.argmax(axis=1)] for label, p in probas.items()}
        unit = "articles" if groups else "quotes"
        lines += [f"## {name} ({len(gold)} quotes; intervals resample {unit})", "",
                  "| model | macro-F1 [95% CI] | accuracy [95% CI] | ECE |", "|---|---:|---:|---:|"]  # fmt: skip
        lines += [_row(label, gold, p, groups) for label, p in probas.items()]
        ens = preds["A + B averaged"]
        lines += ["", "- " + _test(gold, preds[names[0]], preds[names[1]], groups, "B", "A"),
                  "- " + _test(gold, ens, preds[names[0]], groups, "A"),
                  "- " + _test(gold, ens, preds[names[1]], groups, "B"), ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve_a", type=Path)
    parser.add_argument("curve_b", type=Path)
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = report(args.curve_a, args.curve_b, args.fraction, args.seed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
