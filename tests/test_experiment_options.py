"""The main job's choice of transformer config: --accurate / --fast, or by itself on a GPU."""

from __future__ import annotations

from typer.testing import CliRunner

from stance.cli import app
from stance.cli.run import _transformer_config
from stance.constants import ACCURATE_TRANSFORMER_CONFIG, TRANSFORMER_CONFIG


def test_accurate_and_fast_pick_their_configs():
    assert _transformer_config(True, quiet=True) == ACCURATE_TRANSFORMER_CONFIG
    assert _transformer_config(False, quiet=True) == TRANSFORMER_CONFIG


def test_auto_follows_the_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _transformer_config(None, quiet=True) == TRANSFORMER_CONFIG
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _transformer_config(None, quiet=True) == ACCURATE_TRANSFORMER_CONFIG


def test_accurate_with_an_explicit_config_is_one_line_error():
    result = CliRunner().invoke(app, ["experiment", "--accurate", "--transformer-config", "x.yaml"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: --accurate/--fast choose a transformer config; drop them or --transformer-config"
    ]


def test_accurate_config_names_the_bundled_mpnet():
    from pathlib import Path

    from stance.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / ACCURATE_TRANSFORMER_CONFIG)
    assert config.transformer.model_name_or_path == "bundled:all-mpnet-base-v2"
