"""Start real server processes on 127.0.0.1 for tests, on a free port, and stop them cleanly."""

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

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

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
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONPATH", str(REPO))
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO
    )
    server = ServerProcess(process=process, url=url, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {args} exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(url + health_path, timeout=1).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server {args} did not answer within {timeout}s:\n{server.log()}")
