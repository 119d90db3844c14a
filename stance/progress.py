"""Progress output that fits where it goes.

A terminal gets a live tqdm bar; a pipe or a log file gets a plain line now and then (every
``every`` units, and once at the end) instead of hundreds of carriage-return frames that a log
viewer shows as one endless line.

Example:
    >>> import io
    >>> log = io.StringIO()
    >>> p = Progress(total=4, desc="predict", unit="row", stream=log, every=2)
    >>> for done in (1, 2, 3, 4):
    ...     p.update_to(done)
    >>> p.close()
    >>> print(log.getvalue(), end="")
    predict: 2/4 rows (50%)
    predict: 4/4 rows (100%)
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["is_terminal", "Progress"]


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal (where live bars belong)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


class Progress:
    """Progress towards ``total`` units: a tqdm bar on a terminal, else plain lines.

    Args:
        total: units in all (rows, steps).
        desc: what is progressing (the line's prefix).
        unit: the unit's name (pluralised with "s" in lines).
        stream: where to write (default: stderr).
        every: in line mode, write a line each time this many more units are done
            (default: a tenth of ``total``); the last line is always written.
        delay: on a terminal, show the bar only after this many seconds.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "row", stream: TextIO | None = None,
                 every: int | None = None, delay: float = 0.0):  # fmt: skip
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit = total, desc, unit
        self.every = max(1, every or ((total or 10) // 10))
        self.done = 0
        self._printed = 0
        self._bar = None
        if is_terminal(self.stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, delay=delay,
                             leave=False, dynamic_ncols=True)  # fmt: skip

    def update_to(self, done: int) -> None:
        """Record that ``done`` units are finished (absolute, not an increment)."""
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done = done
        if self._bar is None and done - self._printed >= self.every:
            self._line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done and self.done != self._printed:
            self._line()

    def _line(self) -> None:
        total = f"/{self.total}" if self.total else ""
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        print(f"{self.desc}: {self.done}{total} {self.unit}s{share}", file=self.stream, flush=True)
        self._printed = self.done
