"""Adaptation: stage one on authored statements, stage two on real quotes (tiny model, real paths)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stance.config import load_config
from stance.data.io import LabelledData, load_labelled
from stance.errors import ConfigError
from stance.models.adaptation import StageOneCache, is_real_quote, plan_adaptation
from tests.conftest import write_jsonl

ADAPTATION = "  adaptation_epochs: 2\n  adaptation_learning_rate: 0.001\n  adaptation_replay: 1\n"


def _settings(epochs=2, replay=3):
    from stance.config import TransformerSettings

    return TransformerSettings(adaptation_epochs=epochs, adaptation_replay=replay)


def _data(sources):
    return LabelledData(texts=[f"t{i}" for i in range(len(sources))], labels=["support"] * len(sources),
                        records=[{"source": s} for s in sources])  # fmt: skip


def test_real_quotes_are_rows_from_an_article():
    assert is_real_quote({"source": "002_x.txt"})
    assert not is_real_quote({"source": "authored"})
    assert not is_real_quote({"source": ""}) and not is_real_quote({})
    assert is_real_quote({"article": "a.txt"}, column="article")


def test_plan_splits_rows_and_replays_a_seeded_sample():
    data = _data(["authored"] * 10 + ["a.txt", "b.txt"])
    plan = plan_adaptation(_settings(replay=3), data, seed=1)
    assert plan.stage_one == list(range(10)) and plan.real == [10, 11] and plan.skipped is None
    assert len(plan.replay) == 6 and set(plan.replay) <= set(range(10))
    assert plan_adaptation(_settings(replay=3), data, seed=1).replay == plan.replay
    # Never more replayed rows than there are authored statements.
    assert len(plan_adaptation(_settings(replay=50), data, seed=1).replay) == 10
    assert plan_adaptation(_settings(epochs=0), data, seed=1) is None


@pytest.mark.parametrize(
    "sources, reason",
    [(["authored"] * 3, "no real quotes"), (["a.txt"] * 3, "every training row is a real quote")],
)
def test_plan_falls_back_to_one_stage_and_says_why(sources, reason):
    plan = plan_adaptation(_settings(), _data(sources), seed=0)
    assert reason in plan.skipped and plan.stage_one == [0, 1, 2]
    assert plan.record(_settings()) == {"skipped": plan.skipped}


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("adaptation_epochs", -1, "an integer >= 0"),
        ("adaptation_learning_rate", 0, "a number > 0"),
        ("adaptation_batch_size", 0, "an integer >= 1"),
        ("adaptation_replay", -2, "an integer >= 0"),
    ],
)
def test_bad_adaptation_settings_are_one_line_errors(transformer_config, key, value, expected):
    with pytest.raises(
        ConfigError, match=f"transformer.{key}': expected {expected}, found {value}"
    ):
        load_config(transformer_config, {f"transformer.{key}": value})


@pytest.fixture(scope="module")
def adapted_corpus(tmp_path_factory, tiny_records):
    """The tiny corpus with article a.txt turned into authored statements: two real articles
    (b.txt, c.txt) and six authored rows, as the real corpus mixes them."""
    root = tmp_path_factory.mktemp("adapted")
    records = [dict(r, source="authored") if r["source"] == "a.txt" else r for r in tiny_records]
    return write_jsonl(root / "corpus.jsonl", records), records


def _adapted_config(transformer_config, tmp_path, corpus, train=None):
    text = Path(transformer_config).read_text(encoding="utf-8") + ADAPTATION
    lines = []
    for line in text.splitlines():
        if line.startswith("output_dir:"):
            line = f"output_dir: {tmp_path / 'model'}"
        elif line.strip().startswith("corpus:"):
            line = f"  corpus: {corpus}"
        elif train is not None and line.strip().startswith("train:"):
            line = f"  train: {train}"
        lines.append(line)
    path = tmp_path / "adapted.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_training_runs_two_stages_and_records_them(transformer_config, adapted_corpus, tmp_path):
    from stance.inference.predictor import load_uncached
    from stance.models.training import train

    corpus, records = adapted_corpus
    train_file = write_jsonl(
        tmp_path / "train.jsonl", [r for r in records if r["source"] != "c.txt"]
    )
    result = train(_adapted_config(transformer_config, tmp_path, corpus, train_file))
    meta = json.loads((Path(result.model_dir) / "metadata.json").read_text(encoding="utf-8"))
    record = meta["adaptation"]
    assert record["stage_one_rows"] == 6 and record["real_quotes"] == 6
    assert record["replayed_rows"] == 6 and record["epochs"] == 2 and not record["stage_one_reused"]
    assert len(record["stage_two_history"]) == 2
    # each stage's batch per optimiser step: one process, one device, no accumulation here
    assert meta["effective_batch_size"] == meta["config"]["transformer"]["batch_size"]
    assert record["stage_two_effective_batch_size"] == record["batch_size"]
    # Stage one chose its epoch on validation; the kept model was scored after stage two.
    assert meta["best_epoch"] is not None and meta["metrics"]["validation"]["n"] > 0
    assert meta["train_seconds"] == pytest.approx(
        record["stage_one_seconds"] + record["stage_two_seconds"], abs=0.01)  # fmt: skip
    predictor = load_uncached(result.model_dir)
    assert np.asarray(predictor.predict_proba(["The network works."])).shape == (1, 3)
    card = (Path(result.model_dir) / "README.md").read_text(encoding="utf-8")
    assert "Adaptation" in card
    assert f"in batches of {record['batch_size']} statements. The last epoch" in card


def test_a_reused_stage_one_gives_the_same_model(transformer_config, adapted_corpus, tmp_path):
    """The cache only saves time: a fold adapted from a cached stage one predicts exactly what
    the same fold trained from scratch predicts."""
    from stance.evaluation.evaluate import _train_fold
    from stance.inference.predictor import load_uncached
    from stance.models.training import prepare_data

    corpus, records = adapted_corpus
    train_file = write_jsonl(
        tmp_path / "train.jsonl", [r for r in records if r["source"] != "c.txt"]
    )
    config = load_config(_adapted_config(transformer_config, tmp_path, corpus, train_file))
    data = prepare_data(config)
    texts = ["Federations pool staff.", "The vanguard failed us."]
    cache = StageOneCache()
    probs = []
    for name, use in (("fresh", None), ("filled", cache), ("reused", cache)):
        config.output_dir = str(tmp_path / name)
        result = _train_fold(config, data, quiet=True, stage_one_cache=use)
        probs.append(np.asarray(load_uncached(result.model_dir).predict_proba(texts)))
        meta = json.loads((Path(result.model_dir) / "metadata.json").read_text(encoding="utf-8"))
        assert meta["adaptation"]["stage_one_reused"] is (name == "reused")
    assert len(cache) == 1
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    np.testing.assert_allclose(probs[1], probs[2], atol=1e-6)


def test_cv_trains_stage_one_once(transformer_config, adapted_corpus, tmp_path, monkeypatch):
    import stance.models.transformer as transformer
    from stance.evaluation.evaluate import cross_validate

    corpus, _ = adapted_corpus
    config = _adapted_config(transformer_config, tmp_path, corpus)
    calls = []
    real_train = transformer._train
    monkeypatch.setattr(
        transformer, "_train", lambda *a, **k: calls.append(a[6]) or real_train(*a, **k)
    )
    result = cross_validate(config, n_resamples=20)
    assert result["n_folds"] == 2 and len(result["predictions"]) == 12
    # One stage one (the six authored rows minus validation), then one stage two per fold.
    assert len(calls) == 3
    stage_one_rows = len(calls[0])
    assert all(len(rows) != stage_one_rows for rows in calls[1:])


def test_corpus_without_real_quotes_trains_in_one_stage(
    transformer_config, adapted_corpus, tmp_path
):
    from stance.models.training import train

    corpus, records = adapted_corpus
    train_file = write_jsonl(
        tmp_path / "train.jsonl", [r for r in records if r["source"] == "authored"]
    )
    with pytest.warns(
        UserWarning, match="adaptation skipped, training in one stage: no real quotes"
    ):
        result = train(_adapted_config(transformer_config, tmp_path, corpus, train_file))
    meta = json.loads((Path(result.model_dir) / "metadata.json").read_text(encoding="utf-8"))
    assert "no real quotes" in meta["adaptation"]["skipped"]


def test_real_quote_rows_come_from_the_group_column(tiny_splits):
    data = load_labelled(tiny_splits["train"])
    plan = plan_adaptation(_settings(), data, seed=0, column="reform")
    assert plan.skipped and "every training row" in plan.skipped


def test_ensemble_members_are_adapted_each(transformer_config, adapted_corpus, tmp_path):
    from stance.models.training import train

    corpus, records = adapted_corpus
    train_file = write_jsonl(
        tmp_path / "train.jsonl", [r for r in records if r["source"] != "c.txt"]
    )
    config = _adapted_config(transformer_config, tmp_path, corpus, train_file)
    config.write_text(
        config.read_text(encoding="utf-8") + "  ensemble_seeds: [1, 2]\n", encoding="utf-8"
    )
    result = train(config)
    members = sorted((Path(result.model_dir) / "members").iterdir())
    assert [m.name for m in members] == ["seed-1", "seed-2"]
    for member in members:
        meta = json.loads((member / "metadata.json").read_text(encoding="utf-8"))
        assert meta["adaptation"]["real_quotes"] == 6 and meta["seed"] == int(member.name[5:])


def test_real_quotes_are_told_by_source_whatever_the_group_column(
    transformer_config, adapted_corpus, tmp_path
):
    """As stance cv's folds do: a config grouping by another column (here ``reform``, which
    every row has) still adapts on the rows cut from articles, not on every row."""
    from stance.models.training import train

    corpus, records = adapted_corpus
    train_file = write_jsonl(
        tmp_path / "train.jsonl", [r for r in records if r["source"] != "c.txt"]
    )
    config = _adapted_config(transformer_config, tmp_path, corpus, train_file)
    text = config.read_text(encoding="utf-8").replace(
        "data:\n", "data:\n  group_column: reform\n", 1
    )
    assert "group_column: reform" in text
    config.write_text(text, encoding="utf-8")
    meta = train(config).metadata
    assert meta["config"]["data"]["group_column"] == "reform"
    assert meta["adaptation"]["real_quotes"] == 6 and meta["adaptation"]["stage_one_rows"] == 6
