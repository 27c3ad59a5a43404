"""The Ratio1 stand-in node (CStore + R1FS) as a real server process, one per test session.

`ratio1_standin` starts it once; `ratio1_node` hands it to a test in normal mode and puts it
back in normal mode afterwards, so fault tests can switch modes without leaking into others;
`ratio1_env` also points DataGems' settings at it (EE_CHAINSTORE_API_URL, EE_R1FS_API_URL,
R1EN_CHAINSTORE_PEERS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from datagems_core.config.settings import get_settings
from tests.support.processes import ServerProcess, free_port, start_server
from tests.support.ratio1_standin import NODE_ADDR, PEER_ADDR


@dataclass
class Ratio1Standin:
    server: ServerProcess
    state_path: Path

    @property
    def url(self) -> str:
        return self.server.url

    def set_mode(self, mode: str) -> None:
        """normal | no-peers | unconfirmed | error500 | hang (see tests/support/ratio1_standin.py)."""
        response = httpx.post(f"{self.url}/__standin/mode", json={"mode": mode}, timeout=10)
        response.raise_for_status()

    def requests(self) -> int:
        """How many API calls (not /__standin ones) the node has received so far."""
        response = httpx.get(f"{self.url}/__standin/requests", timeout=10)
        response.raise_for_status()
        return int(response.json()["requests"])

    def state(self) -> dict[str, dict[str, object]]:
        """What the node persisted: {"cstore": {flat key: value}, "r1fs": {cid: ...}}."""
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {}


@pytest.fixture(scope="session")
def ratio1_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ratio1Standin]:
    directory = tmp_path_factory.mktemp("ratio1")
    port = free_port()
    state_path = directory / "state.json"
    args = ["-m", "tests.support.ratio1_standin", "--port", str(port), "--state", str(state_path)]
    server = start_server(
        args,
        url=f"http://127.0.0.1:{port}",
        health_path="/get_status",
        log_path=directory / "standin.log",
    )
    try:
        yield Ratio1Standin(server=server, state_path=state_path)
    finally:
        server.stop()


@pytest.fixture
def ratio1_node(ratio1_standin: Ratio1Standin) -> Iterator[Ratio1Standin]:
    ratio1_standin.set_mode("normal")
    yield ratio1_standin
    ratio1_standin.set_mode("normal")


@pytest.fixture
def ratio1_env(ratio1_node: Ratio1Standin, monkeypatch: pytest.MonkeyPatch) -> Ratio1Standin:
    monkeypatch.setenv("EE_CHAINSTORE_API_URL", ratio1_node.url)
    monkeypatch.setenv("EE_R1FS_API_URL", ratio1_node.url)
    monkeypatch.setenv("R1EN_CHAINSTORE_PEERS", json.dumps([NODE_ADDR, PEER_ADDR]))
    get_settings.cache_clear()
    return ratio1_node
