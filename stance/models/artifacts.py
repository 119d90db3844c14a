"""Saving and checking model directories and output files safely.

- :func:`atomic_directory` builds a directory beside its target and swaps it into place only
  when everything is written, so an interrupted save never leaves a half-written model where
  the real one should be, and the previous model stays intact until the swap.
- :func:`atomic_file` does the same for a single output file.
- :func:`write_metadata` / :func:`read_metadata` record what is needed to rerun and to check
  a model: config, seed, data hashes, library versions and a SHA-256 of every weight file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import Any

from stance.constants import METADATA_FILE, MODEL_KINDS
from stance.errors import DataError, ModelError
from stance.models.scratch import scratch_directory

__all__ = [
    "atomic_directory",
    "atomic_file",
    "atomic_files",
    "writable_target",
    "ensure_directory",
    "check_directory_target",
    "link_tree",
    "file_sha256",
    "library_versions",
    "write_metadata",
    "read_metadata",
    "verify_checksums",
    "recorded_split",
    "refuse_own_data",
]

# Libraries whose versions are recorded next to every model.
RECORDED_LIBRARIES = (
    "stance", "torch", "transformers", "datasets", "accelerate", "scikit-learn", "skops",
    "numpy", "tokenizers", "safetensors", "onnxruntime",
)  # fmt: skip


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape a model (``None`` if not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    # Make the rename itself durable; not supported on every platform/filesystem.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def writable_target(target: Path) -> Iterator[None]:
    """Turn the usual failures to create an output's folder or temporary file into one clear
    DataError naming ``target`` (instead of a FileExistsError/PermissionError traceback)."""
    try:
        yield
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            target,
            f"cannot write here: {target.parent} (or a folder above it) is a file, not a directory",
        ) from None
    except PermissionError:
        raise DataError(
            target, f"cannot write here: no permission to write in {target.parent}"
        ) from None


def ensure_directory(path: str | Path) -> Path:
    """Create the output directory ``path`` (and its parents) if needed, and return it.

    Raises:
        DataError: ``path`` or a folder above it is a file, or permission is denied (one line
            naming ``path``, instead of an OS traceback).

    Example:
        >>> ensure_directory("reports/run-1")   # doctest: +SKIP
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            path, "cannot create this directory: it, or a folder above it, is a file"
        ) from None
    except PermissionError:
        raise DataError(path, "cannot create this directory: permission denied") from None
    return path


def check_directory_target(path: str | Path) -> Path:
    """Refuse, without creating anything, an output directory that could not be created:
    ``path`` or a folder above it is a file. For commands that train for a long time before
    they write (the folder itself is made by :func:`ensure_directory` at the end).

    Raises:
        DataError: one line naming ``path``.
    """
    path = Path(path)
    blocking = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise DataError(path, "cannot create this directory: it, or a folder above it, is a file")
    return path


def link_tree(src: str | Path, dst: str | Path, skip: Iterable[str] = ()) -> None:
    """Copy the folder ``src`` into ``dst`` (created if needed), hard-linking each file where
    the filesystem allows (no second copy of the weights on the same disk), else copying it.

    ``skip`` names files directly in ``src`` that are left out (ones the caller rewrites).
    A hard-linked file shares its content with the original: replace such a file (write a
    new one and rename it) rather than writing into it.
    """
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    skipped = set(skip)
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
            continue
        if path.parent == src and path.name in skipped:
            continue
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


# renameat2(2) constants (linux/fcntl.h, linux/fs.h).
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    Returns False, having changed nothing, where that is unavailable (another OS, an old
    kernel or C library, a filesystem without support); the caller then falls back to renames.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    c_int, c_path = ctypes.c_int, ctypes.c_char_p
    renameat2.argtypes = [c_int, c_path, c_int, c_path, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Write a directory atomically: yield a temporary directory, then swap it into ``target``.

    The temporary directory sits beside ``target`` (same filesystem, so renames are atomic)
    and is named ``.<name>.tmp-*``. On success it is swapped with an existing ``target`` in
    one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``), so ``target`` always holds a
    whole model, old or new, and the old one (now in the temporary directory) is deleted.
    Where the OS or filesystem cannot exchange, ``target`` is renamed to ``.<name>.old-*``
    and the new directory renamed into place: a crash between those two renames leaves no
    ``target``, with the previous model intact in ``.<name>.old-*``. If the body raises, or
    the process dies before the swap, ``target`` is untouched. The temporary directory is
    removed here on an exception, and, if the process was killed, by the next save to the
    same target (:mod:`stance.models.scratch`).

    Example:
        >>> with atomic_directory("models/baseline") as tmp:   # doctest: +SKIP
        ...     (tmp / "metadata.json").write_text("{}")
    """
    target = Path(target)
    _refuse_file(target)
    with contextlib.ExitStack() as stack:
        with writable_target(target):
            # Removed on leaving, whatever happens: after an exchange it holds the previous
            # model; after a plain rename it no longer exists; after an error, the partial one.
            tmp = stack.enter_context(scratch_directory(target.parent, f".{target.name}.tmp-"))
        yield tmp
        _refuse_file(target)  # a file put there while the model was being written
        _fsync_tree(tmp)
        old = None
        # Exchange: one atomic step, the new model is in place and tmp holds the previous one.
        if not (target.exists() and _exchange(tmp, target)):
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                old.rmdir()
                os.replace(target, old)
            os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _refuse_file(target: Path) -> None:
    """A model directory never replaces a file (a data file given as output_dir, say)."""
    if target.exists() and not target.is_dir():
        raise DataError(
            target, "exists and is a file, not a model directory; expected a directory (or "
            "nothing) here: choose another output directory"
        )  # fmt: skip


def _fsync_tree(root: Path) -> None:
    """Every file, then every folder (their entries) under ``root``, on disk before the swap:
    after a power loss the new model is whole, or the old one is still in place."""
    folders = [root]
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        elif path.is_dir():
            folders.append(path)
    for folder in reversed(folders):
        _fsync_dir(folder)


@contextlib.contextmanager
def atomic_file(target: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[Any]:
    """Open a temporary file beside ``target``; rename it onto ``target`` when the block succeeds.

    A crash or exception leaves any previous ``target`` untouched and removes the partial
    temporary file (a SIGKILL may leave a hidden ``.<name>.tmp-*`` file, never a truncated
    ``target``).
    """
    with atomic_files([target], mode, **open_kwargs) as (handle,):
        yield handle


@contextlib.contextmanager
def atomic_files(
    targets: Sequence[str | Path], mode: str = "w", **open_kwargs: Any
) -> Iterator[list[Any]]:
    """:func:`atomic_file` for files that are valid only together (a corpus's splits).

    Yields one open temporary file per target. When the block succeeds every file is flushed,
    synced and closed, and only then are they renamed onto their targets, one after another:
    a write error in any of them (a full disk often shows only at the flush) leaves every
    previous target untouched. Only a crash between the renames, which do no I/O, or a rename
    that fails (a permission changed meanwhile) can leave some targets new and the rest old;
    the latter is a DataError naming the files already replaced.
    """
    targets = [Path(t) for t in targets]
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
        open_kwargs.setdefault("newline", "")
    temporaries: list[Path] = []
    handles: list[Any] = []
    try:
        for target in targets:
            if target.is_dir():
                raise DataError(target, "is a directory; expected the path of an output file")
            with writable_target(target):
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
            temporaries.append(Path(name))
            handles.append(os.fdopen(fd, mode, **open_kwargs))
            # mkstemp's 0600 would make outputs unreadable to others
            temporaries[-1].chmod(0o666 & ~_umask())
        yield handles
        for handle in handles:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        _replace_all(temporaries, targets)
    except BaseException:
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise


def _replace_all(temporaries: Sequence[Path], targets: Sequence[Path]) -> None:
    """Rename each temporary file onto its target; a failed rename says which are new."""
    for done, (temporary, target) in enumerate(zip(temporaries, targets, strict=True)):
        try:
            os.replace(temporary, target)
        except OSError as exc:
            replaced = ", ".join(str(t) for t in targets[:done]) or "none"
            raise DataError(target, f"cannot replace it ({exc.strerror or exc}); already "
                            f"replaced: {replaced}; fix the cause and write them all again") from None  # fmt: skip


def write_metadata(
    model_dir: str | Path,
    *,
    kind: str,
    labels: Iterable[str],
    weight_files: Iterable[str],
    **fields: Any,
) -> dict[str, Any]:
    """Write ``metadata.json`` into ``model_dir`` and return it.

    Args:
        model_dir: the (temporary) model directory, already holding the weight files.
        kind: ``"baseline"``, ``"transformer"`` or ``"ensemble"``.
        labels: the label names, in class-index order.
        weight_files: file names (relative to ``model_dir``) to checksum.
        **fields: anything else to record (config, seed, data_hashes, metrics, timings...).
    """
    from stance import __version__

    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, found {kind!r}")
    model_dir = Path(model_dir)
    meta: dict[str, Any] = {
        "kind": kind,
        "stance_version": __version__,
        "labels": list(labels),
        "checksums": {name: file_sha256(model_dir / name) for name in weight_files},
        "versions": library_versions(),
        **fields,
    }
    (model_dir / METADATA_FILE).write_text(
        json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    return meta


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    """Read and sanity-check ``metadata.json`` of a model directory.

    Raises:
        ModelError: the directory or the file is missing, the file is not valid JSON, or it
            lacks ``kind``/``labels`` (the message names the file and how to fix it).
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelError(
            f"{model_dir}: model directory not found; train one with "
            "`stance train --config configs/transformer.yaml` (or configs/baseline.yaml)"
        )
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: expected a model directory, found a file")
    path = model_dir / METADATA_FILE
    if not path.exists():
        raise ModelError(
            f"{path}: missing; {model_dir} is not a complete stance model (retrain it)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: corrupt metadata ({exc}); retrain the model") from None
    except OSError as exc:  # a directory of that name, no permission
        raise ModelError(
            f"{path}: cannot read the metadata ({exc.strerror}); expected a readable JSON file"
        ) from None
    if not isinstance(meta, dict) or meta.get("kind") not in MODEL_KINDS or not meta.get("labels"):
        raise ModelError(
            f"{path}: expected 'kind' (one of {', '.join(MODEL_KINDS)}) and 'labels'; the file is incomplete"
        )
    # metadata.json is not checksummed: check the shapes that loading relies on, so a damaged
    # or hand-edited file is a clear error rather than a TypeError deep inside a loader.
    labels, checksums = meta["labels"], meta.get("checksums", {})
    if not (
        isinstance(labels, list)
        and all(isinstance(label, str) and label for label in labels)
        and len(set(labels)) == len(labels)
    ):
        raise ModelError(
            f"{path}: 'labels' must be a list of distinct label names, found {labels!r:.80}; "
            "the file is damaged - retrain or restore the model"
        )
    if not (
        isinstance(checksums, dict)
        and all(_inside(name) and isinstance(digest, str) for name, digest in checksums.items())
    ):
        raise ModelError(
            f"{path}: 'checksums' must map file names inside the model directory to SHA-256 "
            f"digests, found {checksums!r:.80}; the file is damaged - retrain or restore the model"
        )
    return meta


def _inside(name: object) -> bool:
    """A relative path that stays inside the model directory (no '..', not absolute)."""
    if not isinstance(name, str) or not name:
        return False
    path = PurePosixPath(name.replace("\\", "/"))  # a Windows-style name is checked too
    return not path.is_absolute() and ".." not in path.parts


# Files of a transformer directory that no checksum needs to cover: the metadata itself, the
# model card, and the ONNX exports (each checked against its own manifest).
_UNCHECKED = frozenset({METADATA_FILE, "README.md", "onnx"})


def _check_covered(model_dir: Path, meta: dict[str, Any], checksums: dict[str, Any]) -> None:
    """Every file the loaders read is checksummed: the calibration file named in the metadata
    (and inside the directory), and, for a transformer, every file beside the weights, which
    ``from_pretrained`` may read (an added ``special_tokens_map.json`` changes the tokens)."""
    name = (meta.get("calibration") or {}).get("file")
    if name is not None and (not _inside(name) or name not in checksums):
        raise ModelError(
            f"{model_dir / METADATA_FILE}: the calibration file {name!r} is not a checksummed "
            "file of the model directory; retrain or restore the model"
        )
    if meta.get("kind") != "transformer":
        return
    extra = sorted(p.name for p in model_dir.iterdir() if p.name not in _UNCHECKED
                   and p.name not in checksums)  # fmt: skip
    if extra:
        raise ModelError(
            f"{model_dir / extra[0]}: not recorded in metadata.json's checksums, and the "
            f"loader could read it ({len(extra)} such file(s)); a file added after training can "
            "change what the model does: remove it, or retrain or restore the model"
        )


def verify_checksums(model_dir: str | Path, meta: dict[str, Any]) -> None:
    """Check every weight file against the SHA-256 recorded in ``meta``.

    Raises:
        ModelError: a recorded file is missing, or its content changed (tampered or truncated).
    """
    model_dir = Path(model_dir)
    checksums = meta.get("checksums") or {}
    if not checksums:
        raise ModelError(
            f"{model_dir / METADATA_FILE}: records no weight checksums; retrain the model"
        )
    _check_covered(model_dir, meta, checksums)
    for name, expected in checksums.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{path}: missing weight file (the model directory is incomplete)")
        actual = file_sha256(path)
        if actual != expected:
            raise ModelError(
                f"{path}: checksum mismatch (expected sha256 {expected[:12]}..., found {actual[:12]}...); "
                "the file was modified or truncated - retrain or restore the model"
            )


def refuse_own_data(path: str | Path, meta: dict[str, Any], model: str | Path, use: str) -> None:
    """Refuse ``path`` when it is the training or the test split a model recorded (by sha256).

    Calibrating on a model's training data would make its scores look certain, and calibrating
    on its test split would make every later evaluation there in-sample.

    Raises:
        ModelError: ``path`` has the sha256 that ``meta["data_hashes"]`` records for the
            model's ``config.data.train`` or ``config.data.test``.
    """
    found = recorded_split(meta, file_sha256(path), ("train", "test"))
    if found is not None:
        key, split = found
        role = "training" if key == "train" else "test"
        raise ModelError(
            f"{path}: expected held-out data to {use}, found the {role} split of {model} "
            f"({split}, same sha256); use data the model neither trained nor was tested on, "
            "e.g. its validation split"
        )


def recorded_split(meta: dict[str, Any] | None, digest: str,
                   keys: Iterable[str]) -> tuple[str, str] | None:  # fmt: skip
    """``(key, path)`` of the first of the model's recorded ``config.data`` splits (``keys``:
    ``"train"``, ``"validation"``, ``"test"``) whose sha256 in ``data_hashes`` is ``digest``;
    None when the data is none of them."""
    data = ((meta or {}).get("config") or {}).get("data") or {}
    hashes = (meta or {}).get("data_hashes") or {}
    for key in keys:
        split = data.get(key)
        if split and hashes.get(str(split)) == digest:
            return key, str(split)
    return None
