"""CLI commands: data (registered on the shared app)."""

from __future__ import annotations

from stance.cli._app import app  # noqa: F401
