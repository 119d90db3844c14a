"""Command-line interface: ``stance --help`` lists the commands.

Each module below registers its commands on :data:`app`; importing them here is what makes
them appear. The library functions they call live outside ``stance.cli`` and return data.
"""

# ruff: noqa: I001  (the import order below is the order `stance --help` lists commands)
from __future__ import annotations

from stance.cli._app import app, data_app

# Registration order is the order `stance --help` shows.
from stance.cli import (  # noqa: E402,F401  (imported for their side effect: registering commands)
    train,
    predict,
    evaluate,
    prevalence,
    calibrate,
    explain,
    info,
    data,
    extract,
    label,
    run,
)

__all__ = ["app", "data_app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
