"""REST-triggered generation across the real boundary: the API starts flow runs on a real Prefect
server, the runner process runs them against the fake model gateway, the API reads and exports.

Order matters only for the last test, which kills and restarts the runner.
"""

from __future__ import annotations

import asyncio
import io
import json
from uuid import UUID

import httpx
import polars as pl

from api import flow_runner
from flows import launch
from flows.launch import resume_unfinished_jobs
from flows.schedules import SchedulingLauncher
from tests.e2e.conftest import Stack, wait_for
from tests.support.processes import free_port
from tests.support.schemas import PEOPLE_SCHEMA

READERS = {
    "json": lambda data: pl.DataFrame(json.load(data)),
    "jsonl": pl.read_ndjson,
    "csv": pl.read_csv,
    "parquet": pl.read_parquet,
}


def _view(client, job_id):
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for_status(stack: Stack, client, job_id, *statuses, timeout=90.0):
    def reached():
        view = _view(client, job_id)
        return view if view["job"]["status"] in statuses else None

    return wait_for(reached, timeout=timeout, what=f"job {job_id} {statuses}", log=stack.runner_log)


def _wait_for_progress(stack: Stack, client, job_id, done, timeout=60.0):
    def reached():
        view = _view(client, job_id)
        assert view["job"]["status"] in ("queued", "running"), view["job"]
        return view if view["progress"]["done"] >= done else None

    return wait_for(reached, timeout=timeout, what=f"{done} records", log=stack.runner_log)


def _create(client, **body):
    written_out = {
        "title": "People",
        "description": "Fictional customers",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
    }
    payload = body if "draftToken" in body else {**written_out, **body}
    response = client.post("/api/jobs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()["job"]


def _read_flow_run(stack: Stack, flow_run_id):
    return stack.ask_prefect(lambda c: c.read_flow_run(UUID(flow_run_id)))


def _wait_for_final_run(stack: Stack, flow_run_id):
    def final():
        flow_run = _read_flow_run(stack, flow_run_id)
        return flow_run if flow_run.state.is_final() else None

    return wait_for(final, timeout=60, what=f"flow run {flow_run_id} to end", log=stack.runner_log)


def _export(client, job_id, fmt):
    response = client.get(f"/api/jobs/{job_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response, READERS[fmt](io.BytesIO(response.content))


def test_draft_create_run_and_export_in_every_format(stack, client, gateway):
    response = client.post(
        "/api/jobs/schema",
        json={
            "title": "Support tickets",
            "description": "Tickets for a help desk demo",
            "instructions": "Customer support tickets with a priority label",
            "datasetMode": True,
        },
    )
    assert response.status_code == 200, response.text
    draft = response.json()
    assert gateway.stats()["requests"] == 1  # one model call drafted the schema
    job = _create(
        client, draftToken=draft["draftToken"], totalRecords=12, inference={"concurrency": 4}
    )
    assert job["status"] == "queued" and job["flowRunId"]

    view = _wait_for_status(stack, client, job["id"], "succeeded", "failed")
    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["progress"]["ok"] == 12 and view["progress"]["failed"] == 0
    assert view["tokens"]["total"] > 0
    assert view["prefectUrl"] == f"{stack.prefect.ui_url}/runs/flow-run/{job['flowRunId']}"
    flow_run = _wait_for_final_run(stack, job["flowRunId"])
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.name == f"Support tickets ({job['id']})"
    assert {"owner:erin", f"job:{job['id']}"} <= set(flow_run.tags)

    properties = set(draft["schema"]["properties"])
    for fmt in READERS:
        response, frame = _export(client, job["id"], fmt)
        assert response.headers["x-datagems-partial"] == "false"
        assert frame.height == 12, fmt
        assert "label" in frame.columns and set(frame.columns) <= properties
    records = client.get(f"/api/jobs/{job['id']}/records", params={"limit": 50}).json()
    assert [r["index"] for r in records["records"]] == list(range(12))


def test_cancel_a_running_job_keeps_what_it_made(stack, client, gateway):
    gateway.configure(latency_ms=150)
    job = _create(client, title="Slow people", totalRecords=400, inference={"concurrency": 2})
    _wait_for_progress(stack, client, job["id"], 10)

    response = client.post(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    view = _wait_for_status(stack, client, job["id"], "cancelled", "succeeded", "failed")
    assert view["job"]["status"] == "cancelled", view["job"]
    made = view["job"]["totalOk"]
    assert 10 <= made < 400

    state = _wait_for_final_run(stack, job["flowRunId"]).state
    assert state.is_cancelled(), state
    response, frame = _export(client, job["id"], "jsonl")
    assert response.headers["x-datagems-partial"] == "true"
    assert response.headers["x-datagems-job-status"] == "cancelled"
    assert frame.height == made


def test_rejected_candidates_are_replaced_and_a_spent_budget_continues(stack, client, gateway):
    # One candidate at a time: candidates 0 and 3 get a schema-violating answer twice (re-ask
    # too), so two new candidates replace them and the job still delivers its 8 records.
    gateway.configure(script=["invalid", "invalid", "ok", "ok", "invalid", "invalid"])
    job = _create(client, title="Flaky people", totalRecords=8, inference={"concurrency": 1})
    first = _wait_for_status(stack, client, job["id"], "succeeded", "failed", "cancelled")
    assert first["job"]["status"] == "succeeded", first["job"]
    assert (first["progress"]["ok"], first["progress"]["failed"]) == (8, 2)
    assert first["rejected"] == {"invalid": 2}
    page = client.get(f"/api/jobs/{job['id']}/records").json()["records"]
    assert [r["index"] for r in page if not r["ok"]] == [0, 3]
    assert all(r["attempts"] == 2 and r["gate"] == "invalid" for r in page if not r["ok"])
    _, frame = _export(client, job["id"], "parquet")
    assert frame.height == 8

    # A budget too small for the failures: the job fails (Prefect too) and keeps what it has.
    gateway.configure(script=["invalid"] * 6)
    spent = _create(
        client, title="Short budget", totalRecords=4, maxCandidates=5, inference={"concurrency": 1}
    )
    view = _wait_for_status(stack, client, spent["id"], "succeeded", "failed", "cancelled")
    assert view["job"]["error"] == (
        "candidate budget spent: 2 of 4 accepted; rejected: 3 invalid"
    ), view["job"]
    assert _wait_for_final_run(stack, spent["flowRunId"]).state.is_failed()
    response, frame = _export(client, spent["id"], "jsonl")
    assert response.headers["x-datagems-partial"] == "true" and frame.height == 2

    response = client.post(f"/api/jobs/{spent['id']}/retry", json={"maxCandidates": 8})
    assert response.status_code == 200, response.text
    retried = response.json()["job"]
    assert retried["status"] == "queued" and retried["retryPass"] == 1
    healed = _wait_for_status(stack, client, spent["id"], "succeeded", "failed", "cancelled")
    assert healed["job"]["status"] == "succeeded", healed["job"]
    assert (healed["job"]["totalOk"], healed["job"]["totalFailed"]) == (4, 3)
    response, frame = _export(client, spent["id"], "jsonl")
    assert response.headers["x-datagems-partial"] == "false" and frame.height == 4


def test_a_schedule_is_a_prefect_schedule_that_builds_new_versions(stack, client, gateway):
    response = client.post(
        "/api/schedules",
        json={
            "title": "Weekly people",
            "instructions": "Fictional customers of a software shop",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": 4,
            "cron": "0 6 * * 1",
            "timezone": "Europe/Bucharest",
        },
    )
    assert response.status_code == 201, response.text
    schedule = response.json()["schedule"]
    deployment = stack.ask_prefect(
        lambda c: c.read_deployment_by_name("build-recurring-dataset/default")
    )

    def prefect_schedule():
        found = stack.ask_prefect(lambda c: c.read_deployment_schedules(deployment.id))
        return next((s for s in found if s.slug == f"datagems-{schedule['id']}"), None)

    theirs = prefect_schedule()
    assert (theirs.schedule.cron, theirs.schedule.timezone) == ("0 6 * * 1", "Europe/Bucharest")
    assert theirs.active is True and theirs.parameters == {"schedule_id": schedule["id"]}
    patched = client.patch(f"/api/schedules/{schedule['id']}", json={"active": False})
    assert patched.status_code == 200
    assert prefect_schedule().active is False

    # Two firings within the test, as Prefect's scheduler makes them: flow runs of the
    # deployment with the schedule's parameters (a five-field cron fires at most once a minute).
    reactivated = client.patch(f"/api/schedules/{schedule['id']}", json={"active": True})
    assert reactivated.status_code == 200, reactivated.text
    assert prefect_schedule().active is True
    for _ in range(2):
        httpx.post(
            f"{stack.prefect.api_url}/deployments/{deployment.id}/create_flow_run",
            json={"parameters": theirs.parameters, "tags": ["auto-scheduled"]},
            timeout=30,
        ).raise_for_status()

    def two_versions():
        body = client.get(f"/api/schedules/{schedule['id']}/jobs").json()
        return body["jobs"] if body["count"] >= 2 else None

    jobs = wait_for(two_versions, timeout=90, what="two builds", log=stack.runner_log)
    client.patch(f"/api/schedules/{schedule['id']}", json={"active": False})
    versions = sorted(j["version"] for j in jobs)
    assert versions == list(range(1, len(versions) + 1))
    for version in jobs[-2:]:  # versions 1 and 2
        view = _wait_for_status(stack, client, version["id"], "succeeded", "failed")
        assert view["job"]["status"] == "succeeded", view["job"]
        assert view["job"]["scheduleId"] == schedule["id"]
        assert view["job"]["totalOk"] == 4

    assert client.delete(f"/api/schedules/{schedule['id']}").status_code == 200
    assert prefect_schedule() is None


def test_the_api_says_clearly_when_no_deployment_is_served(stack, client, monkeypatch):
    monkeypatch.setattr(launch, "GENERATE_DATASET", "generate-dataset/nowhere")
    response = client.post(
        "/api/jobs",
        json={"title": "P", "instructions": "x", "schema": PEOPLE_SCHEMA, "totalRecords": 2},
    )
    assert response.status_code == 503
    body = response.json()
    assert "generate-dataset/nowhere" in body["error"] and "datagems up" in body["error"]
    assert body["details"]["job"]["status"] == "failed"

    dead = f"http://127.0.0.1:{free_port()}/api"
    client.app.dependency_overrides[flow_runner.get_flow_runner] = lambda: SchedulingLauncher(
        api_url=dead
    )
    try:
        response = client.post(
            "/api/schedules",
            json={
                "title": "P",
                "instructions": "x",
                "schema": PEOPLE_SCHEMA,
                "totalRecords": 2,
                "cron": "0 * * * *",
            },
        )
    finally:
        client.app.dependency_overrides.clear()
    assert response.status_code == 503
    assert dead in response.json()["error"] and "datagems up" in response.json()["error"]


def test_a_job_survives_the_runner_being_killed(stack, client, gateway):
    paused = client.post(
        "/api/schedules",
        json={
            "title": "Nightly people",
            "instructions": "Fictional customers of a software shop",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": 3,
            "cron": "0 3 * * *",
            "active": False,
        },
    ).json()["schedule"]
    gateway.configure(latency_ms=40)
    job = _create(
        client,
        title="Survivor",
        totalRecords=150,
        inference={"concurrency": 2},
        nearDuplicateThreshold=None,  # short names from a small vocabulary repeat
    )
    _wait_for_progress(stack, client, job["id"], 15)

    stack.kill_runner()
    stalled = _view(client, job["id"])
    assert stalled["job"]["status"] == "running"
    assert stalled["progress"]["done"] < 150

    # As `datagems up` does: serve the deployments again, then resume unfinished jobs.
    stack.start_runner()
    resumed = asyncio.run(resume_unfinished_jobs(stack.settings))
    assert [j.id for j in resumed] == [job["id"]]
    old_run = _read_flow_run(stack, job["flowRunId"])
    assert old_run.state.is_crashed()
    view = _wait_for_status(stack, client, job["id"], "succeeded", "failed", timeout=120)
    assert view["job"]["status"] == "succeeded", view["job"]
    assert view["job"]["totalOk"] == 150  # exactly N, however many were redone or replaced
    records = client.get(f"/api/jobs/{job['id']}/records", params={"limit": 500}).json()
    indices = [r["index"] for r in records["records"]]
    assert len(indices) == len(set(indices)) == 150 + view["job"]["totalFailed"]
    assert sum(r["ok"] for r in records["records"]) == 150
    _, frame = _export(client, job["id"], "csv")
    assert frame.height == 150

    # Serving the recurring deployment again replaced its schedules; the runner put ours back.
    deployment = stack.ask_prefect(
        lambda c: c.read_deployment_by_name("build-recurring-dataset/default")
    )
    restored = stack.ask_prefect(lambda c: c.read_deployment_schedules(deployment.id))
    ours = [s for s in restored if s.slug == f"datagems-{paused['id']}"]
    assert len(ours) == 1 and ours[0].active is False and ours[0].schedule.cron == "0 3 * * *"
