"""A worker killed -9 mid-shard, or the one running the job run itself: the job still ends with
every record exactly once, unattended.

docs/running.md's multi-machine recipe on the session's PostgreSQL: `datagems server`,
`datagems deploy` (which installs the heartbeat automation), the API (`datagems up` with
DATAGEN_DISABLE_WORKER=true) and TWO `datagems worker` processes on one pool, against a fake
gateway process slow enough for the job to take a while. A 3,000-record job over 4 shards; once
a worker holds a shard lease (and not the job run's own lease), that worker and every process
under it are killed -9. The server marks its shard run Crashed when the heartbeats stop, the job
run starts a `takeover` run, the other worker claims the expired lease and finishes the shard
from its checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.files.postgres import PostgresFileStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool
from tests.e2e.test_postgres_deployment import _OURS, ADMIN_PASSWORD, Machines
from tests.support.api_fixtures import CSRF
from tests.support.gateway_fixtures import FakeGatewayServer
from tests.support.postgres import PostgresServer
from tests.support.processes import REPO, free_port
from tests.support.schemas import PEOPLE_SCHEMA

TOTAL, SHARDS = 3000, 4

pytestmark = pytest.mark.timeout(480)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    base["PYTHONPATH"] = str(REPO)
    group = Machines(tmp_path, base)
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture
def slow_gateway(fake_gateway_process: FakeGatewayServer) -> Iterator[FakeGatewayServer]:
    # 4 calls in flight per shard at ~0.2 s each: a shard takes about 40 s.
    fake_gateway_process.configure(latency_ms=200, jitter_ms=50)
    try:
        yield fake_gateway_process
    finally:
        fake_gateway_process.reset()


def _cluster(
    postgres_server: PostgresServer, gateway: FakeGatewayServer, machines: Machines
) -> tuple[str, str, dict]:
    """docs/running.md's cluster: the Prefect server, its automations, two workers and the
    API; the database URL, the API's URL and the workers."""
    database_url = postgres_server.create_database()
    machines.base_env.update(
        DATAGEMS_DATABASE_URL=database_url,
        R1EN_CSTORE_AUTH_BOOTSTRAP_ADMIN_PWD=ADMIN_PASSWORD,
        DATAGEN_INFERENCE_BASE_URL=gateway.openai_base,
        DATAGEN_UPDATE_EVERY_K_REQUESTS="20",
        DATAGEMS_INFERENCE_CONCURRENCY="4",
        DATAGEMS_SHARDS=str(SHARDS),
        # each worker takes its share of the shards: the first to poll would otherwise take
        # every shard of the job, and with them the job run's, 1 time in 2
        DATAGEMS_WORKER_SHARD_SLOTS=str(SHARDS // 2),
        DATAGEMS_HEARTBEAT_SECONDS="30",  # Prefect's shortest: a dead run is Crashed in ~75 s
        DATAGEMS_SHARD_LEASE_SECONDS="6",
    )
    prefect_port, app_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{prefect_port}/api"
    server = machines.start("server", ["server"], DATAGEMS_PREFECT_PORT=str(prefect_port))
    machines.wait_healthy(f"{api_url}/health", server, "the Prefect server")
    machines.base_env["PREFECT_API_URL"] = api_url
    secret = (machines.root / "server" / "prefect-auth-string").read_text().strip()
    machines.base_env["PREFECT_API_AUTH_STRING"] = secret
    deployed = machines.run("deployer", ["deploy"])
    assert "datagems: crash runs whose heartbeats stopped" in deployed, deployed
    workers = {
        name: machines.start(name, ["worker"], R1EN_HOST_ADDR=name)
        for name in ("worker-a", "worker-b")
    }
    api = machines.start(
        "api", ["up"], DATAGEN_DISABLE_WORKER="true", DATAGEN_APP_PORT=str(app_port)
    )
    app = f"http://127.0.0.1:{app_port}"
    machines.wait_healthy(f"{app}/api/health", api, "the API")
    return database_url, app, workers


def _start_job(client: httpx.Client, total: int) -> str:
    login = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    created = client.post(
        "/api/jobs",
        json={
            "title": "People over two workers",
            "description": "Fictional customers",
            "instructions": "Fictional customers of a software shop",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": total,
            "shards": SHARDS,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["job"]["id"])


def _assert_exported_once(client: httpx.Client, database_url: str, job_id: str, total: int):
    export = client.get(f"/api/jobs/{job_id}/export", params={"format": "jsonl"})
    assert export.status_code == 200, export.text
    rows = [line for line in export.text.splitlines() if line]
    assert len(rows) == total
    assert len(set(rows)) == total, "the export has duplicate records"
    assert all(isinstance(json.loads(row), dict) for row in rows[:5])
    # Accepted records by index: a rejected candidate's replacement has an index past N.
    seen = asyncio.run(_stored_indices(database_url, job_id))
    assert sum(seen.values()) == total
    assert [i for i, n in seen.items() if n > 1] == [], "an index was accepted twice"


def test_a_worker_killed_mid_shard_is_taken_over_and_the_job_completes(
    postgres_server: PostgresServer, slow_gateway: FakeGatewayServer, machines: Machines
):
    database_url, app, workers = _cluster(postgres_server, slow_gateway, machines)
    with httpx.Client(base_url=app, headers=CSRF, timeout=30) as client:
        job_id = _start_job(client, TOTAL)
        victim, shard_key = _worker_holding_a_shard(client, job_id, workers, machines)
        _kill_tree(workers[victim].pid)
        killed_at = time.monotonic()
        print(f"killed {victim} (holding shard {shard_key})")  # noqa: T201

        view = _wait_until_finished(client, job_id, machines, timeout=360)
        finished_after = time.monotonic() - killed_at
        assert view["job"]["status"] == "succeeded", f"{view['job']}\n{machines.logs()}"
        assert view["progress"]["ok"] == TOTAL
        taken = {s["shardKey"]: s for s in view["shards"]}[shard_key]
        assert taken["takeovers"] >= 1, taken
        assert taken["takenOverFrom"] and taken["leaseOwner"] != taken["takenOverFrom"]
        assert view["job"]["takeovers"] == sum(s["takeovers"] for s in view["shards"])
        prometheus = client.get("/metrics")  # what an operator watches (docs/running.md)
        assert prometheus.status_code == 200, prometheus.text
        [line] = [
            x for x in prometheus.text.splitlines() if x.startswith("datagems_shard_takeovers ")
        ]
        assert float(line.split()[1]) >= 1, line
        print(f"job finished {finished_after:.0f} s after the kill: {taken}")  # noqa: T201
        _assert_exported_once(client, database_url, job_id, TOTAL)


def test_the_job_runs_worker_killed_is_picked_up_without_a_person(
    postgres_server: PostgresServer, slow_gateway: FakeGatewayServer, machines: Machines
):
    """The worker running the job's own `generate-dataset` run dies (with the shards it held):
    the server marks the silent runs Crashed, the resume automation starts a new job run on the
    other worker, which takes the job's lease and the dead shards over."""
    total = 1200
    database_url, app, workers = _cluster(postgres_server, slow_gateway, machines)
    with httpx.Client(base_url=app, headers=CSRF, timeout=30) as client:
        job_id = _start_job(client, total)
        first_run = client.get(f"/api/jobs/{job_id}").json()["job"]["flowRunId"]
        victim = _worker_of_the_job_run(client, job_id, workers, machines)
        _kill_tree(workers[victim].pid)
        killed_at = time.monotonic()
        print(f"killed {victim} (running the job run)")  # noqa: T201

        view = _wait_until_finished(client, job_id, machines, timeout=400)
        assert view["job"]["status"] == "succeeded", f"{view['job']}\n{machines.logs()}"
        print(f"job finished {time.monotonic() - killed_at:.0f} s after the kill")  # noqa: T201
        assert view["progress"]["ok"] == total
        assert view["job"]["flowRunId"] != first_run  # a new job run finished it
        assert view["job"]["resumes"] >= 1
        _assert_exported_once(client, database_url, job_id, total)


def _worker_of_the_job_run(
    client: httpx.Client, job_id: str, workers: dict, machines: Machines
) -> str:
    """The worker whose process runs the job run, once it has records under way."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        view = client.get(f"/api/jobs/{job_id}").json()
        assert view["job"]["status"] in ("queued", "running"), view["job"]
        parent_pid = _job_run_pid(job_id, machines)
        worker = _worker_of(parent_pid, workers) if parent_pid else None
        if worker is not None and 0 < view["progress"]["ok"] < view["job"]["totalRecords"] // 3:
            return worker
        time.sleep(0.5)
    raise AssertionError(f"no worker ran job {job_id}'s job run\n{machines.logs()}")


def _owner_pid(owner: str | None) -> int | None:
    parts = (owner or "").split(":")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def _worker_of(pid: int, workers: dict[str, object]) -> str | None:
    """The worker whose process tree has `pid` in it."""
    try:
        ancestors = {p.pid for p in psutil.Process(pid).parents()}
    except psutil.NoSuchProcess:
        return None
    return next((name for name, w in workers.items() if w.pid in ancestors), None)


def _worker_holding_a_shard(
    client: httpx.Client, job_id: str, workers: dict, machines: Machines
) -> tuple[str, str]:
    """A worker running an unfinished shard and not the job run (whose death is another test)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for name, worker in workers.items():
            assert worker.poll() is None, f"{name} exited\n{machines.logs()}"
        view = client.get(f"/api/jobs/{job_id}").json()
        assert view["job"]["status"] in ("queued", "running"), view["job"]
        parent_pid = _job_run_pid(job_id, machines)
        parent_worker = _worker_of(parent_pid, workers) if parent_pid else None
        for shard in view["shards"]:
            pid = _owner_pid(shard.get("leaseOwner"))
            holder = _worker_of(pid, workers) if pid else None
            if (
                holder is not None
                and parent_worker is not None
                and holder != parent_worker
                and shard["status"] == "running"
                and shard["generatedOk"] < shard["assigned"] // 2
            ):
                return holder, shard["shardKey"]
        time.sleep(0.5)
    raise AssertionError(f"no worker took a shard of job {job_id}\n{machines.logs()}")


def _job_run_pid(job_id: str, machines: Machines) -> int | None:
    """The process of the job's `generate-dataset` run, from the job lease it holds."""
    import psycopg

    url = machines.base_env["DATAGEMS_DATABASE_URL"]
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT value FROM datagems_kv WHERE key = %s", (f"datagen:job:{job_id}:lease",)
        ).fetchone()
    if row is None:
        return None
    value = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return _owner_pid(value.get("owner"))


def _kill_tree(pid: int) -> None:
    """kill -9 the worker, its process group and every process under it (a machine dying)."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _wait_until_finished(
    client: httpx.Client, job_id: str, machines: Machines, *, timeout: float
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        view = response.json()
        if view["job"]["status"] in ("succeeded", "failed", "cancelled"):
            return view
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish\n{machines.logs()}")


async def _stored_indices(url: str, job_id: str) -> Counter[int]:
    pool = PostgresPool(url=url)
    store, files = PostgresStore(pool=pool), PostgresFileStore(pool=pool.share())
    seen: Counter[int] = Counter()
    try:
        async for chunk in iter_result_chunks(store, files, job_id):
            seen.update(r["index"] for r in chunk if r.get("ok"))
    finally:
        await files.close()
        await store.close()
    return seen
