"""A SetFit-style screen: a contrastive stage on the sentence encoder, then a logistic head.

SetFit (Tunstall et al., 2022) first tunes a sentence encoder so that statements with the same
label embed close together and others apart, then fits logistic regression on the embeddings.
This screen does the same with sentence-transformers, on the default's backbone and training
split:

1. all-mpnet-base-v2 (bundled) is tuned for one epoch with ``BatchAllTripletLoss`` (every valid
   triplet in each batch; batches are grouped by label so each holds positives and negatives),
   batch 16, learning rate 2e-5, 10% warm-up, bfloat16 mixed precision, seed 42;
2. every split is embedded (normalised mean pooling, as the backbone was trained);
3. logistic regression (balanced class weights) is fitted on the training embeddings, with C
   chosen on the validation split's macro-F1 from a fixed grid (never on the dev set);
4. the head's probabilities on the evaluation sets are written where
   ``scripts/model_selection.py table`` reads candidates (docs/model_selection/preds/NAME.json).

The probabilities are the head's own (not temperature-calibrated like stance's models), so the
table's ECE for this row is not comparable; macro-F1 is. Usage (from the repository root)::

    python scripts/setfit_screen.py [--name mpnet-setfit] [--epochs 1] [--save models/setfit-mpnet]

A smoke check of the whole path in a minute (MiniLM, 64 training statements, a throwaway name)::

    python scripts/setfit_screen.py --name smoke --backbone all-MiniLM-L6-v2 --limit 64
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from model_selection import OUT, SETS, _read  # noqa: E402

from stance.constants import LABELS  # noqa: E402

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
SEED = 42


def _contrastive_stage(model, texts: list[str], labels: list[int], epochs: int) -> None:
    """Tune the encoder in place so that same-label statements embed together."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import BatchAllTripletLoss
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=16,
            learning_rate=2e-5, warmup_steps=0.1, bf16=True, seed=SEED, save_strategy="no",
            report_to=[], logging_steps=50, batch_sampler=BatchSamplers.GROUP_BY_LABEL,
            use_cpu=True,
        )  # fmt: skip
        data = Dataset.from_dict({"sentence": texts, "label": labels})
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=BatchAllTripletLoss(model)
        )
        trainer.train()


def _embed(model, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def _fit_head(x_train, y_train, x_val, y_val):
    """Logistic regression with C chosen on validation macro-F1; returns (head, C, scores)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    scores = {}
    for c in C_GRID:
        head = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        head.fit(x_train, y_train)
        scores[c] = f1_score(y_val, head.predict(x_val), average="macro")
    best = max(C_GRID, key=lambda c: (scores[c], -c))
    head = LogisticRegression(C=best, class_weight="balanced", max_iter=5000)
    return head.fit(x_train, y_train), best, scores


def run(
    name: str, epochs: int, save: Path | None, backbone: str = "all-mpnet-base-v2",
    limit: int | None = None,
) -> Path:  # fmt: skip
    import torch
    from sentence_transformers import SentenceTransformer

    from stance.models.bundled import bundled_path

    torch.manual_seed(SEED)
    train = _read("data/splits/train.jsonl")[:limit]
    val = _read("data/splits/validation.jsonl")[:limit]
    index = {label: i for i, label in enumerate(LABELS)}
    model = SentenceTransformer(str(bundled_path(backbone)), device="cpu")
    model.max_seq_length = 256  # the cap: no real quote is cut
    started = time.perf_counter()
    _contrastive_stage(
        model, [r["text"] for r in train], [index[r["label"]] for r in train], epochs
    )
    x_train = _embed(model, [r["text"] for r in train])
    x_val = _embed(model, [r["text"] for r in val])
    head, c, scores = _fit_head(
        x_train, [index[r["label"]] for r in train], x_val, [index[r["label"]] for r in val]
    )
    seconds = time.perf_counter() - started
    print(f"contrastive stage + head in {seconds:.0f}s; C = {c} (validation macro-F1 "
          + ", ".join(f"{k:g}: {v:.3f}" for k, v in scores.items()) + ")", file=sys.stderr)  # fmt: skip
    if save is not None:
        model.save(str(save))
    out = {"name": name, "model_dir": str(save) if save else None, "kind": "setfit",
           "backend": None, "precision": "fp32",
           "backbone": f"bundled:{backbone} (contrastive) + logistic regression",
           "train_seconds": round(seconds, 1), "validation_macro_f1": scores[c], "C": c,
           "sets": {}}  # fmt: skip
    for set_name, (path, _) in SETS.items():
        rows = _read(path)
        probs = head.predict_proba(_embed(model, [r["text"] for r in rows]))
        out["sets"][set_name] = {"ids": [r["id"] for r in rows], "probs": probs.tolist()}
    target = OUT / "preds" / f"{name}.json"
    target.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="mpnet-setfit")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--save", type=Path, help="keep the tuned encoder in this directory")
    parser.add_argument("--backbone", default="all-mpnet-base-v2", help="a bundled backbone")
    parser.add_argument("--limit", type=int, help="train and validate on the first N rows only")
    args = parser.parse_args()
    print(run(args.name, args.epochs, args.save, args.backbone, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
