"""Re-run the evaluation and report stage of a finished main job on its trained models.

For a change of how models are scored, not of how they are trained, so the weights, training
records and timings stay the original run's. Used twice:

- the main job's transformer had been calibrated on permuted predictions (a bug fixed in
  cb5714e), so its calibration was refitted with ``stance calibrate --model models/transformer
  --data data/splits/validation.jsonl`` (the same data and procedure as at training time) and
  the evaluation stage was rerun;
- prediction became bfloat16 by default on hardware that multiplies it natively
  (``stance.models.precision``), so the default's evaluation was rerun at the new default.

Usage::

    python scripts/reevaluate_experiment.py reports/<stamp>/experiment.json [--docs] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.constants import DOCS_REPORT_DIR  # noqa: E402
from stance.evaluation import experiment as exp  # noqa: E402


def main(path: str, docs: bool, note: str) -> None:
    old = json.loads(Path(path).read_text(encoding="utf-8"))
    test = old["comparison"]["data"] if "data" in old["comparison"] else "data/splits/test.jsonl"
    files = [test, *[e["data"] for e in old["extra"]]]
    started = time.perf_counter()
    comparison, *extra = exp._evaluate_all(old["training"], files, False, 1000, 0)
    new = {**old, "comparison": comparison, "extra": extra, "note": f"evaluation rerun: {note}"}
    new["timings"] = {**old["timings"], "evaluate_rerun": round(time.perf_counter() - started, 3)}
    out = Path(path).parent.with_name(Path(path).parent.name + "-reevaluated")
    # The total stays the original run's (training and evaluation), plus the report stage.
    since = time.perf_counter() - old["timings"]["total"]
    exp._write_report(new, out, DOCS_REPORT_DIR if docs else None, since)
    print(f"report: {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment_json")
    parser.add_argument("--docs", action="store_true", help="also replace docs/report")
    parser.add_argument(
        "--note",
        default="the transformer's calibration was refitted (see scripts/reevaluate_experiment.py)",
        help="why the evaluation was rerun (recorded in experiment.json)",
    )
    args = parser.parse_args()
    main(args.experiment_json, args.docs, args.note)
