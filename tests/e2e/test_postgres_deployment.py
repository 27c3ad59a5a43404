"""Several machines on nothing but PostgreSQL and Prefect: docs/running.md's recipe, run as written.

Each "machine" is a process with a data dir of its own, and all they share is the test session's
PostgreSQL server (DATAGEMS_DATABASE_URL) and the Prefect server `datagems server` runs on a
database of its own there: `datagems server`, `datagems deploy`, `datagems worker`, and the API
(`datagems up` with DATAGEN_DISABLE_WORKER=true). A job made through the API runs on the worker
and exports; nothing is written to any data dir's SQLite store or file directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from deployments.prefect_server import stop_process_group
from tests.support.api_fixtures import CSRF
from tests.support.fake_gateway_process import FakeGatewayServer
from tests.support.postgres import PostgresServer
from tests.support.processes import REPO, free_port
from tests.support.schemas import PEOPLE_SCHEMA

DATAGEMS = str(Path(sys.executable).parent / "datagems")
ADMIN_PASSWORD = "admin-password-for-the-pg-e2e"
_OURS = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_", "PREFECT_")

pytestmark = pytest.mark.timeout(600)


class Machines:
    """The processes of the recipe, each in its own process group and data dir."""

    def __init__(self, root: Path, base_env: dict[str, str]) -> None:
        self.root = root
        self.base_env = base_env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def env(self, name: str, **extra: str) -> dict[str, str]:
        data_dir = self.root / name
        data_dir.mkdir(exist_ok=True)
        return {**self.base_env, "DATAGEMS_DATA_DIR": str(data_dir), **extra}

    def start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [DATAGEMS, *args],
                env=self.env(name, **extra),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))
        return process

    def run(self, name: str, args: list[str], **extra: str) -> str:
        done = subprocess.run(
            [DATAGEMS, *args], env=self.env(name, **extra), cwd=REPO,
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            for path in sorted(self.root.glob("*.log"))
        )

    def wait_healthy(self, url: str, process: subprocess.Popen[bytes], what: str) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{what} exited\n{self.logs()}"
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{what} did not answer at {url}\n{self.logs()}")

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            stop_process_group(process, timeout=20)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    base["PYTHONPATH"] = str(REPO)
    group = Machines(tmp_path, base)
    try:
        yield group
    finally:
        group.stop()


def test_a_job_runs_on_a_worker_with_only_postgres_and_prefect_shared(
    postgres_server: PostgresServer, fake_gateway_process: FakeGatewayServer, machines: Machines
):
    database_url = postgres_server.create_database("datagems")
    machines.base_env.update(
        DATAGEMS_DATABASE_URL=database_url,
        R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD=ADMIN_PASSWORD,
        DATAGEN_INFERENCE_BASE_URL=fake_gateway_process.openai_base,
        DATAGEN_UPDATE_EVERY_K_REQUESTS="5",
    )
    prefect_port, app_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{prefect_port}/api"

    # Machine 1: the Prefect server, on a database of its own on the PostgreSQL server.
    server = machines.start("server", ["server"], DATAGEMS_PREFECT_PORT=str(prefect_port))
    machines.wait_healthy(f"{api_url}/health", server, "the Prefect server")
    machines.base_env["PREFECT_API_URL"] = api_url
    # The server's door: every other machine gets its generated auth string (docs/running.md).
    secret = (machines.root / "server" / "prefect-auth-string").read_text().strip()
    machines.base_env["PREFECT_API_AUTH_STRING"] = secret
    # Once, from any machine: the deployments onto the work pool.
    machines.run("deployer", ["deploy"])
    # Machine 2: a worker. Machine 3: the API, without a runner of its own.
    machines.start("worker", ["worker"])
    api = machines.start(
        "api", ["up"], DATAGEN_DISABLE_WORKER="true", DATAGEN_APP_PORT=str(app_port)
    )
    app = f"http://127.0.0.1:{app_port}"
    machines.wait_healthy(f"{app}/api/health", api, "the API")

    with httpx.Client(base_url=app, headers=CSRF, timeout=30) as client:
        login = client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        created = client.post(
            "/api/jobs",
            json={
                "title": "People on PostgreSQL",
                "description": "Fictional customers",
                "instructions": "Fictional customers of a software shop",
                "schema": PEOPLE_SCHEMA,
                "totalRecords": 40,
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]
        view = _wait_until_finished(client, job_id, machines)
        assert view["job"]["status"] == "succeeded", view["job"]
        assert view["progress"]["ok"] == 40
        export = client.get(f"/api/jobs/{job_id}/export", params={"format": "jsonl"})
        assert export.status_code == 200, export.text
        rows = [json.loads(line) for line in export.text.splitlines() if line]
        assert len(rows) == 40

    with psycopg.connect(database_url) as db:
        (keys,) = db.execute("SELECT count(*) FROM datagems_kv").fetchone()
        (files,) = db.execute("SELECT count(*) FROM datagems_files").fetchone()
    assert keys > 0 and files > 0  # state and files live in PostgreSQL ...
    for name in ("server", "deployer", "worker", "api"):  # ... and nowhere else
        data_dir = machines.root / name
        assert not (data_dir / "store.sqlite3").exists(), name
        assert not (data_dir / "files").exists(), name
    # Prefect's own records are in its database on the same server.
    deadline = time.monotonic() + 90
    while True:
        with psycopg.connect(postgres_server.url("datagems_prefect")) as db:
            runs = db.execute(
                "SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id"
            ).fetchall()
        states = {(name, str(state)) for name, state in runs}
        if ("generate-dataset", "COMPLETED") in states:
            break
        assert time.monotonic() < deadline, f"{states}\n{machines.logs()}"
        time.sleep(1)


def _wait_until_finished(client: httpx.Client, job_id: str, machines: Machines) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        view = response.json()
        if view["job"]["status"] in ("succeeded", "failed", "cancelled"):
            return view
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish\n{machines.logs()}")
