"""Two Ratio1 peers on one machine, as real processes: the multi-machine path end to end.

One Prefect server, the CStore + R1FS stand-in as the state both peers share (as on Ratio1),
`datagems deploy` once, and per peer its own fake model gateway and its own `datagems worker`
(its own `R1EN_HOST_ADDR`, so its own work queue, and its own `DATAGEN_INFERENCE_BASE_URL`).

The Prefect server is this module's own, not the session's: the e2e `stack` runner serves the
same deployment names on the session server and would take these runs, which is exactly what
docs/running.md warns an operator against ("one `datagems up` per Prefect server").
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import WorkerStatus

from datagems_core.config.settings import Settings, load_settings
from deployments.prefect_server import PrefectServer, start_prefect_server, stop_process_group
from tests.support.fake_gateway_process import FakeGatewayServer, start_fake_gateway
from tests.support.processes import REPO, free_port
from tests.support.ratio1_fixtures import Ratio1Standin

T = TypeVar("T")
PEERS = ("0xai_A", "0xai_B")
WORK_POOL = "datagems"
DATAGEMS = str(Path(sys.executable).parent / "datagems")
_OURS = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_", "PREFECT_")


@dataclass
class Peer:
    """One peer: its address, its gateway, its worker process (own process group) and log."""

    addr: str
    gateway: FakeGatewayServer
    env: dict[str, str]
    log_path: Path
    worker: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    def start_worker(self) -> None:
        self._log = self.log_path.open("ab")
        self.worker = subprocess.Popen(
            [DATAGEMS, "worker"],
            cwd=self.log_path.parent,  # the worker finds the project next to its package
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_worker(self) -> None:
        """Ctrl-C the worker's group (as an operator would), SIGKILL what is left after 20 s.

        Prefect starts each flow run in a session of its own, which outlives the worker's group:
        any run still going is ended by pid, so no process outlives the test.
        """
        if self.worker is not None:
            try:
                runs = psutil.Process(self.worker.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                runs = []
            if self.worker.poll() is None:
                try:
                    os.killpg(self.worker.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            stop_process_group(self.worker, timeout=20)
            _end(runs)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return f"(no log for peer {self.addr})"
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"worker {self.addr} log:\n" + "\n".join(text[-lines:])


@dataclass
class PeerCluster:
    prefect: PrefectServer
    standin: Ratio1Standin
    peers: dict[str, Peer]
    settings: Settings  # this process' view of the shared state (the stand-in)

    def ask_prefect(self, call: Callable[[PrefectClient], Any]) -> Any:
        """Run `await call(client)` against this cluster's Prefect server."""

        async def run() -> Any:
            async with PrefectClient(self.prefect.api_url) as client:
                return await call(client)

        return asyncio.run(run())

    def logs(self) -> str:
        return "\n".join(peer.log() for peer in self.peers.values())

    def reset_gateways(self) -> None:
        for peer in self.peers.values():
            peer.gateway.reset()


def _end(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, log: Callable[[], str]
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def peer_cluster(
    ratio1_standin: Ratio1Standin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PeerCluster]:
    root = tmp_path_factory.mktemp("peers")
    prefect = start_prefect_server(
        data_dir=root / "prefect-server",
        host="127.0.0.1",
        port=free_port(),
        log_path=root / "prefect-server" / "prefect.log",
    )
    peers: dict[str, Peer] = {}
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        base.update(
            {
                "PYTHONPATH": str(REPO),
                **prefect.env(),
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "EE_CHAINSTORE_API_URL": ratio1_standin.url,
                "EE_R1FS_API_URL": ratio1_standin.url,
                "R1EN_CHAINSTORE_PEERS": json.dumps(list(PEERS)),
                "DATAGEN_UPDATE_EVERY_K_REQUESTS": "2",
                "DATAGEMS_INFERENCE_MAX_ATTEMPTS": "2",
            }
        )
        for addr in PEERS:
            directory = root / addr
            directory.mkdir()
            gateway = start_fake_gateway(log_path=directory / "fake_gateway.log")
            env = {
                **base,
                "PREFECT_HOME": str(directory / "prefect-client"),
                "DATAGEMS_DATA_DIR": str(directory / "data"),
                "R1EN_HOST_ADDR": addr,
                "DATAGEN_INFERENCE_BASE_URL": gateway.openai_base,
                "DATAGEMS_INFERENCE_FLAVOUR": "openai",
            }
            peers[addr] = Peer(
                addr=addr, gateway=gateway, env=env, log_path=directory / "worker.log"
            )
        cluster = PeerCluster(
            prefect=prefect,
            standin=ratio1_standin,
            peers=peers,
            settings=load_settings(
                None,
                data_dir=root / "client",
                cstore_url=ratio1_standin.url,
                r1fs_url=ratio1_standin.url,
            ),
        )
        for peer in peers.values():  # workers may come first: each sets up the pool and its queue
            peer.start_worker()
        _deploy(peers[PEERS[0]].env, root / "deploy.log")
        wait_until(
            lambda: _workers_online(cluster),
            timeout=60,
            what="both peers' workers to come online",
            log=cluster.logs,
        )
        yield cluster
    finally:
        for peer in peers.values():
            peer.stop_worker()
        for peer in peers.values():
            peer.gateway.process.stop()
        prefect.stop()


def _deploy(env: dict[str, str], log_path: Path) -> None:
    """`datagems deploy` once, from one peer (any machine with the project would do)."""
    completed = subprocess.run(
        [DATAGEMS, "deploy"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log_path.write_text(completed.stdout + completed.stderr)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _workers_online(cluster: PeerCluster) -> bool:
    for peer in cluster.peers.values():
        if peer.worker is not None and peer.worker.poll() is not None:
            raise AssertionError(f"the worker of {peer.addr} exited\n{peer.log()}")

    async def online(client: PrefectClient) -> set[str]:
        workers = await client.read_workers_for_work_pool(WORK_POOL)
        return {w.name for w in workers if w.status == WorkerStatus.ONLINE}

    names = cluster.ask_prefect(online)
    return all(f"datagems-{addr}" in names for addr in cluster.peers)
