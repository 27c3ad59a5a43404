"""The fake model gateway for tests: one real server process per session, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_gateway_process import FakeGatewayServer, start_fake_gateway


@pytest.fixture(scope="session")
def fake_gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGatewayServer]:
    gateway = start_fake_gateway(
        log_path=tmp_path_factory.mktemp("fake_gateway") / "fake_gateway.log"
    )
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def fake_gateway(fake_gateway_process: FakeGatewayServer) -> FakeGatewayServer:
    """The session's fake gateway with its start config and zeroed stats."""
    fake_gateway_process.reset()
    return fake_gateway_process
