"""Ensembles: building from trained models, training from ensemble_seeds, loading, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import ConfigError, ModelError
from stance.inference.predictor import load, load_uncached
from stance.models.ensemble import build_ensemble, train_ensemble


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, transformer_model, baseline_model, tiny_splits) -> Path:
    out = tmp_path_factory.mktemp("ensemble") / "model"
    build_ensemble(
        [transformer_model, baseline_model], out, tiny_splits["validation"], names=["tr", "base"]
    )
    return out


def _raw(model_dir: Path, texts: list[str], labels: tuple[str, ...]) -> np.ndarray:
    predictor = load_uncached(model_dir)
    probs = predictor.predict_proba(texts)
    return probs[:, [predictor.labels.index(lb) for lb in labels]]


def test_scores_are_the_calibrated_mean_of_the_members(
    ensemble_dir, transformer_model, baseline_model, tiny_records
):
    texts = [r["text"] for r in tiny_records[:6]]
    ens = load_uncached(ensemble_dir)
    mean = (
        _raw(transformer_model, texts, ens.labels) + _raw(baseline_model, texts, ens.labels)
    ) / 2
    np.testing.assert_allclose(ens.predict_proba(texts), mean, atol=1e-6)
    # Temperature scaling, computed independently: softmax(log p / T).
    record = json.loads((ensemble_dir / "calibration.json").read_text())
    t = record["calibrator"]["temperature"]
    z = np.log(mean) / t
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    preds = ens.predict(texts)
    got = np.array([[p.scores[lb] for lb in ens.labels] for p in preds])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [p.label for p in preds] == [ens.labels[i] for i in mean.argmax(axis=1)]


def test_metadata_records_members_calibration_and_validation(ensemble_dir, tiny_splits):
    meta = json.loads((ensemble_dir / "metadata.json").read_text())
    assert meta["kind"] == "ensemble"
    assert [m["name"] for m in meta["members"]] == ["tr", "base"]
    assert [m["kind"] for m in meta["members"]] == ["transformer", "baseline"]
    assert set(meta["checksums"]) == {
        "calibration.json", "members/tr/metadata.json", "members/base/metadata.json"
    }  # fmt: skip
    assert meta["calibration"]["method"] == "temperature"
    # The recorded validation scores are the averaged model's, recomputed here with sklearn.
    from sklearn.metrics import f1_score

    records = [json.loads(line) for line in open(tiny_splits["validation"])]
    preds = load_uncached(ensemble_dir).predict([r["text"] for r in records])
    expected = f1_score([r["label"] for r in records], [p.label for p in preds],
                        labels=list(meta["labels"]), average="macro", zero_division=0)  # fmt: skip
    assert meta["metrics"]["validation"]["macro_f1"] == pytest.approx(expected)
    assert (ensemble_dir / "README.md").read_text().startswith("# Stance ensemble of 2 models")
    # Each member folder is a complete model on its own.
    assert load_uncached(ensemble_dir / "members" / "tr").kind == "transformer"


@pytest.mark.parametrize(
    "victim", ["calibration.json", "members/tr/metadata.json", "members/tr/model.safetensors"]
)
def test_a_changed_file_anywhere_is_refused(ensemble_dir, tmp_path, victim):
    copy = tmp_path / "ens"
    shutil.copytree(ensemble_dir, copy)
    path = copy / victim
    path.unlink()  # break the hard link before writing, so the original stays intact
    path.write_bytes(b"{}" if victim.endswith(".json") else b"\0" * 16)
    with pytest.raises(ModelError, match="checksum mismatch|missing"):
        load_uncached(copy)


def test_refusals(ensemble_dir, transformer_model, baseline_model, tiny_splits, tmp_path):
    with pytest.raises(ModelError, match="two or more member"):
        build_ensemble([transformer_model], tmp_path / "one", None)
    with pytest.raises(ModelError, match="cannot be a member"):
        build_ensemble([ensemble_dir, baseline_model], tmp_path / "nested", None)
    with pytest.raises(ModelError, match="would replace this member"):
        build_ensemble([transformer_model, baseline_model], transformer_model, None)
    with pytest.raises(ModelError, match="found the training split of member"):
        build_ensemble([transformer_model, baseline_model], tmp_path / "x", tiny_splits["train"])
    # A copy of the members' test split is refused too: its sha256 is what they recorded.
    test_copy = tmp_path / "copy_of_test.jsonl"
    shutil.copy(tiny_splits["test"], test_copy)
    with pytest.raises(ModelError, match="found the test split of member"):
        build_ensemble([transformer_model, baseline_model], tmp_path / "x", test_copy)
    with pytest.raises(ModelError, match="distinct member names"):
        build_ensemble([transformer_model, baseline_model], tmp_path / "y", None, names=["a", "a"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_without_calibration_every_prediction_needs_review(
    transformer_model, baseline_model, tmp_path
):
    out = tmp_path / "raw"
    build_ensemble([transformer_model, baseline_model], out, None)
    assert not (out / "calibration.json").exists()
    pred = load_uncached(out).predict("The federation works for us.")
    assert pred.needs_review and pred.scores == pred.raw_scores


def test_cli_builds_loads_and_predicts(transformer_model, baseline_model, tiny_splits, tmp_path):
    out = tmp_path / "cli"
    runner = CliRunner()
    args = ["ensemble", str(transformer_model), str(baseline_model), "-o", str(out), "-q",
            "--validation", str(tiny_splits["validation"])]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "saved an ensemble of 2 models" in result.output and "validation macro-F1" in result.output
    )
    result = runner.invoke(app, ["predict", "--model", str(out), "--device", "cpu", "We back it."])
    assert result.exit_code == 0, result.output
    assert load(out).predict("We back it.").label in load(out).labels
    # Bad input is one line, naming the problem.
    result = runner.invoke(app, ["ensemble", str(transformer_model), "-o", str(tmp_path / "z")])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1


def test_recalibrate_an_ensemble(ensemble_dir, tiny_splits, tmp_path):
    from stance.models.recalibrate import recalibrate

    copy = tmp_path / "ens"
    shutil.copytree(ensemble_dir, copy)
    summary = recalibrate(copy, tiny_splits["validation"])
    assert summary["method"] == "temperature"
    assert load_uncached(copy).metadata["recalibrated"]["data"] == str(tiny_splits["validation"])
    # Its members' test split is refused, and the ensemble is left as it was.
    before = (copy / "metadata.json").read_bytes()
    with pytest.raises(ModelError, match="found the test split of member"):
        recalibrate(copy, tiny_splits["test"])
    assert (copy / "metadata.json").read_bytes() == before


def _seeds_config(transformer_config: Path, tmp_path: Path, seeds: str) -> Path:
    text = transformer_config.read_text().replace(
        "transformer:\n", f"transformer:\n  ensemble_seeds: {seeds}\n  num_epochs: 1\n", 1
    )
    text = text.replace("  num_epochs: 2\n", "")
    text = "\n".join(
        f"output_dir: {tmp_path / 'acc'}" if line.startswith("output_dir:") else line
        for line in text.splitlines()
    )
    path = tmp_path / "acc.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_training_with_ensemble_seeds_resumes_finished_members(
    transformer_config, tmp_path, monkeypatch
):
    from stance.config import load_config
    from stance.models import transformer as transformer_module
    from stance.models.training import train

    config = load_config(_seeds_config(transformer_config, tmp_path, "[3, 4]"))
    # An interrupted run left seed 3 finished in the staging folder.
    from stance.models.ensemble import _member_config

    staging = tmp_path / ".acc.members"
    transformer_module.train_transformer(_member_config(config, 3, staging / "seed-3"))
    trained: list[int] = []
    real = transformer_module.train_transformer

    def counting(cfg, quiet=True, data=None):
        trained.append(cfg.seed)
        return real(cfg, quiet=quiet, data=data)

    monkeypatch.setattr(transformer_module, "train_transformer", counting)
    result = train(config)
    assert trained == [4]  # seed 3 was reused, not retrained
    assert result.kind == "ensemble" and not staging.exists()
    meta = result.metadata
    assert [m["seed"] for m in meta["members"]] == [3, 4]
    assert meta["config"]["transformer"]["ensemble_seeds"] == [3, 4]
    # The config's own seed trained no member by itself, so it is not the model's seed.
    assert meta["seed"] is None and meta["seeds"] == [3, 4]
    card = (result.model_dir / "README.md").read_text()
    assert "- Seeds: 3, 4 (one per member" in card and "- Seed: " not in card
    assert load_uncached(result.model_dir).predict("We back it.").label in meta["labels"]


@pytest.mark.parametrize("seeds", ["[3]", "[3, 3]", "[-1, 2]"])
def test_bad_ensemble_seeds_are_refused(transformer_config, tmp_path, seeds):
    from stance.config import load_config

    with pytest.raises(ConfigError, match="ensemble_seeds"):
        load_config(_seeds_config(transformer_config, tmp_path, seeds))


def test_train_ensemble_needs_seeds(transformer_config):
    from stance.config import load_config

    with pytest.raises(ConfigError, match="two or more seeds"):
        train_ensemble(load_config(transformer_config))


def test_cross_validation_trains_an_ensemble_per_fold(transformer_config, tmp_path):
    from stance.evaluation.evaluate import cross_validate

    result = cross_validate(_seeds_config(transformer_config, tmp_path, "[3, 4]"), folds=1,
                            n_resamples=50)  # fmt: skip
    assert result["n_folds"] == 1 and result["n"] == 6
    assert result["kind"] == "transformer" and result["folds"][0]["n_test"] == 6


def test_onnx_backend_runs_the_transformer_members(ensemble_dir, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    copy = tmp_path / "ens"
    shutil.copytree(ensemble_dir, copy)  # the ONNX export is cached inside the member folder
    texts = ["The federation works for us.", "Scrap it."]
    torch_probs = load_uncached(copy, device="cpu", precision="fp32").predict_proba(texts)
    onnx = load_uncached(copy, backend="onnx")
    assert type(onnx.members[0]).__name__ == "OnnxPredictor"
    np.testing.assert_allclose(onnx.predict_proba(texts), torch_probs, atol=1e-4)


def test_prevalence_uses_the_ensembles_own_error_rates(ensemble_dir, tiny_records, tmp_path):
    from stance.evaluation.prevalence import model_confusion, prevalence_file

    path = tmp_path / "quotes.jsonl"
    path.write_text("".join(json.dumps({"text": r["text"], "source": r["source"]}) + "\n"
                            for r in tiny_records), encoding="utf-8")  # fmt: skip
    result = prevalence_file(path, "source", model=ensemble_dir, n_resamples=50)
    record = json.loads((ensemble_dir / "calibration.json").read_text())
    labels, confusion, _ = model_confusion(ensemble_dir)
    assert confusion == record["held_out"]["confusion"]
    assert result["error_rates"]["confusion"] == confusion
    assert result["groups"][-1]["n"] == len(tiny_records)


def test_an_ensemble_refuses_torchrun(transformer_config, tmp_path, monkeypatch):
    from stance.config import load_config

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="one process"):
        train_ensemble(load_config(_seeds_config(transformer_config, tmp_path, "[3, 4]")))


def test_evaluate_compare_and_predict_file_take_an_ensemble(
    ensemble_dir, transformer_model, tiny_splits, tmp_path
):
    from stance.evaluation.evaluate import compare
    from stance.inference.predictor import predict_file

    result = compare([ensemble_dir, transformer_model], tiny_splits["test"], n_resamples=20)
    ens = result["models"][0]
    assert ens["kind"] == "ensemble" and ens["n"] == result["n"]
    gold = [json.loads(line)["label"] for line in open(tiny_splits["test"])]
    preds = load_uncached(ensemble_dir).predict([json.loads(line)["text"]
                                                 for line in open(tiny_splits["test"])])  # fmt: skip
    assert ens["accuracy"] == pytest.approx(np.mean([p.label == g for p, g in zip(preds, gold)]))
    out = tmp_path / "pred.jsonl"
    summary = predict_file(tiny_splits["test"], out, ensemble_dir, label_column="predicted")
    rows = [json.loads(line) for line in open(out)]
    assert summary.predicted == len(rows) == len(gold)
    assert [r["predicted"] for r in rows] == [p.label for p in preds]


def test_device_with_only_baselines_is_refused_by_ensemble_and_calibrate(baseline_model, tmp_path):
    from typer.testing import CliRunner

    from stance.cli import app

    res = CliRunner().invoke(app, ["ensemble", str(baseline_model), str(baseline_model), "-o",
                                   str(tmp_path / "e"), "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 1 and "--device applies to transformer models" in res.output
    res = CliRunner().invoke(app, ["calibrate", "-m", str(baseline_model), "-d", "x.jsonl",
                                   "--device", "cuda"])  # fmt: skip
    assert res.exit_code == 1 and "--device applies to transformer models" in res.output


def test_one_model_given_twice_is_refused(baseline_model, tmp_path):
    """It would weigh double and read as two independent runs in the metadata."""
    with pytest.raises(ModelError, match="given twice"):
        build_ensemble([baseline_model, Path(str(baseline_model) + "/")], tmp_path / "e", None)
    assert not (tmp_path / "e").exists()
