"""The whole service for end-to-end tests: one Prefect server (the session's), the runner that
serves DataGems' deployments as a real process, the fake model gateway, and the API.

Every process shares one data dir with the embedded SQLite store (never the memory store: the
API, the runner and each flow run are separate processes). The runner runs in its own process
group, so `kill_runner()` takes its flow runs down with it, as a machine stopping would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import DeploymentStatus

from api.main import create_app
from datagems_core.accounts.users import create_user
from datagems_core.config.settings import Settings, load_settings
from datagems_core.store.factory import open_store
from deployments.prefect_server import PrefectServer
from flows.launch import DEPLOYMENTS
from tests.e2e.peer_fixtures import peer_cluster  # noqa: F401  (the two-peer cluster)
from tests.support.api_fixtures import CSRF, login
from tests.support.fake_gateway_process import FakeGatewayServer
from tests.support.processes import REPO

T = TypeVar("T")
USER, PASSWORD = "erin", "erin-password-for-e2e"
ADMIN_PASSWORD = "admin-password-for-e2e"
_OURS = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_", "PREFECT_")


def wait_for(
    check: Callable[[], T | None], *, timeout: float, what: str, log: Callable[[], str] = str
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` (and a log) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()}")
        time.sleep(0.25)


@dataclass
class Stack:
    prefect: PrefectServer
    gateway: FakeGatewayServer
    data_dir: Path
    settings: Settings
    env: dict[str, str]
    log_path: Path
    runner: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    def start_runner(self) -> None:
        """Start `deployments/runner.py` and wait until every deployment is served."""
        self._log = self.log_path.open("ab")
        self.runner = subprocess.Popen(
            [sys.executable, "-m", "deployments.runner"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._all_served, timeout=90, what="the runner to serve", log=self.runner_log)

    def kill_runner(self) -> None:
        """kill -9 the runner and every flow run it started."""
        if self.runner is not None:
            _signal_group(self.runner.pid, signal.SIGKILL)
            self.runner.wait()

    def stop_runner(self) -> None:
        if self.runner is not None and self.runner.poll() is None:
            _signal_group(self.runner.pid, signal.SIGTERM)
            try:
                self.runner.wait(20)
            except subprocess.TimeoutExpired:
                _signal_group(self.runner.pid, signal.SIGKILL)
                self.runner.wait()
        _signal_group(self.runner.pid if self.runner else 0, signal.SIGKILL)
        if self._log is not None:
            self._log.close()

    def runner_log(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no runner log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "runner log:\n" + "\n".join(text[-lines:])

    def ask_prefect(self, call: Callable[[PrefectClient], Any]) -> Any:
        """Run `await call(client)` against the session's Prefect server."""

        async def run() -> Any:
            async with PrefectClient(self.prefect_server_url) as client:
                return await call(client)

        return asyncio.run(run())

    @property
    def prefect_server_url(self) -> str:
        return self.prefect.api_url

    def _all_served(self) -> bool:
        if self.runner is not None and self.runner.poll() is not None:
            raise AssertionError(f"the runner exited\n{self.runner_log()}")

        async def served(client: PrefectClient) -> bool:
            for name in DEPLOYMENTS:
                try:
                    deployment = await client.read_deployment_by_name(name)
                except Exception:  # not registered yet
                    return False
                if deployment.status != DeploymentStatus.READY:
                    return False
            return True

        return bool(self.ask_prefect(served))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    if pid <= 0:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="session")
def stack(
    prefect_server: PrefectServer,
    fake_gateway_process: FakeGatewayServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    ours = {
        "PYTHONPATH": str(REPO),
        "PREFECT_HOME": str(data_dir / "prefect-client"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "DATAGEMS_DATA_DIR": str(data_dir),
        "DATAGEN_INFERENCE_BASE_URL": fake_gateway_process.openai_base,
        "DATAGEN_UPDATE_EVERY_K_REQUESTS": "5",
        "DATAGEMS_INFERENCE_MAX_ATTEMPTS": "2",
        # user profiles may point at loopback test gateways; calls are logged (redacted) by the
        # flow-run processes that make them (tests/e2e/test_secrets_in_runs.py)
        "DATAGEMS_ALLOWED_INFERENCE_HOSTS": "127.0.0.1",
        "LOG_INFERENCE_REQUESTS": "true",
        **prefect_server.env(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(ours)
    settings = load_settings(
        None,
        data_dir=data_dir,
        prefect_api_url_raw=prefect_server.api_url,
        inference_base_url_raw=fake_gateway_process.openai_base,
        update_every_k=5,
        bootstrap_admin_password=ADMIN_PASSWORD,
        allowed_inference_hosts="127.0.0.1",
    )
    asyncio.run(_create_user(settings))
    stack = Stack(
        prefect=prefect_server,
        gateway=fake_gateway_process,
        data_dir=data_dir,
        settings=settings,
        env=env,
        log_path=data_dir / "runner.log",
    )
    stack.start_runner()
    try:
        yield stack
    finally:
        stack.stop_runner()


async def _create_user(settings: Settings) -> None:
    store = open_store(settings)
    try:
        await create_user(store, settings, USER, PASSWORD)
    finally:
        await store.close()


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[TestClient]:
    """The API (this process, SQLite store in the stack's data dir) with `erin` signed in."""
    with TestClient(create_app(stack.settings), headers=CSRF) as api:
        login(api, USER, PASSWORD)
        yield api


@pytest.fixture
def gateway(stack: Stack) -> Iterator[FakeGatewayServer]:
    """The fake gateway with its start config; reset again afterwards for the next test."""
    stack.gateway.reset()
    yield stack.gateway
    stack.gateway.reset()
