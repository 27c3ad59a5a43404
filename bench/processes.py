"""Processes the benchmarks start: servers on free ports, one-case children, CPU of process trees.

A child inherits the CPU affinity of the thread that starts it, so `pinned(cpu)` around a start
puts that process (and everything it starts) on `cpu`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.machine import REPO, can_pin

RESULT_MARK = "BENCH-RESULT "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the block (and the processes it starts) on `cpu`; no-op when pinning is not possible."""
    if cpu is None or not can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
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

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(
    args: Sequence[str],
    *,
    url: str,
    health_path: str,
    log_path: Path,
    cpu: int | None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> ServerProcess:
    """Run `python args...` (on `cpu`) and wait until GET url+health_path answers below 500."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log, pinned(cpu):
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
    server.stop()
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


def emit_result(result: dict[str, Any]) -> None:
    """How a one-case child hands its figures to the parent: one marked JSON line on stdout."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_child(
    module: str,
    args: Sequence[str],
    *,
    cpu: int | None,
    env: dict[str, str] | None = None,
    log_path: Path,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run `python -m module args...` on `cpu` and return the result it emitted."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with pinned(cpu):
        completed = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            env=child_env(env),
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
    log_path.write_text(completed.stdout + "\n--- stderr ---\n" + completed.stderr)
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    tail = "\n".join(completed.stderr.splitlines()[-25:])
    raise RuntimeError(
        f"bench case {module} {' '.join(args)} exited {completed.returncode} without a result "
        f"(log: {log_path}):\n{tail}"
    )
