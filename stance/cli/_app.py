"""The typer application that every command module registers on.

Commands are thin: they parse options, call a library function that returns data, and
print it. A :class:`~stance.errors.StanceError` becomes a one-line ``error: ...`` on stderr
and exit code 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import click
import typer
from typer.core import TyperGroup

from stance.errors import StanceError


class _Group(TyperGroup):
    """Turns the package's own errors into one clean line and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StanceError as exc:
            typer.echo(f"error: {exc}", err=True)
            # typer.Exit: typer 0.29 vendors its own click, whose Exit is the one it catches.
            raise typer.Exit(1) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Keep the order in which commands were registered (the README's order), not A-Z.
        return list(self.commands)


app = typer.Typer(
    name="stance",
    cls=_Group,
    help=(
        "Stance of quoted statements toward NHS England's new care models and the reorganisation "
        "of primary and community care: support, oppose or conditional."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

data_app = typer.Typer(
    cls=_Group,
    help="Check, describe and split labelled quote corpora.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")


@contextlib.contextmanager
def warnings_as_lines(*categories: type[Warning]) -> Iterator[None]:
    """Show warnings of ``categories`` as one ``warning: ...`` line on stderr.

    Python's default form names and quotes a line of the package's source, which reads like a
    bug report; these warnings are about the user's data (leaked test texts, truncated quotes).
    Other warnings keep the default form.
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, categories):
            typer.echo(f"warning: {message}", err=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
