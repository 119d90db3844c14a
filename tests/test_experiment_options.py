"""The shipped transformer configs agree with each other and with the constants: the default is
fine-tuned mpnet; the runners-up are plain MiniLM and MiniLM distilled from the default's model
directory; the main job trains the default unless told otherwise."""

from __future__ import annotations

import inspect
from pathlib import Path

from stance.config import load_config
from stance.constants import (
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


def test_main_job_trains_the_default_config():
    from stance.cli.run import experiment
    from stance.evaluation.experiment import run_experiment

    option = inspect.signature(experiment).parameters["transformer_config"].default
    assert Path(option.default) == Path(TRANSFORMER_CONFIG)
    assert (
        inspect.signature(run_experiment).parameters["transformer_config"].default
        == TRANSFORMER_CONFIG
    )
