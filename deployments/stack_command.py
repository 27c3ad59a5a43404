"""`datagems up | server | worker | deploy`: run DataGems on one machine or beyond."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO

import typer

from datagems_core.config.settings import Settings, get_settings
from datagems_core.errors import ConfigError, DatagemsError
from deployments import worker
from deployments.prefect_auth import auth_string_path, read_auth_string
from deployments.prefect_server import start_prefect_server
from deployments.stack import READY_TIMEOUT_SECONDS, Stack


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
    _run(run_up)


def server() -> None:
    """Run only the Prefect server (data in the data dir) until Ctrl-C."""
    _run(run_server)


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


def run_server(settings: Settings, *, out: TextIO = sys.stdout) -> int:
    """`datagems server`: only the Prefect server, in the data dir, until Ctrl-C or SIGTERM."""
    stop_on_signals()
    data_dir = settings.data_dir.resolve()
    try:
        server = start_prefect_server(
            data_dir=data_dir,
            host=settings.prefect_host,
            port=settings.prefect_port,
            log_path=data_dir / "logs" / "prefect-server.log",
            timeout=READY_TIMEOUT_SECONDS,
            auth_string=read_auth_string(data_dir),
            database_url=(
                settings.database_url.get_secret_value() if settings.database_url else None
            ),
        )
    except KeyboardInterrupt:
        return 130
    secret = auth_string_path(data_dir)
    print(
        f"Prefect server ready: UI {server.ui_url} (it asks for the auth string in {secret}), "
        f"API {server.api_url}\n"
        f"Clients: export PREFECT_API_URL={server.api_url} "
        f'PREFECT_API_AUTH_STRING="$(cat {secret})"\nPress Ctrl-C to stop.',
        file=out,
        flush=True,
    )
    try:
        while server.is_running():
            time.sleep(0.5)
        print(f"the Prefect server exited; see {server.log_path}", file=out)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    # SIGINT explicitly too: a shell starting us in the background leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_keyboard_interrupt)


def run_up(settings: Settings) -> int:
    """`datagems up`: start the stack, wait for Ctrl-C or SIGTERM, stop it; the exit code."""
    stop_on_signals()
    stack = Stack(settings=settings)
    try:
        stack.start()
    except KeyboardInterrupt:
        return 130
    try:
        code = stack.wait()
    finally:
        # A second Ctrl-C must not cut the stopping short and leave children behind.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        stack.say("Stopping DataGems ...")
        stack.stop()
    stack.say("Stopped.")
    return code
