"""The fake model gateway as a process of its own (tests.support.fake_gateway), and its handle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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
        """Back to the start settings, with zeroed counters."""
        httpx.post(self.url + "/__fake/reset", timeout=10).raise_for_status()

    def clear(self) -> None:
        """Zero the counters, keeping the settings."""
        httpx.post(self.url + "/__fake/clear", timeout=10).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/__fake/stats", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> None:
        self.process.stop()


def start_fake_gateway(*, log_path: Path, **config: Any) -> FakeGatewayServer:
    """Start the fake gateway on a free port with these start settings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "tests.support.fake_gateway", "--port", str(port)]
    if config:
        args += ["--config", json.dumps(config)]
    process = start_server(args, url=url, health_path="/v1/models", log_path=log_path)
    return FakeGatewayServer(process=process, url=url)
