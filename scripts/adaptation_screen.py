"""The screen that chose the stage-two settings of configs/transformer-adapted.yaml.

Stage one (the bf16 recipe trained on the authored statements of the training split only)
is trained once; every stage-two setting then costs a few minutes: in seed cross-validation
each fold adapts a copy of stage one to the real quotes of the other four articles and scores
the held-out one. Settings are chosen on cross-validation (seed quotes of the training data);
the held-out test articles and the dev set only confirm the choice (``confirm``).

Usage (from the repository root)::

    python scripts/adaptation_screen.py stage-one            # trains models/stage1-bf16 (~17 min)
    python scripts/adaptation_screen.py cv EPOCHS LR REPLAY  # one stage-two setting (3-8 min)
    python scripts/adaptation_screen.py authored             # stage one alone on every set
    python scripts/adaptation_screen.py confirm EPOCHS LR REPLAY   # test and dev
    python scripts/adaptation_screen.py table                # docs/model_selection/adaptation_screen.json

This is the prototype the feature was built from: stage two here is a second
``train_transformer`` call started from the saved stage-one directory, with a replay sample
drawn by ``random.Random(0)``; the library (``transformer.adaptation_epochs``) continues the
model in memory and draws its replay sample from the config's seed, so its figures differ
from these by about what another seed gives.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.config import load_config  # noqa: E402
from stance.constants import AUTHORED_SOURCE, DEV_PATH, TEST_SOURCES  # noqa: E402
from stance.data.io import LabelledData, load_labelled  # noqa: E402
from stance.evaluation.metrics import macro_f1  # noqa: E402

WORK = ROOT / "models" / ".adaptation_screen"
STAGE_ONE = ROOT / "models" / "stage1-bf16"
RESULTS = WORK / "results"
TABLE = ROOT / "docs" / "model_selection" / "adaptation_screen.json"


def _stage_one_config() -> Path:
    """configs/transformer-bf16.yaml with the training split's authored statements only."""
    WORK.mkdir(parents=True, exist_ok=True)
    lines = (ROOT / "data/splits/train.jsonl").read_text(encoding="utf-8").splitlines()
    authored = [x for x in lines if json.loads(x)["source"] == AUTHORED_SOURCE]
    (WORK / "train_authored.jsonl").write_text("\n".join(authored) + "\n", encoding="utf-8")
    text = (ROOT / "configs/transformer-bf16.yaml").read_text(encoding="utf-8")
    text = text.replace("data/splits/train.jsonl", str(WORK / "train_authored.jsonl"))
    text = text.replace("output_dir: models/transformer-bf16", f"output_dir: {STAGE_ONE}")
    (WORK / "stage1.yaml").write_text(text, encoding="utf-8")
    return WORK / "stage1.yaml"


def _stage_two(config, corpus, authored, rows, replay, out):
    from stance.inference.predictor import load_uncached
    from stance.models.training import PreparedData
    from stance.models.transformer import train_transformer

    train = corpus.subset(rows)
    if replay:
        extra = authored.subset(random.Random(0).sample(range(len(authored)), replay * len(rows)))
        train = LabelledData(texts=train.texts + extra.texts, labels=train.labels + extra.labels,
                             records=train.records + extra.records)  # fmt: skip
    c = copy.deepcopy(config)
    c.output_dir = str(out)
    data = PreparedData(train=train, validation=None, test=None, hashes={})
    train_transformer(c, quiet=True, data=data)
    return load_uncached(out)


def _predict(predictor, texts):
    p = np.asarray(predictor.predict_proba(list(texts), batch_size=32))
    return [predictor.labels[i] for i in p.argmax(1)]


def _setup(epochs: int, lr: float):
    config = load_config(WORK / "stage1.yaml")
    config.transformer.model_name_or_path = str(STAGE_ONE)
    config.transformer.num_epochs = epochs
    config.transformer.learning_rate = lr
    config.transformer.batch_size = 8
    config.transformer.early_stopping_patience = 0
    labels = list(config.data.labels)
    corpus = load_labelled(ROOT / "data/corpus.jsonl", labels=labels)
    authored = load_labelled(WORK / "train_authored.jsonl", labels=labels)
    real = [i for i, r in enumerate(corpus.records) if r["source"] != AUTHORED_SOURCE]
    return config, labels, corpus, authored, real


def run_cv(epochs: int, lr: float, replay: int) -> dict:
    config, labels, corpus, authored, real = _setup(epochs, lr)
    gold, predicted, ids = [], [], []
    for article in sorted({corpus.records[i]["source"] for i in real}):
        held = [i for i in real if corpus.records[i]["source"] == article]
        rows = [i for i in real if corpus.records[i]["source"] != article]
        with tempfile.TemporaryDirectory() as tmp:
            predictor = _stage_two(config, corpus, authored, rows, replay, Path(tmp) / "m")
            predicted += _predict(predictor, [corpus.texts[i] for i in held])
        gold += [corpus.labels[i] for i in held]
        ids += [corpus.records[i]["id"] for i in held]
    return {"cv_macro_f1": macro_f1(gold, predicted, labels), "ids": ids, "gold": gold,
            "predicted": predicted}  # fmt: skip


def _score_sets(predictor, labels, extra=None) -> dict:
    out = {}
    sets = {"test": ROOT / "data/splits/test.jsonl", "dev": ROOT / DEV_PATH, **(extra or {})}
    for name, path in sets.items():
        data = path if isinstance(path, LabelledData) else load_labelled(path, labels=labels)
        y = _predict(predictor, data.texts)
        out[name] = macro_f1(data.labels, y, labels)
        out[name + "_predicted"] = y
    return out


def run_confirm(epochs: int, lr: float, replay: int) -> dict:
    config, labels, corpus, authored, real = _setup(epochs, lr)
    rows = [i for i in real if corpus.records[i]["source"] not in TEST_SOURCES]
    with tempfile.TemporaryDirectory() as tmp:
        predictor = _stage_two(config, corpus, authored, rows, replay, Path(tmp) / "m")
        return _score_sets(predictor, labels)


def run_authored() -> dict:
    from stance.inference.predictor import load_uncached

    labels = list(load_config(WORK / "stage1.yaml").data.labels)
    corpus = load_labelled(ROOT / "data/corpus.jsonl", labels=labels)
    real = [i for i, r in enumerate(corpus.records) if r["source"] != AUTHORED_SOURCE]
    out = _score_sets(load_uncached(STAGE_ONE), labels, {"seeds": corpus.subset(real)})
    out["ids"] = [corpus.records[i]["id"] for i in real]
    return out


def _versus(mine: dict, ref: dict, gold: dict) -> list[int]:
    """McNemar's counts: quotes only ``mine`` gets right, quotes only ``ref`` gets right."""
    return [sum(mine[i] == g != ref[i] for i, g in gold.items()),
            sum(ref[i] == g != mine[i] for i, g in gold.items())]  # fmt: skip


def write_table() -> None:
    """Collect every result into one JSON file, with McNemar counts against stage one alone
    and against the single-stage recipe's cross-validation (docs/cv/cv_transformer-bf16.json)."""
    authored = json.loads((RESULTS / "authored.json").read_text(encoding="utf-8"))
    one = dict(zip(authored["ids"], authored["seeds_predicted"]))
    cv = json.loads((ROOT / "docs/cv/cv_transformer-bf16.json").read_text(encoding="utf-8"))
    single = {p["id"]: p["predicted"] for p in cv["predictions"]}
    rows = []
    for path in sorted(RESULTS.glob("cv_*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        gold = dict(zip(r["ids"], r["gold"]))
        mine = dict(zip(r["ids"], r["predicted"]))
        rows.append({"setting": path.stem[3:], "cv_macro_f1": round(r["cv_macro_f1"], 4),
                     "vs_stage_one": _versus(mine, one, gold),
                     "vs_single_stage": _versus(mine, single, gold)})  # fmt: skip
    confirm = {p.stem[8:]: {k: round(v, 4) for k, v in json.loads(p.read_text()).items()
                            if not k.endswith("_predicted")}
               for p in RESULTS.glob("confirm_*.json")}  # fmt: skip
    table = {
        "stage_one_alone": {k: round(authored[k], 4) for k in ("seeds", "test", "dev")},
        "single_stage_cv_macro_f1": round(cv["macro_f1"], 4),
        "cv": rows,
        "confirm": confirm,
        "note": "vs_*: [quotes only this setting gets right, quotes only the reference gets right]",
    }
    TABLE.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(table, indent=2))


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if command == "stage-one":
        subprocess.run(["stance", "train", "--config", str(_stage_one_config())], check=True)
        return
    if command == "table":
        write_table()
        return
    name = "authored" if command == "authored" else f"{command}_{args[0]}_{args[1]}_{args[2]}"
    if command == "authored":
        result = run_authored()
    else:
        runner = run_cv if command == "cv" else run_confirm
        result = runner(int(args[0]), float(args[1]), int(args[2]))
    result["seconds"] = round(time.perf_counter() - started, 1)
    (RESULTS / f"{name}.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main(sys.argv[1:])
