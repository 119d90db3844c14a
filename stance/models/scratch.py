"""Hidden scratch folders beside an output, and the leftovers of killed runs.

Training writes per-epoch checkpoints (over a GB for mpnet, optimiser state included) and
every save builds the new model in a temporary folder beside its target. A process killed
with SIGKILL (or by the out-of-memory killer) runs no cleanup, so these folders used to stay
until someone deleted them by hand, and repeated kills filled the disk.

Each scratch folder therefore has an owner: a lock file beside it (``<folder>.lock``), held
with ``flock`` for as long as the folder is in use. The kernel drops the lock when its
process dies, however it dies, so the next run that makes a scratch folder with the same
prefix can tell an abandoned folder (its lock can be taken) from one in use by another run
(it cannot) and removes only the former. Folders without a lock file (from versions before
owners, or one being created this instant) are removed only when older than
:data:`UNOWNED_GRACE_SECONDS`.

Example:
    >>> with scratch_directory(Path("models"), ".transformer.checkpoints-") as folder:  # doctest: +SKIP
    ...     train_into(folder)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["UNOWNED_GRACE_SECONDS", "remove_abandoned", "scratch_directory"]

# A folder with no lock file is someone else's only for the instant between its creation and
# its lock's; an hour is far beyond that and still frees a killed run's disk the same day.
UNOWNED_GRACE_SECONDS = 3600
LOCK_SUFFIX = ".lock"


@contextlib.contextmanager
def scratch_directory(
    parent: Path, prefix: str, name: str | None = None, *, cleanup: bool = True
) -> Iterator[Path]:
    """Make ``parent/<prefix>XXXX`` (or ``parent/<name>``), owned by this process until the
    block ends, then remove it; first remove abandoned folders with the same prefix.

    Args:
        parent: where the folder goes (created if missing).
        prefix: the hidden name prefix shared by all such folders, e.g. ``.model.checkpoints-``.
        name: a fixed name starting with ``prefix`` (torchrun: every process must find the same
            folder), replacing any earlier folder of that name; None picks a fresh random one.
        cleanup: remove the folder when the block ends (False: the caller removes or keeps it).
    """
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(parent, prefix)
    if name is None:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    else:
        folder = parent / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    lock = _take(folder.with_name(folder.name + LOCK_SUFFIX), wait=True)
    try:
        yield folder
    finally:
        if cleanup:
            shutil.rmtree(folder, ignore_errors=True)
        _drop(lock, folder)


def remove_abandoned(parent: Path, prefix: str) -> list[Path]:
    """Remove the scratch folders ``parent/<prefix>*`` whose owners have died; return them.

    Folders in use by a live process (on this machine or any sharing ``flock`` over the
    filesystem) are left alone. Without ``fcntl`` (Windows) nothing is removed.
    """
    removed = []
    with contextlib.suppress(OSError):  # an unreadable parent: nothing to clean, not an error
        candidates = sorted(p for p in parent.glob(f"{prefix}*") if p.is_dir())
        for folder in candidates:
            lock_path = folder.with_name(folder.name + LOCK_SUFFIX)
            if not lock_path.exists():
                if time.time() - folder.stat().st_mtime > UNOWNED_GRACE_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
                continue
            lock = _take(lock_path, wait=False)
            if lock is not None:  # its owner is gone: the kernel released the lock
                shutil.rmtree(folder, ignore_errors=True)
                _drop(lock, folder)
                removed.append(folder)
    return removed


def _take(lock_path: Path, wait: bool) -> Any:
    """Open ``lock_path`` and lock it exclusively; None if ``wait`` is False and it is held
    (or if there is no ``fcntl``, when nobody can tell: the folder is treated as in use)."""
    handle = open(lock_path, "a+b")  # noqa: SIM115 (closed by _drop)
    try:
        import fcntl
    except ImportError:
        if wait:
            return handle
        handle.close()
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _drop(handle: Any, folder: Path) -> None:
    """Delete the lock file of ``folder`` (it is gone), then release and close the lock."""
    with contextlib.suppress(OSError):
        os.unlink(folder.with_name(folder.name + LOCK_SUFFIX))
    handle.close()  # closing the last descriptor releases the flock
