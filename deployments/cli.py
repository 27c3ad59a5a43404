"""The `datagems` command. Each group of subcommands lives in the module named for it."""

from __future__ import annotations

import typer

from deployments import export_command, generate_command, stack_command

app = typer.Typer(
    name="datagems", no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
generate_command.register(app)
export_command.register(app)
stack_command.register(app)


def main() -> None:
    app()
