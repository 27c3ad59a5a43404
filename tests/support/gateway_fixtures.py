"""The fake model gateway for tests: one real server process per session, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import ServerProcess, free_port, start_server


@dataclass
class FakeGatewayServer:
    """Handle on the fake gateway process: its URLs and its control endpoints."""

    process: ServerProcess
    url: str

    @property
    def openai_base(self) -> str:
        """Base URL for the OpenAI flavour (`{base}/chat/completions`)."""
        return self.url + "/v1"

    @property
    def ratio1_base(self) -> str:
        """Base URL for the Ratio1 flavour (`{base}/create_chat_completion`)."""
        return self.url

    def configure(self, **config: Any) -> dict[str, Any]:
        response = httpx.post(self.url + "/__fake/config", json=config, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        httpx.post(self.url + "/__fake/reset", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/__fake/stats", timeout=10)
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture(scope="session")
def fake_gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGatewayServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path: Path = tmp_path_factory.mktemp("fake_gateway") / "fake_gateway.log"
    process = start_server(
        ["-m", "tests.support.fake_gateway", "--port", str(port)],
        url=url,
        health_path="/v1/models",
        log_path=log_path,
    )
    try:
        yield FakeGatewayServer(process=process, url=url)
    finally:
        process.stop()


@pytest.fixture
def fake_gateway(fake_gateway_process: FakeGatewayServer) -> FakeGatewayServer:
    """The session's fake gateway with its start config and zeroed stats."""
    fake_gateway_process.reset()
    return fake_gateway_process
