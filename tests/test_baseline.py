"""The TF-IDF + logistic-regression baseline: training, safe saving and loading, explain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import stance
from stance.cli import app
from stance.config import BaselineSettings, load_config
from stance.errors import ConfigError, ModelError
from stance.models.artifacts import file_sha256, read_metadata, write_metadata
from stance.models.baseline import (
    MODEL_FILE,
    BaselinePredictor,
    build_pipeline,
    explain,
    fit_pipeline,
)
from stance.models.training import prepare_data, train

runner = CliRunner()
TEXTS = [
    "Federations have given our practices a real voice.",
    "This reorganisation is a waste of money and will fail.",
    "We would back the vanguard only if the funding is guaranteed.",
]


class Smuggled:
    """A class from a module that is not on the baseline's trusted list."""

    def __init__(self, payload: str = "rm -rf /"):
        self.payload = payload


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def _replace_model_file(model_dir: Path, obj) -> None:
    """Write ``obj`` as model.skops and update the recorded checksum, so only the type check can object."""
    import skops.io as sio

    sio.dump(obj, model_dir / MODEL_FILE)
    meta = json.loads((model_dir / "metadata.json").read_text())
    meta["checksums"][MODEL_FILE] = file_sha256(model_dir / MODEL_FILE)
    (model_dir / "metadata.json").write_text(json.dumps(meta))


def test_reloaded_model_matches_in_memory_model(baseline_model, baseline_config):
    config = load_config(baseline_config)
    pipeline, cv = fit_pipeline(config, prepare_data(config).train)
    meta = read_metadata(baseline_model)
    loaded = BaselinePredictor.from_dir(baseline_model, meta)

    expected = pipeline.predict_proba(TEXTS)
    probs = loaded.predict_proba(TEXTS)
    assert probs.shape == (len(TEXTS), len(meta["labels"]))
    # Columns follow metadata["labels"], not the classifier's alphabetical classes_.
    for j, cls in enumerate(pipeline.classes_):
        assert np.array_equal(probs[:, meta["labels"].index(cls)], expected[:, j])
    assert np.allclose(probs.sum(axis=1), 1.0)
    # Batching does not change the numbers.
    assert np.array_equal(loaded.predict_proba(TEXTS, batch_size=1), probs)
    assert meta["C"] == cv["best_C"]


def test_metadata_and_model_card(baseline_model):
    meta = read_metadata(baseline_model)
    assert meta["kind"] == "baseline"
    assert meta["labels"] == list(stance.LABELS)
    assert meta["seed"] == 7
    assert meta["config"]["baseline"]["C_grid"] == [0.5, 5.0]
    assert set(meta["checksums"]) == {MODEL_FILE, "calibration.json"}  # weights + calibrator
    assert meta["data_hashes"] and all(len(h) == 64 for h in meta["data_hashes"].values())
    assert meta["versions"]["scikit-learn"] and meta["versions"]["skops"]
    assert meta["train_seconds"] >= 0
    cv = meta["cv"]
    assert cv["best_C"] == meta["C"] in (0.5, 5.0)
    assert [r["C"] for r in cv["results"]] == [0.5, 5.0]
    assert cv["splitter"] == "StratifiedGroupKFold" and cv["group_column"] == "source"
    for split in ("train", "validation"):
        m = meta["metrics"][split]
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
        assert set(m["per_label_f1"]) == set(stance.LABELS)
    card = (baseline_model / "README.md").read_text(encoding="utf-8")
    for needle in (
        "# Stance baseline",
        "## Metrics",
        "## Intended use",
        "## Limitations",
        "macro-F1",
        "conditional",
    ):
        assert needle in card


def test_public_load_and_predict(baseline_model):
    clf = stance.load(baseline_model, device="cpu")  # transformer-only options are ignored
    assert isinstance(clf, BaselinePredictor)
    assert stance.load(baseline_model, device="cpu") is clf  # cached
    preds = stance.predict(TEXTS, model=baseline_model)
    assert [type(p).__name__ for p in preds] == ["Prediction"] * 3
    for p in preds:
        assert p.label in stance.LABELS
        assert list(p.scores) == list(stance.LABELS)
        assert abs(sum(p.scores.values()) - 1) < 1e-9
    one = stance.predict(TEXTS[0], model=baseline_model)
    assert one.scores == preds[0].scores


def test_label_never_seen_in_training_gets_zero_column():
    # A model trained on a cross-validation fold may lack a label entirely.
    pipe = build_pipeline(BaselineSettings(), C=1.0).fit(TEXTS[:2], ["support", "oppose"])
    probs = BaselinePredictor(pipe, stance.LABELS).predict_proba(TEXTS)
    assert np.all(probs[:, 2] == 0) and np.allclose(probs.sum(axis=1), 1.0)


def test_failed_save_keeps_previous_model(baseline_config, tmp_path, monkeypatch):
    out = tmp_path / "model"
    train(baseline_config, output_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while writing the model card")

    monkeypatch.setattr("stance.models.baseline.write_model_card", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        train(baseline_config, output_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no .model.tmp-* left behind


@pytest.mark.parametrize(
    ("make", "named"),
    [
        # A pipeline step that calls eval() on its input.
        (lambda: _evil_pipeline(), "builtins.eval"),
        # An object of a class from a module not on the trusted list.
        (lambda: {"model": Smuggled()}, "tests.test_baseline.Smuggled"),
        # A type skops trusts by default but a baseline never contains.
        (
            lambda: _function_transformer(),
            "sklearn.preprocessing._function_transformer.FunctionTransformer",
        ),
    ],
    ids=["eval", "foreign-class", "sklearn-type-not-in-list"],
)
def test_untrusted_types_are_refused(baseline_model, tmp_path, make, named):
    model_dir = _copy(baseline_model, tmp_path)
    _replace_model_file(model_dir, make())
    with pytest.raises(ModelError) as info:
        stance.load(model_dir)
    message = str(info.value)
    assert str(model_dir / MODEL_FILE) in message
    assert "untrusted" in message and named in message


def _evil_pipeline():
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline(
        [
            ("evil", FunctionTransformer(func=eval)),
            ("clf", build_pipeline(BaselineSettings()).named_steps["clf"]),
        ]
    )


def _function_transformer():
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer()


def test_changed_byte_fails_checksum(baseline_model, tmp_path):
    model_dir = _copy(baseline_model, tmp_path)
    path = model_dir / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        stance.load(model_dir)


def test_not_a_skops_file_is_refused(baseline_model, tmp_path):
    model_dir = _copy(baseline_model, tmp_path)
    _replace_bytes = b"not a zip file"
    (model_dir / MODEL_FILE).write_bytes(_replace_bytes)
    meta = json.loads((model_dir / "metadata.json").read_text())
    meta["checksums"][MODEL_FILE] = file_sha256(model_dir / MODEL_FILE)
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="not a readable skops file"):
        stance.load(model_dir)


def test_explain_lists_ngrams_per_label(baseline_model):
    result = explain(baseline_model, top=5)
    assert list(result) == list(stance.LABELS)
    for rows in result.values():
        assert 0 < len(rows) <= 5
        weights = [w for _, w in rows]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        assert all(ngram.split(":", 1)[0] in ("word", "char") for ngram, _ in rows)
    all_kinds = {
        ngram.split(":", 1)[0]
        for rows in explain(baseline_model, top=200).values()
        for ngram, _ in rows
    }
    assert all_kinds == {"word", "char"}


def test_explain_cli(baseline_model):
    result = runner.invoke(app, ["explain", "--model", str(baseline_model), "--top", "3"])
    assert result.exit_code == 0, result.output
    for label in stance.LABELS:
        assert f"{label}: n-grams pushing toward '{label}'" in result.output
    assert "weight" in result.output
    as_json = runner.invoke(
        app, ["explain", "--model", str(baseline_model), "--top", "3", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    parsed = json.loads(as_json.output)
    assert set(parsed) == set(stance.LABELS)
    assert {"ngram", "type", "term", "weight"} <= set(parsed["support"][0])


def test_explain_refuses_transformer_dir(tmp_path):
    model_dir = tmp_path / "transformer"
    model_dir.mkdir()
    write_metadata(model_dir, kind="transformer", labels=stance.LABELS, weight_files=[])
    with pytest.raises(ModelError, match="explain works only for the baseline"):
        explain(model_dir)
    result = runner.invoke(app, ["explain", "--model", str(model_dir)])
    assert result.exit_code == 1
    assert "explain works only for the baseline" in result.output
    assert "Traceback" not in result.output


def test_cli_train(baseline_config, tmp_path):
    out = tmp_path / "cli_model"
    result = runner.invoke(
        app, ["train", "--config", str(baseline_config), "--output-dir", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "saved baseline model" in result.output
    assert read_metadata(out)["kind"] == "baseline"
    assert stance.predict(TEXTS[0], model=out).label in stance.LABELS


def test_overrides_apply_to_a_config_object_too(baseline_config, tmp_path):
    """train(TrainConfig, overrides=...) once dropped the overrides without a word."""
    config = load_config(baseline_config)
    result = train(config, tmp_path / "m", overrides={"seed": 3, "baseline.C_grid": [2.0]})
    meta = read_metadata(result.model_dir)
    assert meta["config"]["seed"] == 3 and meta["config"]["baseline"]["C_grid"] == [2.0]
    assert config.seed == 7 and config.baseline.C_grid == [0.5, 5.0]  # the caller's is unchanged
    with pytest.raises(ConfigError, match=r"baseline\.yaml: unknown key 'baseline\.C_grd'"):
        train(config, tmp_path / "m2", overrides={"baseline.C_grd": [2.0]})


def test_too_few_groups_falls_back_with_note(baseline_config, tmp_path, caplog):
    # The tiny training split has two articles; three folds cannot be grouped.
    config = load_config(
        baseline_config, {"baseline.cv_folds": 3, "output_dir": str(tmp_path / "m")}
    )
    with caplog.at_level("WARNING", logger="stance.models.baseline"):
        result = train(config)
    cv = result.metadata["cv"]
    assert cv["splitter"] == "StratifiedKFold"
    assert "fewer than cv_folds=3" in cv["note"]
    assert "fewer than cv_folds=3" in caplog.text


def _in_memory(records: list[dict]):
    """A training split held in memory, as cross-validation folds are."""
    from stance.data.io import LabelledData

    return LabelledData(
        texts=[r["text"] for r in records],
        labels=[r["label"] for r in records],
        records=records,
        lines=list(range(1, len(records) + 1)),
        path=None,
    )


def test_authored_statements_are_their_own_groups(baseline_config, tiny_records):
    # One article plus authored statements: as one 'authored' group there would be only two
    # groups (too few for 3 folds); as singletons the search stays grouped, and the article's
    # quotes never sit on both sides of a fold.
    from stance.models.baseline import _splitter

    article = [r for r in tiny_records if r["source"] == "a.txt"]
    authored = [dict(r, source="authored") for r in tiny_records if r["source"] != "a.txt"]
    records = article + authored
    train_data = _in_memory(records)
    config = load_config(baseline_config, {"baseline.cv_folds": 3})
    splitter, groups, info = _splitter(config, train_data)
    assert info["splitter"] == "StratifiedGroupKFold"
    assert info["authored_singletons"] == len(authored)
    assert info["n_groups"] == len(authored) + 1
    in_article = np.array([r["source"] == "a.txt" for r in records])
    for fit_idx, held_idx in splitter.split(train_data.texts, train_data.labels, groups):
        assert not (in_article[fit_idx].any() and in_article[held_idx].any())


def _children() -> set[int]:
    """Live child processes of this process but its resource trackers (Linux /proc; empty
    where /proc is missing)."""
    import os

    found = set()
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc/self/stat").exists() else []:
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) != os.getpid() or fields[0] == "Z":
            continue
        # A resource tracker lives once per parent process and ends with it by design.
        if b"resource_tracker" not in (entry.parent / "cmdline").read_bytes():
            found.add(int(entry.parent.name))
    return found


def test_select_C_folds_in_parallel_match_sklearn(baseline_config, tiny_records):
    # The folds run in worker processes; the scores must not depend on how many, and each must
    # equal what scikit-learn's own cross-validation of the whole pipeline gives on that fold.
    from sklearn.model_selection import cross_val_score

    from stance.models.baseline import _settings, _splitter, select_C

    records = [dict(r, source="authored") if r["source"] != "a.txt" else r for r in tiny_records]
    data = _in_memory(records)
    config = load_config(baseline_config, {"baseline.cv_folds": 3})
    serial = select_C(config, data, n_jobs=1)
    before = _children()
    parallel = select_C(config, data, n_jobs=2)
    assert serial == parallel
    # No worker outlives the search (idle workers would hold a CLI's output pipes open).
    assert _children() <= before
    assert serial["splitter"] == "StratifiedGroupKFold"
    splitter, groups, _ = _splitter(config, data)
    for row in serial["results"]:
        pipeline = build_pipeline(_settings(config), C=row["C"], seed=config.seed)
        expected = cross_val_score(
            pipeline, data.texts, data.labels, groups=groups, cv=splitter, scoring="f1_macro"
        )
        assert row["fold_macro_f1"] == pytest.approx(expected.tolist(), abs=1e-12)
        assert len(row["fold_macro_f1"]) == 3
