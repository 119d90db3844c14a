"""One table and one PNG from several ``stance learning-curve --seed-cv`` runs (one per model).

Each curve's summary rows (macro-F1 per fraction and evaluation set, mean ± SD over seeds) are
put side by side, one panel per evaluation set (seed_cv, dev_positions, ...), one line per
model; the seed-CV interval of each single-seed point (cluster bootstrap over articles, kept by
the curve) is shown where there is one seed.

Usage:
    python scripts/combine_curves.py NAME=DIR/learning_curve.json [NAME=...] --out docs/learning_curve
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.evaluation.report import _figure  # noqa: E402  (the reports' figure settings)


def _cell(curve: dict, row: dict) -> str:
    """mean ± SD over seeds, or the point with its interval when there is one seed."""
    if len(curve["seeds"]) == 1 and row["file"] == "seed_cv":
        point = next(p for p in curve["points"] if p["fraction"] == row["fraction"])
        low, high = point["scores"]["seed_cv"]["macro_f1_ci"]
        return f"{row['macro_f1_mean']:.3f} [{low:.3f}, {high:.3f}]"
    if len(curve["seeds"]) == 1:
        return f"{row['macro_f1_mean']:.3f}"
    return f"{row['macro_f1_mean']:.3f} ± {row['macro_f1_sd']:.3f}"


def table(curves: dict[str, dict]) -> str:
    names = list(curves)
    files = list(next(iter(curves.values()))["eval_files"])
    lines = ["| set | fraction | authored statements | " + " | ".join(names) + " |",
             "|---|---:|---:|" + "---:|" * len(names)]  # fmt: skip
    for name in files:
        rows = {m: [r for r in c["summary"] if r["file"] == name] for m, c in curves.items()}
        for i, first in enumerate(rows[names[0]]):
            cells = [_cell(curves[m], rows[m][i]) for m in names]
            lines.append(
                f"| {name} | {first['fraction']:g} | {first['n_train']} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def plot(curves: dict[str, dict], path: Path) -> None:
    files = list(next(iter(curves.values()))["eval_files"])
    fig = _figure(5.0 * len(files), 4.0)
    for k, name in enumerate(files, start=1):
        ax = fig.add_subplot(1, len(files), k)
        for model, curve in curves.items():
            rows = [r for r in curve["summary"] if r["file"] == name]
            ax.errorbar([r["n_train"] for r in rows], [r["macro_f1_mean"] for r in rows],
                        yerr=[r["macro_f1_sd"] for r in rows], marker="o", capsize=3, label=model)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1)
        ax.set_xlabel("authored training statements (log scale)")
        ax.set_ylabel("macro-F1")
        ax.set_title(name)
        ax.legend(loc="lower right")
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", nargs="+", help="NAME=path/to/learning_curve.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    curves = {}
    for item in args.curves:
        name, _, path = item.partition("=")
        curves[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "combined.md").write_text(table(curves) + "\n", encoding="utf-8")
    plot(curves, args.out / "learning_curve.png")
    print(table(curves))


if __name__ == "__main__":
    main()
