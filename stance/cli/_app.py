"""The typer application that every command module registers on.

Commands are thin: they parse options, call a library function that returns data, and
print it. A :class:`~stance.errors.StanceError` becomes a one-line ``error: ...`` on stderr
and exit code 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from stance.constants import DEFAULT_BATCH_SIZE, DEFAULT_RESAMPLES, LABELS, PRECISIONS
from stance.errors import StanceError


class _Group(TyperGroup):
    """Turns the package's own errors into one clean line and a non-zero exit, and every
    warning raised while a command runs into one ``warning: ...`` line."""

    def invoke(self, ctx: click.Context):
        try:
            with warnings_as_lines(Warning):
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

    Python's default form names and quotes a line of the package's (or a library's) source,
    which reads like a bug report; a user needs the message only. Every command runs inside
    this with ``Warning`` (see ``_Group.invoke``); other categories keep the default form.
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


@contextlib.contextmanager
def data_warnings_as_lines() -> Iterator[None]:
    """:func:`warnings_as_lines` for the warnings about the user's data: truncated quotes and
    test texts leaked into training (for commands that both train and predict)."""
    from stance.inference.predictor import TruncationWarning
    from stance.models.training import LeakageWarning

    with warnings_as_lines(TruncationWarning, LeakageWarning):
        yield


# --- options shared by several commands (one wording, one default) --------------------------------


def json_option(help: str = "Print one JSON object (and nothing else) on stdout.") -> Any:
    return typer.Option(False, "--json", help=help)


def report_option(help: str = "Write report.md and figures into this directory.") -> Any:
    return typer.Option(None, "--report", help=help)


def resamples_option(help: str = "Bootstrap resamples for the 95% intervals.") -> Any:
    return typer.Option(DEFAULT_RESAMPLES, "--resamples", min=1, help=help)


def bootstrap_seed_option(help: str = "Seed of the bootstrap behind the 95% intervals.") -> Any:
    # Not "--seed": that is the training seed (`stance train --seed`); these commands only
    # resample, and `cv`/`experiment` train with each config's own seed.
    return typer.Option(0, "--bootstrap-seed", min=0, help=help)


# = stance.inference.predictor.BACKENDS (not imported: `stance --help` stays light).
BACKEND_CHOICES = ("torch", "onnx", "onnx-int8")


def one_of(choices: tuple[str, ...]) -> Callable[[str | None], str | None]:
    """A typer callback refusing a value outside ``choices`` with the allowed values listed."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"expected one of {', '.join(choices)}, found {value!r}")
        return value

    return check


def config_data_option(help: str) -> Any:
    """``--config``: take the label set (and columns) from a training config's ``data`` section."""
    return typer.Option(None, "--config", "-c", help=help)


def data_settings(
    config: Path | None, text_column: str | None = None, label_column: str | None = None
) -> tuple[tuple[str, ...], str, str]:
    """The label set, text column and label column: from ``config``'s ``data`` section when
    given, else the package defaults; a column given as a flag wins over both."""
    if config is None:
        return LABELS, text_column or "text", label_column or "label"
    from stance.config import load_config

    data = load_config(config).data
    return tuple(data.labels), text_column or data.text_column, label_column or data.label_column


def refuse_renamed_column(config: Path | None, column: str, expected: str, writes: str) -> None:
    """Commands that write or merge corpus records use the corpus' own column names; a config
    that reads the label (or text) from another column would not read what they write."""
    if column != expected:
        raise StanceError(
            f"{config}: its data section names the {expected} column {column!r}, but {writes} "
            f"the column {expected!r}; rename the column in your files and config to {expected!r}"
        )


def device_option(
    help: str = "Transformer models: cpu, cuda, cuda:1, ... (default: a GPU if there is one).",
) -> Any:
    return typer.Option(None, "--device", help=help)


def backend_option(
    help: str = "Transformer models: torch (default), onnx (faster on CPU) or onnx-int8.",
) -> Any:
    return typer.Option(None, "--backend", callback=one_of(BACKEND_CHOICES), help=help)


def precision_option(
    help: str = (
        "Transformer models, torch backend: auto (default: bf16 where the CPU or GPU multiplies "
        "it natively, else fp32), fp32 (exact fp32 numbers) or bf16."
    ),
) -> Any:
    return typer.Option(None, "--precision", callback=one_of(PRECISIONS), help=help)


def check_model_options(
    models: list[Any], device: str | None, backend: str | None, precision: str | None = None
) -> None:
    """Refuse ``--device``/``--backend``/``--precision`` when no model given is a transformer (a
    baseline would silently ignore them). ``models`` may hold None (the default model)."""
    if device is None and backend is None and precision is None:
        return
    from stance.inference.predictor import resolve_model_dir
    from stance.models.artifacts import read_metadata

    kinds = {read_metadata(resolve_model_dir(m))["kind"] for m in models}
    if not kinds & {"transformer", "ensemble"}:  # an ensemble passes them to its transformers
        given = {"--device": device, "--backend": backend, "--precision": precision}
        option = next(name for name, value in given.items() if value is not None)
        raise StanceError(
            f"{option} applies to transformer models; the model given is a "
            f"{', '.join(sorted(kinds))} model (leave {option} unset)"
        )


def batch_size_option(
    help: str = "Texts per forward pass.", default: int | None = DEFAULT_BATCH_SIZE
) -> Any:
    # default=None lets a command tell a given --batch-size from none (to refuse it where it
    # would be ignored); the command then falls back to DEFAULT_BATCH_SIZE itself.
    return typer.Option(default, "--batch-size", min=1, help=help)


def quiet_option(help: str) -> Any:
    return typer.Option(False, "--quiet", "-q", help=help)
