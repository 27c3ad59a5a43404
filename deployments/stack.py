"""`datagems up`: the whole service on one machine, as child processes that stop together.

    stack = Stack(settings=get_settings())
    stack.start()      # Prefect server, runner, API; prints the URLs
    stack.wait()       # until Ctrl-C / SIGTERM or a child exits
    stack.stop()

Each child runs in its own process group, so stopping reaches every process it started and the
terminal's Ctrl-C reaches only this process, which then stops the children in order: the API, the
runner (killed with its flow runs, whose runs are marked Crashed so the next start resumes their
jobs), then the Prefect server. Each child also ends when this process dies, even by SIGKILL
(deployments/parent_death.py), the runner taking its flow runs with it. A runner that dies on its
own is started again, and its jobs resume from their checkpoints. Everything lives in the data
dir, so a second `datagems up` keeps all jobs, users and Prefect history. The Prefect server
takes API calls only with the auth string kept in the data dir (deployments/prefect_auth.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TextIO

import httpx
from pydantic import SecretStr

from datagems_core.config.environment import read_environment
from datagems_core.config.settings import Settings
from datagems_core.errors import DatagemsError, ServiceUnavailable
from deployments.orphan_runs import crash_orphaned_runs
from deployments.parent_death import die_with_parent
from deployments.ports import check_port_free, connect_host
from deployments.prefect_auth import read_auth_string
from deployments.prefect_server import (
    PrefectServer,
    client_environment,
    kill_process_group,
    start_prefect_server,
    stop_process_group,
    wait_until_healthy,
)
from deployments.runner import project_file, read_deployment_specs
from deployments.served_deployments import all_served, deployment_exists
from deployments.stack_banner import banner
from flows.launch import GENERATE_DATASET, resume_unfinished_jobs

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0
# A runner that dies is started again, unless it died this many times in RUNNER_RESTART_WINDOW s.
RUNNER_RESTARTS = 5
RUNNER_RESTART_WINDOW = 600.0


class Stack:
    """The Prefect server (unless PREFECT_API_URL names one), the runner and the API."""

    def __init__(self, *, settings: Settings, out: TextIO = sys.stdout) -> None:
        self.settings = settings
        self.out = out
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.project_file = project_file(settings)
        self.server: PrefectServer | None = None
        self.runner: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.api_url = settings.prefect_api_url
        self.auth_string: str | None = None
        self._logs: list[IO[bytes]] = []
        self._mock_store_dir: Path | None = None
        self._runner_deaths: list[float] = []

    @property
    def serves_deployments(self) -> bool:
        return not self.settings.disable_worker

    def start(self) -> None:
        """Start everything and return once it all answers; on any failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        check_port_free(self.settings.app_host, self.settings.app_port, "DATAGEN_APP_PORT")
        self._start_prefect()
        if self.serves_deployments:
            asyncio.run(crash_orphaned_runs(self.api_url, self.auth_string))
        # Resume before the runner polls when the deployment is known, so no run is picked up
        # while it is being judged stale; on a first start there is no run to judge.
        resumed_early = (
            asyncio.run(deployment_exists(self.api_url, self.auth_string, GENERATE_DATASET))
            and self._resume_jobs()
        )
        if self.serves_deployments:
            self._start_runner()
        if not resumed_early:
            self._resume_jobs()
        self._start_api()
        self.say(
            banner(
                self.settings,
                api_url=self.api_url,
                has_runner=self.runner is not None,
                serves_prefect=self.server is not None,
                data_dir=self.data_dir,
                log_dir=self.log_dir,
            )
        )

    def _start_prefect(self) -> None:
        if self.settings.prefect_api_url_raw:
            self.say(f"Using the Prefect server at {self.api_url}")
            self.auth_string = os.environ.get("PREFECT_API_AUTH_STRING") or None
            wait_until_healthy(self.api_url, READY_TIMEOUT_SECONDS)
            return
        host, port = self.settings.prefect_host, self.settings.prefect_port
        check_port_free(host, port, "DATAGEMS_PREFECT_PORT")
        self.say(f"Starting the Prefect server on {host}:{port} ...")
        self.auth_string = read_auth_string(self.data_dir)
        self.server = start_prefect_server(
            data_dir=self.data_dir,
            host=host,
            port=port,
            log_path=self.log_dir / "prefect-server.log",
            timeout=READY_TIMEOUT_SECONDS,
            database_url=_secret(self.settings.database_url),
            auth_string=self.auth_string,
        )
        self.api_url = self.server.api_url

    def _child_env(self) -> dict[str, str]:
        # `.env` under the real environment, so children read the settings this process read,
        # with an absolute data dir because the runner works from the project directory.
        env = read_environment()
        env.update(client_environment(self.api_url, self.auth_string))
        env["DATAGEMS_DATA_DIR"] = str(self.data_dir)
        env.setdefault("PREFECT_HOME", str(self.data_dir / "prefect"))
        if self.settings.mock_cstore and self.settings.mock_store_file is None:
            # The API and the flow-run processes must see the same jobs: one throwaway file,
            # in the data dir so that a `datagems up` killed with -9 leaves no temp dir behind
            # (the next start clears it).
            if self._mock_store_dir is None:
                self._mock_store_dir = self.data_dir / "mock-store"
                shutil.rmtree(self._mock_store_dir, ignore_errors=True)
                self._mock_store_dir.mkdir(parents=True)
            env["DATAGEMS_MOCK_STORE_FILE"] = str(self._mock_store_dir / "mock.sqlite3")
        return env

    def _start_runner(self) -> None:
        specs = read_deployment_specs(self.project_file)
        log = self._open_log("runner.log")
        self.say("Starting the runner for prefect.yaml's deployments ...")
        self.runner = subprocess.Popen(
            [sys.executable, "-m", "deployments.runner", "--project-file", str(self.project_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            start_new_session=True,
            # Its parent-death signal makes it SIGKILL its group: itself and its flow runs.
            preexec_fn=die_with_parent(signal.SIGHUP),
        )
        entrypoints = {spec.entrypoint for spec in specs}
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not asyncio.run(all_served(self.api_url, self.auth_string, entrypoints)):
            self._check_alive(self.runner, "the runner", "runner.log")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"the runner did not serve prefect.yaml's deployments within "
                    f"{READY_TIMEOUT_SECONDS:.0f}s; see {self.log_dir / 'runner.log'}"
                )
            time.sleep(0.3)

    def _resume_jobs(self) -> bool:
        settings = self.settings.model_copy(update={"prefect_api_url_raw": self.api_url})
        resumed = asyncio.run(resume_unfinished_jobs(settings, auth_string=self.auth_string))
        if resumed:
            ids = ", ".join(job.id for job in resumed)
            self.say(f"Resumed {len(resumed)} unfinished job(s) from their checkpoints: {ids}")
        return True

    def _start_api(self) -> None:
        host, port = self.settings.app_host, self.settings.app_port
        self.say(f"Starting the API on {host}:{port} ...")
        self.api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                host,
                "--port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            env=self._child_env(),
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        health = f"http://{connect_host(host)}:{port}/api/health"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            self._check_alive(self.api, "the API", None)
            try:
                if httpx.get(health, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"the API did not answer at {health} within 90s")
            time.sleep(0.2)

    def wait(self) -> int:
        """Block until the API or the Prefect server exits (returns 1) or Ctrl-C/SIGTERM
        (returns 0); a runner that exits is started again."""
        try:
            while True:
                if self.api is not None and self.api.poll() is not None:
                    self.say(f"the API exited with code {self.api.returncode}; stopping")
                    return 1
                if self.runner is not None and self.runner.poll() is not None:
                    if not self._restart_runner():
                        return 1
                if self.server is not None and not self.server.is_running():
                    self.say("the Prefect server exited; stopping")
                    return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0

    def _restart_runner(self) -> bool:
        """Start the runner again after it died, its jobs resuming; False when it keeps dying."""
        assert self.runner is not None
        code = self.runner.returncode
        kill_process_group(self.runner)  # flow runs it left would run their jobs twice
        now = time.monotonic()
        self._runner_deaths = [t for t in self._runner_deaths if now - t < RUNNER_RESTART_WINDOW]
        self._runner_deaths.append(now)
        if len(self._runner_deaths) > RUNNER_RESTARTS:
            self.say(
                f"the runner exited with code {code}, {len(self._runner_deaths)} times in "
                f"{RUNNER_RESTART_WINDOW / 60:.0f} minutes; stopping (see "
                f"{self.log_dir / 'runner.log'})"
            )
            return False
        self.say(f"the runner exited with code {code}; starting it again")
        try:
            self._crash_orphans_on_stop()
            self._resume_jobs()
            self._start_runner()
        except DatagemsError as exc:
            self.say(f"could not start the runner again: {exc.message}; stopping")
            return False
        return True

    def stop(self) -> None:
        """Stop the API, then the runner and its flow runs, then the Prefect server."""
        if self.api is not None:
            stop_process_group(self.api, timeout=STOP_TIMEOUT_SECONDS)
        if self.runner is not None:
            # Killed, not stopped gracefully: a graceful runner stop cancels its flow runs,
            # which would end their jobs as cancelled instead of resuming them.
            kill_process_group(self.runner)
            self._crash_orphans_on_stop()
        if self.server is not None:
            self.server.stop()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._mock_store_dir is not None:
            shutil.rmtree(self._mock_store_dir, ignore_errors=True)
            self._mock_store_dir = None

    def _crash_orphans_on_stop(self) -> None:
        try:
            asyncio.run(crash_orphaned_runs(self.api_url, self.auth_string))
        except DatagemsError as exc:
            # Not fatal: the next start marks them again before resuming their jobs.
            self.say(f"could not mark the interrupted flow runs Crashed: {exc.message}")

    def _check_alive(
        self, process: subprocess.Popen[bytes], name: str, log_name: str | None
    ) -> None:
        if process.poll() is not None:
            where = f"; see {self.log_dir / log_name}" if log_name else " (its output is above)"
            raise ServiceUnavailable(f"{name} exited with code {process.returncode}{where}")

    def _open_log(self, name: str) -> IO[bytes]:
        log = (self.log_dir / name).open("ab")
        self._logs.append(log)
        return log

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
