"""Flow tests run against the session's real Prefect server, with the embedded SQLite store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _flows_use_the_session_server(prefect_server):
    """Every flow test reports to the one real Prefect server of the session."""
    return prefect_server
