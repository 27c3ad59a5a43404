"""`datagems up | server | worker | deploy`: run DataGems on one machine or beyond."""

from __future__ import annotations

from collections.abc import Callable

import typer

from datagems_core.errors import ConfigError, DatagemsError
from datagems_core.settings import Settings, get_settings
from deployments import stack, worker


def register(app: typer.Typer) -> None:
    """Add this module's subcommands to `app`."""
    app.command("up")(up)
    app.command("server")(server)
    app.command("worker")(worker_command)
    app.command("deploy")(deploy)


def up() -> None:
    """Run the whole service here: Prefect, the runner and the API.

    The Prefect server and UI, the runner of the deployments, and the API with its web pages.
    Ctrl-C stops it.
    """
    _run(stack.run_up)


def server() -> None:
    """Run only the Prefect server (data in the data dir) until Ctrl-C."""
    _run(stack.run_server)


def worker_command() -> None:
    """Run the flow runs sent to the `datagems` work pool here.

    Joins the work pool from this machine.
    """
    _run(worker.run_worker)


def deploy() -> None:
    """Register prefect.yaml's deployments for `datagems worker`.

    They go on the `datagems` work pool.
    """
    _run(worker.deploy)


def _run(command: Callable[[Settings], int]) -> None:
    try:
        code = command(get_settings())
    except ConfigError as exc:
        typer.echo(f"datagems: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except DatagemsError as exc:
        typer.echo(f"datagems: {exc.message}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
