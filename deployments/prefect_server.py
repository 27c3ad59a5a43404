"""The Prefect server DataGems runs: a real server process with its SQLite database in the data dir.

    server = start_prefect_server(data_dir=Path(".datagems"), host="127.0.0.1", port=4200,
                                  log_path=Path(".datagems/prefect.log"))
    ...  # clients use server.env() / server.api_url
    server.stop()

`python -m deployments.prefect_server` is the child process itself: uvicorn on Prefect's app
factory, configured by the PREFECT_* environment that `start_prefect_server` sets. It is lighter
than `prefect server start` (no CLI start-up) and serves the same app, UI and services.

With an `auth_string` the server answers 401 to any API call without it (Prefect's
PREFECT_SERVER_API_AUTH_STRING, HTTP basic auth; `/api/health` stays open); clients get it as
PREFECT_API_AUTH_STRING from `server.env()`. `datagems up` and `datagems server` keep one in the
data dir (`auth_string_path`), made once with mode 0600. The child gets SIGTERM when its parent
dies, however it dies, and then removes the directory it was given to own (`owned_dir`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from datagems_core.errors import ServiceUnavailable
from deployments.parent_death import die_with_parent
from deployments.prefect_database import prefect_database_environment

# The task-run recorder writes one task run per transaction by default; batching them cuts the
# server's CPU per task run about 2.4 times (measured, see DESIGN.md).
TASK_RUN_RECORDER_BATCH_SIZE = 100
# A job run waiting for the per-deployment concurrency cap is looked at again after this long
# (Prefect's default is 30 s, which left queued jobs idle for up to half a minute).
CONCURRENCY_SLOT_WAIT_SECONDS = 3
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0

_WILDCARD_HOSTS = ("0.0.0.0", "::", "")
_OWNED_DIR_VAR = "DATAGEMS_PREFECT_OWNED_DIR"


def server_environment(
    *,
    data_dir: Path,
    host: str,
    port: int,
    database_url: str | None = None,
    auth_string: str | None = None,
) -> dict[str, str]:
    """PREFECT_* settings for the server process; a value already in os.environ wins.

    PostgreSQL when PREFECT_SERVER_DATABASE_CONNECTION_URL names it, or on DataGems' own
    PostgreSQL server (`database_url`, DATAGEMS_DATABASE_URL): see prefect_database.
    """
    home = data_dir / "prefect"
    api_url = _api_url(host, port)
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
        "PREFECT_SERVER_UI_ENABLED": "true",
        "PREFECT_SERVER_UI_API_URL": api_url,
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": str(TASK_RUN_RECORDER_BATCH_SIZE),
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": str(
            CONCURRENCY_SLOT_WAIT_SECONDS
        ),
    }
    if "PREFECT_API_DATABASE_CONNECTION_URL" in os.environ:
        del defaults["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    env = {name: os.environ.get(name, value) for name, value in defaults.items()}
    env.update(prefect_database_environment(database_url, os.environ))
    # Where this process listens is ours to say, whatever the environment holds.
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    if auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    return env


def client_environment(api_url: str, auth_string: str | None = None) -> dict[str, str]:
    """The PREFECT_* environment a client process (runner, flow run, API) needs for this server."""
    env = {
        "PREFECT_API_URL": api_url,
        "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": os.environ.get(
            "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS", "false"
        ),
    }
    if auth_string:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return env


@dataclass
class PrefectServer:
    """A running Prefect server process (in its own process group) and where to reach it."""

    process: subprocess.Popen[bytes]
    api_url: str
    ui_url: str
    log_path: Path
    auth_string: str | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        return client_environment(self.api_url, self.auth_string)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `timeout` seconds."""
        stop_process_group(self.process, timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PrefectServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_prefect_server(
    *,
    data_dir: Path,
    host: str,
    port: int,
    log_path: Path,
    timeout: float = START_TIMEOUT_SECONDS,
    database_url: str | None = None,
    auth_string: str | None = None,
    owned_dir: Path | None = None,
) -> PrefectServer:
    """Start a Prefect server process and return once `/api/health` answers.

    With `auth_string`, every API call but the health check needs it. The process removes
    `owned_dir` when it ends (a temporary server's directory), even if this process was killed.

    Raises:
        ServiceUnavailable: the process exited or did not answer within `timeout` seconds;
            the message carries the end of its log.
    """
    data_dir = data_dir.resolve()
    (data_dir / "prefect").mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **server_environment(
            data_dir=data_dir,
            host=host,
            port=port,
            database_url=database_url,
            auth_string=auth_string,
        ),
    }
    if owned_dir is not None:
        env[_OWNED_DIR_VAR] = str(owned_dir.resolve())
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "deployments.prefect_server"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group, so stop() reaches every child
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    api_url = _api_url(host, port)
    server = PrefectServer(
        process=process,
        api_url=api_url,
        ui_url=api_url.removesuffix("/api"),
        log_path=log_path,
        auth_string=auth_string,
        _log=log,
    )
    try:
        wait_until_healthy(api_url, timeout, process=process)
    except BaseException as exc:
        server.stop()
        if isinstance(exc, ServiceUnavailable):
            raise ServiceUnavailable(f"{exc.message}\n{server.log_tail()}") from None
        raise
    return server


def wait_until_healthy(
    api_url: str, timeout: float, *, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `{api_url}/health` until it answers 200; raise ServiceUnavailable after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise ServiceUnavailable(
                    f"the Prefect server exited with code {process.returncode} before it was ready"
                )
            try:
                response = client.get(f"{api_url}/health")
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(
                    f"the Prefect server at {api_url} was not healthy within {timeout:.0f}s "
                    f"({last_error})"
                )
            time.sleep(0.1)


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child started with start_new_session=True and everything in its group."""
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def stop_process_group(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM a child started with start_new_session=True and its group; SIGKILL after timeout."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    # The leader may be gone while children it started linger in its group.
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _api_url(host: str, port: int) -> str:
    connect_host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in connect_host:
        connect_host = f"[{connect_host}]"
    return f"http://{connect_host}:{port}/api"


def _exit_on_signal(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


def _serve(environ: Mapping[str, str]) -> None:
    """Run the server in this process (the child `start_prefect_server` starts)."""
    import uvicorn
    from prefect.server.api.server import create_app

    # uvicorn stops gracefully on SIGTERM and then raises the signal again under the handler
    # found at its start: this one, so that the directory is removed before the process ends.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(
            create_app(final=True),
            host=environ["PREFECT_SERVER_API_HOST"],
            port=int(environ["PREFECT_SERVER_API_PORT"]),
            log_level="info",
            access_log=False,  # one line per API call would dwarf the useful log
            timeout_keep_alive=5,
        )
    finally:
        if owned := environ.get(_OWNED_DIR_VAR):
            shutil.rmtree(owned, ignore_errors=True)


if __name__ == "__main__":
    _serve(os.environ)
