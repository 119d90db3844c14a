"""The shipped transformer configs agree with each other and with the constants: the default is
fine-tuned mpnet; the runners-up are plain MiniLM and MiniLM distilled from the default's model
directory; the main job trains the default unless told otherwise."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from stance.config import load_config
from stance.constants import (
    ACCURATE_TRANSFORMER_CONFIG,
    DEFAULT_MODEL_DIR,
    DISTILLED_TRANSFORMER_CONFIG,
    MINILM_TRANSFORMER_CONFIG,
    TRANSFORMER_CONFIG,
)

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_is_the_bundled_mpnet_saved_where_predict_looks():
    config = load_config(ROOT / TRANSFORMER_CONFIG)
    assert config.transformer.model_name_or_path == "bundled:all-mpnet-base-v2"
    assert config.output_dir == DEFAULT_MODEL_DIR
    assert not config.transformer.distill_from


def test_distilled_config_learns_minilm_from_the_default_model():
    student = load_config(ROOT / DISTILLED_TRANSFORMER_CONFIG)
    default = load_config(ROOT / TRANSFORMER_CONFIG)
    assert student.transformer.model_name_or_path == "bundled:all-MiniLM-L6-v2"
    assert student.transformer.distill_from == default.output_dir
    assert 0 < student.transformer.distill_weight < 1
    assert student.output_dir != DEFAULT_MODEL_DIR
    # The teacher check compares training files: both must train on the same one.
    assert student.data.train == default.data.train


def test_runner_up_is_plain_minilm_in_its_own_directory():
    minilm = load_config(ROOT / MINILM_TRANSFORMER_CONFIG)
    assert minilm.transformer.model_name_or_path == "bundled:all-MiniLM-L6-v2"
    assert not minilm.transformer.distill_from
    assert minilm.output_dir != DEFAULT_MODEL_DIR


def test_main_job_trains_the_default_config(monkeypatch):
    from stance.evaluation import experiment as module

    assert (
        inspect.signature(module.run_experiment).parameters["transformer_config"].default
        == TRANSFORMER_CONFIG
    )
    monkeypatch.setattr(module, "_has_cuda", lambda: False)
    path, why = module.choose_transformer_config()
    assert path == Path(TRANSFORMER_CONFIG) and "no GPU" in why


def test_accurate_ensemble_runs_when_asked_or_on_a_gpu(monkeypatch):
    from stance.errors import ConfigError
    from stance.evaluation import experiment as module

    choose = module.choose_transformer_config
    assert choose(accurate=True)[0] == Path(ACCURATE_TRANSFORMER_CONFIG)
    monkeypatch.setattr(module, "_has_cuda", lambda: True)
    assert choose()[0] == Path(ACCURATE_TRANSFORMER_CONFIG)
    assert choose(accurate=False)[0] == Path(TRANSFORMER_CONFIG)
    assert choose(transformer_config="x.yaml") == (Path("x.yaml"), "the config given")
    with pytest.raises(ConfigError, match="drop --accurate or --transformer-config"):
        choose(accurate=True, transformer_config="x.yaml")


def test_accurate_config_is_three_seeds_of_the_default_recipe():
    accurate = load_config(ROOT / ACCURATE_TRANSFORMER_CONFIG)
    default = load_config(ROOT / TRANSFORMER_CONFIG)
    assert accurate.transformer.ensemble_seeds == [42, 7, 11]
    assert accurate.output_dir not in (DEFAULT_MODEL_DIR, default.output_dir)
    # Only the seeds, the training precision and the ensemble differ from the default's recipe.
    same = {k: v for k, v in vars(accurate.transformer).items()
            if k not in ("ensemble_seeds", "precision")}  # fmt: skip
    assert same == {k: v for k, v in vars(default.transformer).items() if k in same}
    assert accurate.data == default.data


def test_default_extra_sets_are_held_out_from_the_shipped_configs(monkeypatch):
    """The main job refuses an extra set that is a training or validation split or shares a
    training text; the committed defaults (guideline-blind test quotes, dev set) pass."""
    from stance.evaluation import experiment as module

    monkeypatch.chdir(ROOT)  # the configs and EXTRA_EVAL_PATHS are relative to the repository
    files = module.extra_eval_files()
    assert len(files) == 2
    configs = {"baseline": load_config(module.BASELINE_CONFIG),
               "transformer": load_config(TRANSFORMER_CONFIG)}  # fmt: skip
    module._check_extra_held_out(configs, files)  # raises on a file that is not held out
