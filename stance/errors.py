"""Exceptions that carry a message meant for the user.

The CLI prints a :class:`StanceError` as one line (``error: ...``) and exits non-zero; any
other exception is a bug and keeps its traceback. Messages say what was expected, what was
found, and how to fix it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["StanceError", "DataError", "ConfigError", "ModelError", "first_line"]


class StanceError(Exception):
    """Base class of every error the package raises on purpose."""


class DataError(StanceError, ValueError):
    """A data file is missing, unreadable or malformed.

    Args:
        path: the file concerned.
        message: what is wrong.
        line: 1-based line number in the file, when there is one.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(StanceError, ValueError):
    """A config file is missing or invalid (unknown key, wrong type, bad value)."""


class ModelError(StanceError):
    """A model directory is missing, incomplete, corrupt or incompatible."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none).

    Library errors (transformers, tokenizers) can run to many lines; ours quote just the first.
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
