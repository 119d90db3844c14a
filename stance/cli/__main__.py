"""``python -m stance.cli ...``: the same commands as the ``stance`` script.

This is also the entry point for multi-process training, which needs a module to launch::

    torchrun --nproc_per_node 2 -m stance.cli train --config configs/transformer.yaml

Under torchrun/accelerate every process runs the command; only the first (``RANK`` 0) should
talk to the user, so the others' standard output is discarded (their errors still reach
stderr).
"""

from __future__ import annotations

import os
import sys


def _silence_other_ranks() -> None:
    if os.environ.get("RANK", "0") not in ("", "0"):
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (kept open until exit)


if __name__ == "__main__":
    _silence_other_ranks()
    from stance.cli import app

    app(prog_name="stance")
