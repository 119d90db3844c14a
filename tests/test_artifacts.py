"""Atomic saves and model metadata: nothing half-written ever sits where the real thing should."""

from __future__ import annotations

import json

import pytest

from stance.errors import ModelError
from stance.models.artifacts import (
    atomic_directory,
    atomic_file,
    file_sha256,
    read_metadata,
    verify_checksums,
    write_metadata,
)


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_text("v1")
    assert (target / "weights.bin").read_text() == "v1"

    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_text("half")
        raise RuntimeError("interrupted")
    assert (target / "weights.bin").read_text() == "v1"
    assert _leftovers(tmp_path) == []

    with atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_text("v2")
    assert (target / "weights.bin").read_text() == "v2"
    assert _leftovers(tmp_path) == []


def test_atomic_file_keeps_previous_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    with atomic_file(target) as fh:
        fh.write("complete\n")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as fh:
        fh.write("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "complete\n"
    assert _leftovers(tmp_path) == []


def test_metadata_and_checksums(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"abc")
    meta = write_metadata(
        tmp_path, kind="baseline", labels=["a", "b"], weight_files=["w.safetensors"], seed=3
    )
    assert meta["checksums"]["w.safetensors"] == file_sha256(tmp_path / "w.safetensors")
    assert read_metadata(tmp_path)["seed"] == 3
    assert meta["versions"]["python"]
    verify_checksums(tmp_path, meta)
    (tmp_path / "w.safetensors").write_bytes(b"abd")
    with pytest.raises(ModelError, match=r"w\.safetensors: checksum mismatch"):
        verify_checksums(tmp_path, meta)
    (tmp_path / "w.safetensors").unlink()
    with pytest.raises(ModelError, match="missing weight file"):
        verify_checksums(tmp_path, meta)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda d: None, "model directory not found"),
        (lambda d: d.mkdir(), "metadata.json: missing"),
        (lambda d: (d.mkdir(), (d / "metadata.json").write_text("{not json")), "corrupt metadata"),
        (
            lambda d: (d.mkdir(), (d / "metadata.json").write_text(json.dumps({"kind": "x"}))),
            "incomplete",
        ),
        (lambda d: d.write_text("file"), "expected a model directory"),
    ],
)
def test_read_metadata_errors_name_the_file(tmp_path, setup, expected):
    target = tmp_path / "m"
    setup(target)
    with pytest.raises(ModelError, match=expected) as info:
        read_metadata(target)
    assert str(target) in str(info.value)
