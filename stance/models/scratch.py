"""Hidden scratch folders beside an output, and the leftovers of killed runs.

Training writes per-epoch checkpoints (over a GB for mpnet, optimiser state included) and
every save builds the new model in a temporary folder beside its target. A process killed
with SIGKILL (or by the out-of-memory killer) runs no cleanup, so these folders used to stay
until someone deleted them by hand, and repeated kills filled the disk.

Each scratch folder therefore has an owner: a lock file beside it (``<folder>.lock``), created
and locked with ``flock`` *before* the folder exists and held for as long as the folder is in
use. The kernel drops the lock when its process dies, however it dies, so the next run that
makes a scratch folder with the same prefix can tell an abandoned folder (its lock can be
taken) from one in use (it cannot) and removes only the former. Where locks cannot be taken
at all (no ``fcntl`` on Windows; a filesystem without ``flock``) every folder counts as in
use: nothing is removed, as before owners existed, except that a fixed-name folder (torchrun's
checkpoints) is still emptied for the run that claims it, as it always was. Folders without a lock file (from versions
before owners) are removed only when older than :data:`UNOWNED_GRACE_SECONDS`.

Example:
    >>> with scratch_directory(Path("models"), ".transformer.checkpoints-") as folder:  # doctest: +SKIP
    ...     train_into(folder)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from stance.errors import ModelError

__all__ = ["UNOWNED_GRACE_SECONDS", "remove_abandoned", "scratch_directory"]

# A folder with no lock file was made by a version without owners, and may belong to such a
# run still going (an epoch can take hours): only a day without change marks it as left behind.
UNOWNED_GRACE_SECONDS = 24 * 3600
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
            folder), replacing an abandoned folder of that name; None picks a fresh random one.
        cleanup: remove the folder when the block ends (False: the caller removes or keeps it).

    Raises:
        ModelError: ``name`` is given and another live process owns that folder.
    """
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(parent, prefix)
    folder, fd = _claim_named(parent / name) if name else _claim_fresh(parent, prefix)
    try:
        yield folder
    finally:
        if cleanup and folder.exists():  # it may have been renamed into place by the caller
            shutil.rmtree(folder, ignore_errors=True)
        _release(fd, folder)


def remove_abandoned(parent: Path, prefix: str) -> list[Path]:
    """Remove the scratch folders ``parent/<prefix>*`` whose owners have died; return them.

    Folders in use by a live process, and any folder whose lock cannot be tried (another
    user's, a filesystem without locks), are left alone; so is everything on an error.
    """
    try:
        candidates = sorted(p for p in parent.iterdir() if p.name.startswith(prefix))
    except OSError:  # an unreadable parent: nothing to clean, not an error
        return []
    removed = []
    for path in candidates:
        with contextlib.suppress(OSError):  # vanished meanwhile, unreadable: leave it
            if path.is_dir() and not path.is_symlink() and _abandoned(path):
                removed.append(path)
            elif path.name.endswith(LOCK_SUFFIX) and path.is_file():
                _remove_orphan_lock(path)
    return removed


def _remove_orphan_lock(lock_path: Path) -> None:
    """A lock file whose folder is gone (its owner was killed just before making the folder or
    just after removing it): delete it once nobody holds it."""
    folder = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
    if folder.exists():
        return  # judged with its folder
    fd = os.open(lock_path, os.O_RDWR)
    try:
        if _try_lock(fd) == LOCKED and _same_file(fd, lock_path) and not folder.exists():
            os.unlink(lock_path)
    finally:
        os.close(fd)


def _abandoned(folder: Path) -> bool:
    """Remove ``folder`` if its owner is gone; True if it was removed."""
    lock_path = _lock_path(folder)
    if not lock_path.exists():
        if time.time() - folder.stat().st_mtime <= UNOWNED_GRACE_SECONDS:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    fd = os.open(lock_path, os.O_RDWR)
    try:
        if _try_lock(fd) != LOCKED or not _same_file(fd, lock_path):
            return False  # in use, untestable, or its lock file was replaced: not ours to judge
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        return True
    finally:
        os.close(fd)  # releases the lock taken above


def _claim_fresh(parent: Path, prefix: str) -> tuple[Path, int]:
    """A new folder ``parent/<prefix><random>`` and its locked lock file, made lock first:
    a folder without its lock never exists, so no cleaner can take it for abandoned."""
    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(6)}"
        try:  # O_EXCL: the name is ours alone
            fd = os.open(_lock_path(folder), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        _try_lock(fd)  # a brand-new file nobody else has opened: never contended
        try:
            folder.mkdir()
        except FileExistsError:  # a folder of that name without a lock: leave it, try another
            _release(fd, folder)
            continue
        except BaseException:
            _release(fd, folder)
            raise
        return folder, fd
    raise FileExistsError(f"no free scratch folder name {prefix}* in {parent}")


def _claim_named(folder: Path) -> tuple[Path, int]:
    """The fixed-name ``folder``, emptied and owned; refused while another process owns it."""
    lock_path = _lock_path(folder)
    for _ in range(3):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        if _try_lock(fd) == HELD:
            os.close(fd)
            raise ModelError(
                f"{folder}: in use by another run (its lock {lock_path.name} is held); wait "
                "for that run to finish, or give this one another output directory"
            )
        if _same_file(fd, lock_path):  # not unlinked by a cleaner between open and lock
            try:
                shutil.rmtree(folder, ignore_errors=True)  # an abandoned run's checkpoints
                folder.mkdir()
            except BaseException as exc:
                _release(fd, folder)
                if isinstance(exc, OSError):
                    raise ModelError(f"{folder}: cannot make this scratch folder ({exc.strerror or exc}); "
                                     "remove whatever is there, or check its permissions") from None  # fmt: skip
                raise
            return folder, fd
        os.close(fd)
    raise ModelError(f"{folder}: could not take its lock {lock_path}; try again")


LOCKED, HELD, UNSUPPORTED = "locked", "held", "unsupported"


def _try_lock(fd: int) -> str:
    """Lock ``fd`` exclusively without waiting: LOCKED, HELD (another process has it), or
    UNSUPPORTED where no lock can be taken (Windows, ENOLCK, EOPNOTSUPP). Then nobody can tell
    whether a folder is in use, so cleaners assume it is, while owners go on unlocked."""
    try:
        import fcntl
    except ImportError:
        return UNSUPPORTED
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return HELD
    except OSError:
        return UNSUPPORTED
    return LOCKED


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _release(fd: int, folder: Path) -> None:
    """Delete ``folder``'s lock file, then release the lock (closing the descriptor does)."""
    if os.name == "nt":  # Windows cannot delete a file that is still open
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(_lock_path(folder))
        return
    with contextlib.suppress(OSError):
        os.unlink(_lock_path(folder))
    os.close(fd)


def _lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + LOCK_SUFFIX)
