"""How much bfloat16 prediction changes a model's answers against exact fp32.

A transformer's calibrator and ``needs_review`` threshold are fitted on fp32 validation
probabilities, while ``stance.predict`` runs in bfloat16 where the hardware has it
(``precision="auto"``). This counts, over the given labelled files, the quotes whose label or
``needs_review`` flag differs between the two, and the confidence differences.

    python scripts/precision_agreement.py models/transformer \\
        data/splits/validation.jsonl data/dev_positions.jsonl data/splits/test.jsonl
"""

from __future__ import annotations

import json
import sys

import numpy as np

from stance.data.io import load_labelled
from stance.inference.predictor import load


def main(model_dir: str, files: list[str]) -> dict:
    texts = [text for path in files for text in load_labelled(path).texts]
    runs = {p: load(model_dir, precision=p, device="cpu").predict(texts) for p in ("fp32", "bf16")}
    fp32, bf16 = runs["fp32"], runs["bf16"]
    confidence = np.array([abs(a.confidence - b.confidence) for a, b in zip(fp32, bf16)])
    return {
        "model": model_dir, "files": files, "n": len(texts),
        "label_differs": sum(a.label != b.label for a, b in zip(fp32, bf16)),
        "needs_review_differs": sum(a.needs_review != b.needs_review for a, b in zip(fp32, bf16)),
        "needs_review_fp32": sum(a.needs_review for a in fp32),
        "needs_review_bf16": sum(b.needs_review for b in bf16),
        "max_confidence_difference": round(float(confidence.max()), 4),
        "mean_confidence_difference": round(float(confidence.mean()), 5),
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:]), indent=2))
