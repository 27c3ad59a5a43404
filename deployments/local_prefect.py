"""Where the CLI's flow runs report: PREFECT_API_URL when set, else a temporary local server."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from datagems_core.config.settings import Settings


@contextlib.contextmanager
def prefect_api(settings: Settings, *, say: Callable[[str], None]) -> Iterator[bool]:
    """Use PREFECT_API_URL when set (yields True: its runs stay to be looked at), else a temporary
    local Prefect server for this run (yields False: nothing of it outlives the command).

    The temporary server takes calls only with a secret made for it, ends when this process
    ends, even by SIGKILL, and removes its directory as it ends.
    """
    if os.environ.get("PREFECT_API_URL") or settings.prefect_api_url_raw:
        yield True
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from deployments.prefect_auth import new_auth_string
    from deployments.prefect_server import start_prefect_server

    tmp = Path(tempfile.mkdtemp(prefix="datagems-prefect-"))
    try:
        say("starting a temporary Prefect server (set PREFECT_API_URL to keep runs)")
        auth_string = new_auth_string()
        server = start_prefect_server(
            data_dir=tmp,
            host="127.0.0.1",
            port=_free_port(),
            log_path=tmp / "log",
            auth_string=auth_string,
            owned_dir=tmp,
        )
        try:
            updates = {PREFECT_API_URL: server.api_url, PREFECT_API_AUTH_STRING: auth_string}
            with temporary_settings(updates=updates):
                try:
                    yield False
                finally:  # send queued logs and events while the server can take them
                    APILogWorker.drain_all(timeout=5)
                    EventsWorker.drain_all(timeout=5)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quiet_prefect_console(verbose: bool) -> None:
    """Prefect's console lines would break the one-line error promise; its API logs stay."""
    if verbose:
        return
    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    setup_logging()
    names = list(logging.root.manager.loggerDict)
    for logger in [logging.getLogger(), *map(logging.getLogger, names)]:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL + 1)
