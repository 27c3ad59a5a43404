"""One real Prefect server per test session, and this process' Prefect client pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.prefect_server import PrefectServer, start_prefect_server
from tests.support.processes import free_port


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server on a free port with its database in a temp dir, for the whole session.

    Sets PREFECT_API_URL both in Prefect's settings for this process and in os.environ, so child
    processes (runners, flow runs, the API) inherit it.
    """
    data_dir = tmp_path_factory.mktemp("prefect-server")
    server = start_prefect_server(
        data_dir=data_dir,
        host="127.0.0.1",
        port=free_port(),
        log_path=data_dir / "prefect.log",
    )
    saved = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server
            # Send the logs and events still queued while the server can take them.
            APILogWorker.drain_all(timeout=5)
            EventsWorker.drain_all(timeout=5)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
