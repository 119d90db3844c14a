"""Re-run the evaluation and report stage of a finished main job on its trained models.

Used once in this round: the main job's transformer had been calibrated on permuted
predictions (a bug fixed in cb5714e), so its calibration was refitted with
``stance calibrate --model models/transformer --data data/splits/validation.jsonl`` (the same
data and procedure as at training time; the weights are unchanged) and the evaluation stage was
rerun. Training records and timings are the original run's.

Usage: python scripts/reevaluate_experiment.py reports/<stamp>/experiment.json [--docs]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.constants import DOCS_REPORT_DIR  # noqa: E402
from stance.evaluation import experiment as exp  # noqa: E402


def main(path: str, docs: bool) -> None:
    old = json.loads(Path(path).read_text(encoding="utf-8"))
    test = old["comparison"]["data"] if "data" in old["comparison"] else "data/splits/test.jsonl"
    files = [test, *[e["data"] for e in old["extra"]]]
    started = time.perf_counter()
    comparison, *extra = exp._evaluate_all(old["training"], files, False, 1000, 0)
    new = {**old, "comparison": comparison, "extra": extra,
           "note": "evaluation rerun after the transformer's calibration was refitted (see scripts/reevaluate_experiment.py)"}  # fmt: skip
    new["timings"] = {**old["timings"], "evaluate_rerun": round(time.perf_counter() - started, 3)}
    out = Path(path).parent.with_name(Path(path).parent.name + "-reevaluated")
    exp._write_report(new, out, DOCS_REPORT_DIR if docs else None, started)
    print(f"report: {out}")


if __name__ == "__main__":
    main(sys.argv[1], "--docs" in sys.argv[2:])
