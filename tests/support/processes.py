"""Processes tests and benchmarks start: servers on free ports of 127.0.0.1, CPU of process trees.

A child inherits the CPU affinity of the thread that starts it, so a benchmark that starts a
server inside `bench.machine.pinned(cpu)` puts that server (and what it starts) on `cpu`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, with the repository first on PYTHONPATH."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(
    args: Sequence[str],
    *,
    url: str,
    health_path: str = "/",
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> ServerProcess:
    """Run `python args...` and wait until GET url+health_path answers (any status below 500)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(env),
            cwd=REPO,
        )
    server = ServerProcess(process=process, url=url, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{' '.join(args)} exited with {process.returncode}:\n{server.log()}"
            )
        try:
            if httpx.get(url + health_path, timeout=2).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"{' '.join(args)} did not answer within {timeout}s:\n{server.log()}")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total
