"""Does the adjusted prevalence estimate cover the truth? A simulation with the corpus (issue 16).

Trains the baseline (configs/baseline.yaml) into a temporary directory with HALF of the
validation split as its held-out data (the calibrator and the error rates are fitted there);
the other half is a pool the model never saw. Subsets with known, skewed label shares are drawn
from a pool (exact counts per label, quotes drawn with replacement within each label), scored
with the model, and estimated with :func:`stance.evaluation.prevalence.estimate_group`. Over
many repetitions it reports, per scenario, how often the 95% intervals of raw counting and of
the adjusted estimate cover the true share, and the mean absolute error of both.

Pools: the unseen validation half (authored statements, the distribution the error rates were
measured on), and, to show what happens when that assumption fails, the real public positions
of data/dev_positions.jsonl and the real seed quotes of the test split (evaluation only: nothing
is fitted on them).

    python scripts/simulate_prevalence.py --json docs/prevalence_simulation.json   # Markdown table on stdout

(the committed run took 23 minutes on a 2-core CPU shared with other jobs; training the
baseline is most of it)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stance.constants import LABELS
from stance.evaluation.prevalence import estimate_group, model_confusion
from stance.inference.predictor import load
from stance.models.training import train

SCENARIOS = [(0.7, 0.2, 0.1), (0.2, 0.7, 0.1), (0.1, 0.2, 0.7), (1 / 3, 1 / 3, 1 / 3)]
SIZES = (100, 400)


def _read(path: str) -> list[dict]:
    return [
        json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line
    ]


def _halves(records: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Split the validation records in two, stratified by label (and kept whole by pair_id)."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for label in LABELS:
        keys = sorted({r.get("pair_id") or r["id"] for r in records if r["label"] == label})
        rng.shuffle(keys)
        first = set(keys[: len(keys) // 2])
        for r in records:
            if r["label"] == label:
                (a if (r.get("pair_id") or r["id"]) in first else b).append(r)
    return a, b


def _train(tmp: Path, held_out: list[dict]) -> Path:
    path = tmp / "validation_half.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in held_out), encoding="utf-8")
    result = train("configs/baseline.yaml", output_dir=tmp / "model",
                   overrides={"data.validation": str(path)})  # fmt: skip
    return Path(result.model_dir)


def _pool(model: Path, records: list[dict]) -> dict[str, np.ndarray]:
    """Predicted label index of each pool quote, grouped by gold label."""
    preds = load(model).predict([r["text"] for r in records])
    index = {label: i for i, label in enumerate(LABELS)}
    pred = np.array([index[p.label] for p in preds])
    gold = np.array([index[r["label"]] for r in records])
    return {label: pred[gold == i] for i, label in enumerate(LABELS)}


def simulate(pool: dict[str, np.ndarray], confusion, shares, n: int, reps: int, resamples: int,
             rng: np.random.Generator) -> dict[str, float]:  # fmt: skip
    """Coverage and mean absolute error of raw and adjusted shares over ``reps`` subsets."""
    truth = np.asarray(shares)
    counts_true = np.round(truth * n).astype(int)
    counts_true[0] += n - counts_true.sum()
    truth = counts_true / n
    cover = {"raw": [], "adjusted": []}
    error = {"raw": [], "adjusted": []}
    for _ in range(reps):
        predicted = np.concatenate([rng.choice(pool[label], size=c, replace=True)
                                    for label, c in zip(LABELS, counts_true)])  # fmt: skip
        counts = np.bincount(predicted, minlength=len(LABELS))
        est = estimate_group(counts, confusion, resamples, rng)
        for kind in ("raw", "adjusted"):
            low, high = est[f"{kind}_ci"].T
            cover[kind].append((low <= truth) & (truth <= high))
            error[kind].append(np.abs(est[kind] - truth))
    out = {}
    for kind in ("raw", "adjusted"):
        out[f"{kind}_coverage"] = float(np.mean(cover[kind]))
        out[f"{kind}_mae"] = float(np.mean(error[kind]))
    return out


def _markdown(rows: list[dict], meta: dict) -> str:
    head = ("| pool | true shares (support/oppose/conditional) | n | raw coverage | adjusted coverage "
            "| raw MAE | adjusted MAE |\n|---|---|---:|---:|---:|---:|---:|")  # fmt: skip
    lines = [head]
    for r in rows:
        shares = "/".join(f"{s * 100:.0f}" for s in r["shares"])
        lines.append(f"| {r['pool']} | {shares} | {r['n']} | {r['raw_coverage']:.3f} | "
                     f"{r['adjusted_coverage']:.3f} | {r['raw_mae']:.3f} | {r['adjusted_mae']:.3f} |")  # fmt: skip
    cm = "\n".join(f"| {label} | " + " | ".join(map(str, row)) + " |"
                   for label, row in zip(LABELS, meta["confusion"]))  # fmt: skip
    return (
        f"Generated by `python scripts/simulate_prevalence.py` ({meta['reps']} repetitions per row, "
        f"{meta['resamples']} bootstrap resamples each, seed {meta['seed']}; {meta['seconds']:.0f} s).\n\n"
        "Coverage: share of (repetition, label) pairs whose 95% interval contains the true share "
        "(target 0.95). MAE: mean absolute error of the point estimate, averaged over labels.\n\n"
        + "\n".join(lines)
        + f"\n\nHeld-out half the error rates come from ({meta['n_held_out']} authored statements; "
        "rows = true label, columns = predicted):\n\n| | " + " | ".join(LABELS) + " |\n|---|---:|---:|---:|\n" + cm
        + "\n\nPool sizes (quotes per true label): "
        + "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sizes.items()) for name, sizes in meta["pools"].items())
        + "\n"
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write the Markdown table here (else stdout).")
    parser.add_argument("--json", type=Path, help="Also write the raw numbers as JSON.")
    parser.add_argument("--reps", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    a, b = _halves(_read("data/splits/validation.jsonl"), args.seed)
    pools_src = {"unseen validation half (authored)": b}
    for name, path in (("dev_positions (real positions)", "data/dev_positions.jsonl"),
                       ("test split (real seed quotes)", "data/splits/test.jsonl")):  # fmt: skip
        if Path(path).exists():
            pools_src[name] = _read(path)
    rows = []
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="stance-sim-") as tmp:
        model = _train(Path(tmp), a)
        _, confusion, source = model_confusion(model)
        pools = {name: _pool(model, recs) for name, recs in pools_src.items()}
        for name, pool in pools.items():
            for shares in SCENARIOS:
                for n in SIZES:
                    res = simulate(pool, confusion, shares, n, args.reps, args.resamples, rng)
                    rows.append({"pool": name, "shares": list(shares), "n": n, **res})
                    print(f"{name} {shares} n={n}: {res}", file=sys.stderr, flush=True)
    meta = {"reps": args.reps, "resamples": args.resamples, "seed": args.seed,
            "seconds": time.perf_counter() - started, "confusion": confusion,
            "n_held_out": source["n_held_out"],
            "pools": {k: {lab: int(v[lab].size) for lab in LABELS} for k, v in pools.items()}}  # fmt: skip
    text = _markdown(rows, meta)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    if args.json:
        args.json.write_text(
            json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
