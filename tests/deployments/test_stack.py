"""`datagems up`: the Prefect server, the runner and the API start, answer, and stop together."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import DeploymentStatus

from tests.support.api_fixtures import CSRF
from tests.support.processes import free_port

DATAGEMS = str(Path(sys.executable).parent / "datagems")


def _wait_for_banner(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "Press Ctrl-C to stop." in text:
            return text
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(f"`datagems up` was not ready in time:\n{log_path.read_text()}")


async def _served(api_url: str, auth_string: str) -> dict[str, DeploymentStatus | None]:
    async with PrefectClient(api_url, auth_string=auth_string) as client:
        deployments = await client.read_deployments()
    return {d.entrypoint or "": d.status for d in deployments}


def test_up_starts_server_runner_and_api_and_stops_every_process_on_ctrl_c(tmp_path):
    prefect_port, app_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "DATAGEMS_DATA_DIR": str(data_dir),
        "DATAGEMS_PREFECT_PORT": str(prefect_port),
        "DATAGEN_APP_PORT": str(app_port),
        "DATAGEN_APP_HOST": "127.0.0.1",
    }
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [DATAGEMS, "up"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
    try:
        banner = _wait_for_banner(up, log_path)
        tree = [up, *psutil.Process(up.pid).children(recursive=True)]

        assert f"http://127.0.0.1:{app_port}" in banner
        assert f"http://127.0.0.1:{prefect_port}" in banner
        assert "admin / admin" in banner
        assert httpx.get(f"http://127.0.0.1:{app_port}/api/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{prefect_port}/api/health").json() is True
        auth_string = (data_dir / "prefect-auth-string").read_text().strip()
        served = asyncio.run(_served(f"http://127.0.0.1:{prefect_port}/api", auth_string))
        assert served["flows/generate_dataset.py:generate_dataset"] == DeploymentStatus.READY
        assert served["flows/build_recurring_dataset.py:build_recurring_dataset"] == (
            DeploymentStatus.READY
        )
        assert (data_dir / "prefect" / "prefect.db").is_file()

        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, log_path.read_text()
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert [p.pid for p in alive] == [], log_path.read_text()
        assert "Stopped." in log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_up_in_mock_mode_gives_its_processes_one_shared_throwaway_store(monkeypatch):
    """The seed's quickstart sets DATAGEN_MOCK_CSTORE=true; the API and the flow runs are separate
    processes, so `up` hands them one temporary SQLite file instead of per-process memory."""
    from datagems_core.config.settings import load_settings
    from datagems_core.store.factory import open_store
    from datagems_core.store.memory import MemoryStore
    from datagems_core.store.sqlite import SqliteStore
    from deployments.stack import Stack

    monkeypatch.setenv("DATAGEN_MOCK_CSTORE", "true")
    assert isinstance(open_store(load_settings()), MemoryStore)  # one process: memory, as the seed

    stack = Stack(settings=load_settings())
    env = stack._child_env()
    shared = Path(env["DATAGEMS_MOCK_STORE_FILE"])
    assert stack._child_env()["DATAGEMS_MOCK_STORE_FILE"] == str(shared)  # the same for every child

    async def write_then_read() -> object:
        writer = open_store(load_settings(DATAGEMS_MOCK_STORE_FILE=str(shared)))
        reader = open_store(load_settings(DATAGEMS_MOCK_STORE_FILE=str(shared)))
        assert isinstance(writer, SqliteStore)
        try:
            await writer.hset("datagen:jobs", "job_1", {"status": "queued"})
            return await reader.hget("datagen:jobs", "job_1")
        finally:
            await writer.close()
            await reader.close()

    assert asyncio.run(write_then_read()) == {"status": "queued"}
    stack.stop()
    assert not shared.parent.exists()  # nothing of the mock store outlives `up`


def _start_up(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int, int, Path]:
    prefect_port, app_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "DATAGEMS_DATA_DIR": str(data_dir),
        "DATAGEMS_PREFECT_PORT": str(prefect_port),
        "DATAGEN_APP_PORT": str(app_port),
        "DATAGEN_APP_HOST": "127.0.0.1",
    }
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [DATAGEMS, "up"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
    _wait_for_banner(up, log_path)
    return up, data_dir, prefect_port, app_port, log_path


def _runner(up: subprocess.Popen[bytes]) -> psutil.Process | None:
    for child in psutil.Process(up.pid).children():
        try:
            if "deployments.runner" in child.cmdline():
                return child
        except psutil.Error:  # a runner just killed, not yet reaped
            continue
    return None


def _wait_for(check, *, timeout: float, what: str, log_path: Path):
    deadline = time.monotonic() + timeout
    while (value := check()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out: {what}\n{log_path.read_text()}"
        time.sleep(0.3)
    return value


def _run_job(api: httpx.Client, log_path: Path, total: int) -> dict[str, object]:
    response = api.post(
        "/api/jobs",
        json={
            "title": "People",
            "instructions": "Fictional customers",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}},
                "required": ["name"],
            },
            "totalRecords": total,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["job"])


def _ended(api: httpx.Client, job_id: object) -> dict[str, object] | None:
    job = dict(api.get(f"/api/jobs/{job_id}").json()["job"])
    return job if job["status"] in ("succeeded", "failed", "cancelled") else None


def test_up_closes_prefect_restarts_its_runner_and_dies_whole_with_kill_9(tmp_path):
    up, data_dir, prefect_port, app_port, log_path = _start_up(tmp_path)
    try:
        secret_file = data_dir / "prefect-auth-string"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        user, _, password = secret_file.read_text().strip().partition(":")
        prefect = f"http://127.0.0.1:{prefect_port}/api"
        assert httpx.post(f"{prefect}/flows/filter", json={}).status_code == 401
        wrong = httpx.post(f"{prefect}/flows/filter", json={}, auth=(user, "guess"))
        assert wrong.status_code == 401
        assert httpx.post(f"{prefect}/flows/filter", json={}, auth=(user, password)).is_success
        assert httpx.get(f"{prefect}/health").status_code == 200  # probes stay open
        assert str(secret_file) in log_path.read_text()  # the banner says where the secret is

        api = httpx.Client(base_url=f"http://127.0.0.1:{app_port}", headers=CSRF, timeout=30)
        login = api.post("/api/auth/login", json={"username": "admin", "password": "admin"})
        assert login.status_code == 200, login.text
        first = _run_job(api, log_path, 20)
        done = _wait_for(
            lambda: _ended(api, first["id"]), timeout=90, what="job 1", log_path=log_path
        )
        assert (done["status"], done["totalOk"]) == ("succeeded", 20), done

        runner = _runner(up)
        assert runner is not None
        runner.kill()  # kill -9 the runner alone: `up` starts it again
        again = _wait_for(
            lambda: (r := _runner(up)) is not None and r.pid != runner.pid and r,
            timeout=60,
            what="a new runner",
            log_path=log_path,
        )
        assert up.poll() is None
        second = _run_job(api, log_path, 20)
        done = _wait_for(
            lambda: _ended(api, second["id"]), timeout=120, what="job 2", log_path=log_path
        )
        assert (done["status"], done["totalOk"]) == ("succeeded", 20), done
        assert "the runner exited" in log_path.read_text()

        third = _run_job(api, log_path, 1000)  # still running when `up` is killed
        _wait_for(
            lambda: api.get(f"/api/jobs/{third['id']}").json()["job"]["status"] == "running",
            timeout=60,
            what="job 3 to run",
            log_path=log_path,
        )
        tree = psutil.Process(up.pid).children(recursive=True)
        assert again.pid in [p.pid for p in tree] and len(tree) >= 4  # server, runner, API, run
        up.kill()  # kill -9 `datagems up`
        up.wait()
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert [p.pid for p in alive] == []
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
