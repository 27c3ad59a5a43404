"""Subcommands of `datagems` (filled in by their part)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's subcommands to `app`."""
    del app
