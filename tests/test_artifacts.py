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


# --- leftovers of killed runs ----------------------------------------------------------------

_HOLD = """
import sys, time
from pathlib import Path
from stance.models.artifacts import atomic_directory
from stance.models.transformer import _checkpoint_dir

which, out = sys.argv[1], Path(sys.argv[2])
context = atomic_directory(out) if which == "save" else _checkpoint_dir(out, 1, True)
with context as folder:
    (folder / "big.bin").write_bytes(b"x" * 1000)
    print(folder, flush=True)
    time.sleep(600)
"""


def _holder(tmp_path, which: str):
    """A process inside a save (or a training's checkpoint folder), paused; returns it and
    the scratch folder it owns."""
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.Popen([sys.executable, "-c", _HOLD, which, str(tmp_path / "model")],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    return proc, Path(proc.stdout.readline().strip())


@pytest.mark.parametrize("which", ["save", "checkpoints"])
def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run_a_live_ones_kept(tmp_path, which):
    """SIGKILL runs no cleanup: the next save (or training) into the same place removes the
    killed run's folder, and only once its owner is dead, never the folder of a run in progress."""
    import signal

    from stance.models.transformer import _checkpoint_dir

    def next_run():
        if which == "save":
            with atomic_directory(tmp_path / "model") as tmp:
                (tmp / "w.bin").write_text("new")
        else:
            with _checkpoint_dir(tmp_path / "model", 1, True):
                pass

    proc, folder = _holder(tmp_path, which)
    try:
        assert folder.is_dir() and folder.with_name(folder.name + ".lock").exists()
        next_run()
        assert folder.is_dir()  # its owner is alive: in use, kept
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert folder.is_dir()  # killed: nothing cleaned up after it
    next_run()
    assert not folder.exists() and not folder.with_name(folder.name + ".lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model"] if which == "save" else [])


def test_a_named_scratch_folder_in_use_is_refused_not_emptied(tmp_path):
    """torchrun's checkpoint folder has a fixed name; a second run that arrives at the same
    name while the first is alive gets a one-line error, and the first run's files stay."""
    import subprocess
    import sys

    from stance.models.scratch import scratch_directory

    hold = ("import sys, time\nfrom pathlib import Path\nfrom stance.models.scratch import "
            "scratch_directory\nwith scratch_directory(Path(sys.argv[1]), '.m.ck-', '.m.ck-run') "
            "as f:\n    (f / 'checkpoint-1').write_text('x')\n    print(f, flush=True)\n"
            "    time.sleep(600)\n")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        folder = tmp_path / proc.stdout.readline().strip()
        with pytest.raises(ModelError, match=r"\.m\.ck-run: in use by another run"):
            with scratch_directory(tmp_path, ".m.ck-", ".m.ck-run"):
                pass
        assert (folder / "checkpoint-1").read_text() == "x"
    finally:
        proc.kill()
        proc.wait()
    with scratch_directory(tmp_path, ".m.ck-", ".m.ck-run") as again:  # abandoned now: reused
        assert again == folder and not any(again.iterdir())
    assert not any(tmp_path.iterdir())


def test_saves_work_where_no_lock_can_be_taken_and_leftovers_are_then_kept(tmp_path, monkeypatch):
    """A filesystem without flock (ENOLCK on NFS without a lock daemon) must not break saving;
    with no way to tell a live folder from an abandoned one, nothing is removed."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    leftover = tmp_path / ".model[1].tmp-abandoned"  # glob characters in the name, too
    leftover.mkdir()
    (tmp_path / ".model[1].tmp-abandoned.lock").touch()
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with atomic_directory(tmp_path / "model[1]") as tmp:
        (tmp / "w.bin").write_text("new")
    assert (tmp_path / "model[1]" / "w.bin").read_text() == "new" and leftover.is_dir()
    monkeypatch.undo()
    with atomic_directory(tmp_path / "model[1]") as tmp:  # locks work again: it is abandoned
        (tmp / "w.bin").write_text("newer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model[1]"]


def test_unowned_scratch_folders_are_removed_only_when_old(tmp_path):
    """A folder without a lock file (left by an older version, or being created this instant)
    is removed only after the grace period."""
    import os
    import time

    from stance.models.scratch import UNOWNED_GRACE_SECONDS, remove_abandoned, scratch_directory

    old, young = tmp_path / ".m.tmp-old", tmp_path / ".m.tmp-young"
    old.mkdir(), young.mkdir()
    (tmp_path / ".m.tmp-file").write_text("an atomic_file temporary: not a folder, kept")
    past = time.time() - UNOWNED_GRACE_SECONDS - 60
    os.utime(old, (past, past))
    assert remove_abandoned(tmp_path, ".m.tmp-") == [old]
    with scratch_directory(tmp_path, ".m.tmp-") as folder:
        assert folder.is_dir() and young.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.tmp-file", ".m.tmp-young"]


def test_orphan_lock_files_go_and_a_blocked_named_folder_is_a_one_line_error(tmp_path):
    """A lock file whose folder never came (or already went) is removed by the next cleaner;
    a fixed-name folder that cannot be made is a ModelError, and its lock is released."""
    from stance.models.scratch import remove_abandoned, scratch_directory

    (tmp_path / ".m.ck-orphan.lock").touch()
    remove_abandoned(tmp_path, ".m.ck-")
    assert not any(tmp_path.iterdir())
    (tmp_path / ".m.ck-run").write_text("a file where the folder should be")
    for _ in range(2):  # the second try is refused for the same reason, not "in use"
        with pytest.raises(ModelError, match=r"\.m\.ck-run: cannot make this scratch folder"):
            with scratch_directory(tmp_path, ".m.ck-", ".m.ck-run"):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.ck-run"]


def test_a_failed_rename_of_a_file_set_names_what_was_replaced(tmp_path, monkeypatch):
    import os

    from stance.models.artifacts import atomic_files

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(
        DataError, match=rf"{b}: cannot replace it \(Permission denied\); already replaced: {a}"
    ):
        with atomic_files([a, b]) as (fa, fb):
            fa.write("new a"), fb.write("new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary left


def test_a_saved_model_directory_has_ordinary_permissions(tmp_path):
    """Scratch folders are made with mkdir (mode 0o777 less the umask), not mkdtemp's private
    0700: a model is an ordinary, shareable directory."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    with atomic_directory(tmp_path / "model") as tmp:
        (tmp / "w.bin").write_text("x")
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~umask
