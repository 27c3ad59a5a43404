"""What the benchmarks run against: the fake gateway and a Prefect server, each its own process.

    with open_stack(root=Path("/tmp/bench")) as stack:
        stack.gateway.configure(latency_ms=200)
        result = stack.run_job_case(...)

Both servers run on the server CPU, apart from the client. The Prefect server is DataGems' own
(`deployments.prefect_server.start_prefect_server`, in the bench's directory) unless the API URL
of a running one is given; its CPU is that of its whole process tree.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.cases import run_child
from bench.machine import CLIENT_CPU, SERVER_CPU, pinned
from deployments.prefect_server import PrefectServer, client_environment, start_prefect_server
from tests.support.fake_gateway_process import FakeGatewayServer, start_fake_gateway
from tests.support.processes import free_port, tree_cpu_seconds

# Each reply the record of its request number, so a baseline and a job over the same N see the
# same records; the workload's ticket ids distinct, as real ones.
BENCH_GATEWAY = {"numbered_records": True, "numbered_ids": {"ticket_id": "TCK-"}, "record_seed": 99}
DRAIN_IDLE_SHARE = 0.05  # the server counts as idle below 5 % of a core
DRAIN_LIMIT_SECONDS = 60.0


@dataclass
class Stack:
    root: Path
    gateway: FakeGatewayServer
    prefect_api_url: str | None
    prefect_pid: int | None
    _cases: dict[str, int] = field(default_factory=dict)

    def case_dir(self, name: str) -> Path:
        """A fresh directory for one case (its data dir and logs)."""
        count = self._cases.get(name, 0) + 1
        self._cases[name] = count
        path = self.root / f"{name}-{count}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def job_env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        env = {
            "DATAGEMS_DATA_DIR": str(data_dir),
            "PREFECT_HOME": str(self.root / "prefect-client"),
            **extra,
        }
        if self.prefect_api_url:
            env.update(client_environment(self.prefect_api_url))
        return env

    def prefect_cpu(self) -> float:
        return tree_cpu_seconds(self.prefect_pid) if self.prefect_pid else 0.0

    def drain_prefect(self) -> float:
        """Wait until the Prefect server has worked off what the client sent; returns seconds."""
        if not self.prefect_pid:
            return 0.0
        started = time.monotonic()
        last = self.prefect_cpu()
        while time.monotonic() - started < DRAIN_LIMIT_SECONDS:
            time.sleep(0.5)
            now = self.prefect_cpu()
            if now - last < DRAIN_IDLE_SHARE * 0.5:
                break
            last = now
        return time.monotonic() - started

    def run_job_case(self, name: str, args: list[str], **env: str) -> dict[str, Any]:
        """Run `bench.job_runner args` on the client CPU with a fresh data dir, counting the
        Prefect server's CPU (until it is idle again) and what the gateway saw."""
        case = self.case_dir(name)
        self.gateway.clear()
        before = self.prefect_cpu()
        result = run_child(
            "bench.job_runner",
            args,
            cpu=CLIENT_CPU,
            env=self.job_env(case / "data", **env),
            log_path=case / "client.log",
        )
        result["prefect_drain_s"] = self.drain_prefect()
        result["prefect_cpu_s"] = self.prefect_cpu() - before
        result["gateway"] = self.gateway.stats()
        return result

    def run_baseline_case(self, name: str, args: list[str]) -> dict[str, Any]:
        case = self.case_dir(name)
        self.gateway.clear()
        result = run_child(
            "bench.baseline",
            ["--url", self.gateway.openai_base + "/chat/completions", *args],
            cpu=CLIENT_CPU,
            log_path=case / "client.log",
        )
        result["gateway"] = self.gateway.stats()
        return result


def _listening_pid(url: str) -> int | None:
    port = urlsplit(url).port
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    except psutil.AccessDenied:
        return None
    return None


@contextmanager
def open_stack(
    *, root: Path, prefect_api_url: str | None = None, with_prefect: bool = True
) -> Iterator[Stack]:
    """Start the gateway and (unless `prefect_api_url` names a running one) a Prefect server."""
    root.mkdir(parents=True, exist_ok=True)
    with pinned(SERVER_CPU):
        gateway = start_fake_gateway(log_path=root / "gateway.log", **BENCH_GATEWAY)
    server: PrefectServer | None = None
    try:
        pid = None
        if with_prefect and prefect_api_url is None:
            with pinned(SERVER_CPU):
                server = start_prefect_server(
                    data_dir=root / "prefect",
                    host="127.0.0.1",
                    port=free_port(),
                    log_path=root / "prefect-server.log",
                )
            prefect_api_url, pid = server.api_url, server.process.pid
        elif prefect_api_url:
            pid = _listening_pid(prefect_api_url)
        yield Stack(root=root, gateway=gateway, prefect_api_url=prefect_api_url, prefect_pid=pid)
    finally:
        if server is not None:
            server.stop()
        gateway.stop()
