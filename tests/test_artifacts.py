"""Atomic saves and model metadata: nothing half-written ever sits where the real thing should."""

from __future__ import annotations

import json

import pytest

from stance.errors import DataError, ModelError
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
        (lambda d: (d / "metadata.json").mkdir(parents=True), "cannot read the metadata"),
    ],
)
def test_read_metadata_errors_name_the_file(tmp_path, setup, expected):
    target = tmp_path / "m"
    setup(target)
    with pytest.raises(ModelError, match=expected) as info:
        read_metadata(target)
    assert str(target) in str(info.value)


def test_atomic_directory_never_replaces_a_file(tmp_path):
    """A data file given as the output directory stays a file, whole, and nothing is left
    beside it; so does one that appears while the model is being written."""
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "keep me"}\n')
    with pytest.raises(DataError, match="exists and is a file"):
        with atomic_directory(data) as tmp:
            (tmp / "metadata.json").write_text("{}")
    assert data.read_text() == '{"text": "keep me"}\n' and _leftovers(tmp_path) == []
    late = tmp_path / "model"
    with pytest.raises(DataError, match="exists and is a file"):
        with atomic_directory(late) as tmp:
            (tmp / "metadata.json").write_text("{}")
            late.write_text("written meanwhile")
    assert late.read_text() == "written meanwhile" and _leftovers(tmp_path) == []


def _fake_transformer(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "calibration.json"):
        (model / name).write_text(name)
    meta = write_metadata(model, kind="transformer", labels=["a", "b"],
                          weight_files=["model.safetensors", "config.json", "tokenizer.json",
                                        "calibration.json"],
                          calibration={"file": "calibration.json"})  # fmt: skip
    return model, meta


def test_a_file_added_to_a_transformer_directory_is_refused(tmp_path):
    """from_pretrained reads files such as special_tokens_map.json if they are there; one put
    in after training would change the tokens without touching a checksummed file."""
    model, meta = _fake_transformer(tmp_path)
    (model / "README.md").write_text("card")
    (model / "onnx").mkdir()  # exports carry their own manifests
    verify_checksums(model, meta)
    (model / "special_tokens_map.json").write_text("{}")
    with pytest.raises(ModelError, match=r"special_tokens_map\.json: not recorded in metadata"):
        verify_checksums(model, meta)


@pytest.mark.parametrize("name", ["/tmp/elsewhere.json", "../calibration.json", "other.json"])
def test_the_calibration_file_must_be_a_checksummed_file_inside(tmp_path, name):
    model, meta = _fake_transformer(tmp_path)
    meta = {**meta, "calibration": {"file": name}}
    with pytest.raises(ModelError, match="calibration file .* is not a checksummed file"):
        verify_checksums(model, meta)
