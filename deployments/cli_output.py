"""How the `datagems` commands report: plain lines on stderr, a failure as one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from datagems_core.errors import DatagemsError


def say(line: str) -> None:
    """One plain line on stderr (never wrapped)."""
    typer.echo(line, err=True)


class CommandFailed(Exception):
    """Ends the command with one line on stderr and a non-zero exit."""


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A command's failure as one `error:` line on stderr and its exit code."""
    try:
        yield
    except (DatagemsError, CommandFailed) as exc:
        message = exc.message if isinstance(exc, DatagemsError) else str(exc)
        say(f"error: {' '.join(message.split())}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        say("interrupted: finish the job with `datagems resume JOB_ID`")
        raise typer.Exit(130) from None
