"""Model selection on real quotes: cache each candidate's probabilities, then one table.

Candidates are scored on the evaluation sets that stand for the real task, never trained on:

- ``test``: the held-out seed articles (data/splits/test.jsonl), intervals resampling whole
  articles;
- ``test_not_examples``: the same quotes minus those quoted as worked examples in
  data/GUIDELINES.md (data/eval/test_not_examples.jsonl);
- ``dev``: the development set of real positions (data/dev_positions.jsonl), intervals
  resampling whole speakers (one person's positions are not independent).

Usage (from the repository root)::

    python scripts/model_selection.py predict NAME MODEL_DIR [--train-seconds S] [--backend B] [--precision P] [--prefix-field reform|role]
    python scripts/model_selection.py table --reference NAME [--ensemble NAME=A+B ...]

(``bash scripts/model_selection_table.sh`` runs ``table`` with the reference and every ensemble
the docs discuss)

(the text around the table is docs/model_selection_intro.md and docs/model_selection_notes.md)

``predict`` writes docs/model_selection/preds/NAME.json (probabilities per set, plus the
model's metadata summary); ``table`` reads every cached file, adds probability-averaging
ensembles, and writes docs/model_selection.md with 95% intervals and paired tests (bootstrap
and McNemar) of every candidate against the reference. The dev set is used here only to
choose between model families, as data/README.md says.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.constants import DEV_PATH, LABELS  # noqa: E402
from stance.evaluation.metrics import (  # noqa: E402
    bootstrap_ci,
    expected_calibration_error,
    macro_f1,
    mcnemar,
    paired_bootstrap,
)

OUT = ROOT / "docs" / "model_selection"
SETS = {
    "test": ("data/splits/test.jsonl", "source"),
    "test_not_examples": ("data/eval/test_not_examples.jsonl", "source"),
    "dev": (DEV_PATH, "speaker"),
}
RESAMPLES = 2000
# The candidates whose seed cross-validation is committed (docs/cv/), for the scripts that set
# their split-by-split figures beside it (role_prior.py, prior_adaptation.py).
CV_FILES = {"mpnet-2ep-6k": "cv_transformer.json", "baseline-6k": "cv_baseline-6k.json",
            "minilm-6k": "cv_minilm-6k.json"}  # fmt: skip


def _read(path: str) -> list[dict]:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def predict(
    name: str, model_dir: str, train_seconds: float | None, backend: str | None,
    precision: str | None = None, prefix_field: str | None = None,
) -> Path:  # fmt: skip
    """Cache one candidate's probabilities on every evaluation set (``backend``, ``precision``:
    as ``stance.load``; ``prefix_field``: ``reform`` or ``role``, texts preceded by that
    field's description, for models trained by scripts/target_aware.py)."""
    from target_aware import descriptions, with_prefix

    import stance

    table = descriptions(prefix_field) if prefix_field else None

    def text_of(row: dict) -> str:
        if table is None:
            return row["text"]
        return with_prefix(row["text"], row.get(prefix_field), table)

    predictor = stance.load(model_dir, backend=backend, precision=precision)
    meta_path = Path(model_dir) / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    out = {"name": name, "model_dir": str(model_dir), "kind": meta.get("kind"), "backend": backend,
           "precision": getattr(predictor, "precision", None), "target_prefix": prefix_field == "reform", "prefix_field": prefix_field,
           "backbone": (meta.get("config", {}).get("transformer") or {}).get("model_name_or_path"),
           "train_seconds": train_seconds or meta.get("train_seconds"), "sets": {}}  # fmt: skip
    for set_name, (path, _) in SETS.items():
        rows = _read(path)
        preds = predictor.predict([text_of(r) for r in rows])
        out["sets"][set_name] = {
            "ids": [r["id"] for r in rows],
            # Calibrated scores, as users get them (their argmax is each prediction's label).
            "probs": [[p.scores[lb] for lb in LABELS] for p in preds],
        }
    OUT.joinpath("preds").mkdir(parents=True, exist_ok=True)
    target = OUT / "preds" / f"{name}.json"
    target.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return target


def _load_all() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((OUT / "preds").glob("*.json"))}


def _ensemble(cands: dict[str, dict], spec: str) -> dict:
    """The mean of the members' cached (calibrated) probabilities. A shipped ensemble averages
    raw probabilities and then calibrates, which can move a close call (docs intro)."""
    name, members = spec.split("=")
    parts = [cands[m] for m in members.split("+")]
    sets = {}
    for s in SETS:
        probs = np.mean([np.asarray(p["sets"][s]["probs"]) for p in parts], axis=0)
        sets[s] = {"ids": parts[0]["sets"][s]["ids"], "probs": probs.tolist()}
    seconds = [p.get("train_seconds") for p in parts]
    return {"name": name, "kind": "ensemble", "backbone": members,
            "train_seconds": sum(seconds) if all(seconds) else None, "sets": sets}  # fmt: skip


def _score(cand: dict, ref: dict, set_name: str) -> dict:
    path, group_col = SETS[set_name]
    rows = {r["id"]: r for r in _read(path)}
    ids = cand["sets"][set_name]["ids"]
    gold = [rows[i]["label"] for i in ids]
    groups = [rows[i].get(group_col) or rows[i]["id"] for i in ids]
    probs = np.asarray(cand["sets"][set_name]["probs"])
    pred = [LABELS[j] for j in probs.argmax(1)]
    ref_pred = [LABELS[j] for j in np.asarray(ref["sets"][set_name]["probs"]).argmax(1)]
    ci = bootstrap_ci(gold, pred, LABELS, n_resamples=RESAMPLES, groups=groups)
    paired = paired_bootstrap(gold, pred, ref_pred, LABELS, n_resamples=RESAMPLES, groups=groups)
    return {
        "n": len(ids),
        "macro_f1": macro_f1(gold, pred, LABELS),
        "ci": ci["macro_f1"],
        "diff": paired["difference"],
        "p_boot": paired["p_value"],
        "p_mcnemar": mcnemar(gold, pred, ref_pred)["p_value"],
        "ece": expected_calibration_error(probs.max(1), [a == b for a, b in zip(pred, gold)]),
    }


def _doc_part(name: str) -> str:
    path = OUT.parent / name
    return path.read_text(encoding="utf-8") if path.exists() else ""


def table(reference: str, ensembles: list[str], notes: str) -> str:
    cands = _load_all()
    for spec in ensembles:
        cands[spec.split("=")[0]] = _ensemble(cands, spec)
    ref = cands[reference]
    results = {n: {s: _score(c, ref, s) for s in SETS} for n, c in cands.items()}
    (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    head = ["| candidate | backbone / members | train time |"]
    head += [f" {s} macro-F1 [95% CI] | diff vs ref (p boot, p McNemar) | ECE |" for s in SETS]
    lines = ["".join(head), "|---|---|---:|" + "---:|---|---:|" * len(SETS)]
    order = sorted(results, key=lambda n: -results[n]["dev"]["macro_f1"])
    for n in order:
        c, r = cands[n], results[n]
        t = f"{c['train_seconds'] / 60:.0f} min" if c.get("train_seconds") else "n/a"
        cells = [
            f"| {n}{' (reference)' if n == reference else ''} | {c.get('backbone') or c.get('kind')}{' (' + c['backend'] + ')' if c.get('backend') else ''} | {t} |"
        ]
        for s in SETS:
            x = r[s]
            cells.append(
                f" {x['macro_f1']:.3f} [{x['ci'][0]:.3f}, {x['ci'][1]:.3f}] |"
                f" {x['diff']:+.3f} ({x['p_boot']:.3f}, {x['p_mcnemar']:.3f}) | {x['ece']:.3f} |"
            )
        lines.append("".join(cells))
    n_sets = ", ".join(f"{s}: n = {results[reference][s]['n']}" for s in SETS)
    text = _doc_part("model_selection_intro.md")
    # The notes below the table live beside the intro, so regenerating keeps them.
    notes = notes or _doc_part("model_selection_notes.md")
    return (
        "# Model selection\n\n*Table generated by `python scripts/model_selection.py table`; "
        "intervals are 95% bootstrap intervals resampling whole articles (test sets) or whole "
        f"speakers (dev set), {RESAMPLES} resamples; paired tests against the reference on the same quotes.*\n\n"
        f"{text}\n## Results ({n_sets})\n\n" + "\n".join(lines) + "\n\n" + notes + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict")
    p.add_argument("name")
    p.add_argument("model_dir")
    p.add_argument("--train-seconds", type=float)
    p.add_argument("--backend", help="torch (default), onnx or onnx-int8")
    p.add_argument("--precision", help="torch backend: auto (default), fp32 or bf16")
    prefix = p.add_mutually_exclusive_group()
    prefix.add_argument(
        "--prefix-field", choices=("reform", "role"),
        help="precede each text with that field's description (scripts/target_aware.py models)",
    )  # fmt: skip
    prefix.add_argument(
        "--target-prefix", action="store_true", help="the same as --prefix-field reform"
    )
    t = sub.add_parser("table")
    t.add_argument("--reference", required=True)
    t.add_argument("--ensemble", action="append", default=[])
    t.add_argument(
        "--notes", default="", help="text below the table (default: docs/model_selection_notes.md)"
    )
    args = parser.parse_args()
    if args.command == "predict":
        print(predict(args.name, args.model_dir, args.train_seconds, args.backend, args.precision,
                      args.prefix_field or ("reform" if args.target_prefix else None)))  # fmt: skip
    else:
        md = table(args.reference, args.ensemble, args.notes)
        (ROOT / "docs" / "model_selection.md").write_text(md, encoding="utf-8")
        print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
