"""Recurring builds at unit level: definitions, cron and time zone checks, pause, delete,
ownership and versions. The FlowRunner is a fake; tests/e2e checks the Prefect schedules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from datagems_core.jobs.schedules import create_version_job, read_schedule
from datagems_core.store.files.local import LocalFileStore
from tests.api.flow_runner_fake import start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    harness, runner = start_jobs_harness(tmp_path_factory.mktemp("schedules-api"))
    with harness.stack:
        yield harness, runner


@pytest.fixture
def api(env):
    env[1].unavailable = None
    return env[0]


@pytest.fixture
def runner(env):
    return env[1]


def _create(client, **overrides):
    body = {
        "title": "Weekly people",
        "description": "A fresh sample every Monday",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": 5,
        "cron": "0 6 * * 1",
        "timezone": "Europe/Bucharest",
        **overrides,
    }
    return client.post("/api/schedules", json=body, headers=CSRF)


def _build(api, schedule_id, build_id):
    async def build():
        schedule = await read_schedule(api.store, schedule_id)
        files = LocalFileStore(root=api.settings.data_dir / "files")
        return await create_version_job(api.store, files, api.settings, schedule, build_id=build_id)

    return asyncio.run(build())


def test_create_schedule_saves_the_definition_and_puts_a_prefect_schedule(api, runner):
    response = _create(api.alice)
    assert response.status_code == 201, response.text
    schedule = response.json()["schedule"]
    assert schedule["id"].startswith("sched_") and schedule["owner"] == "alice"
    assert (schedule["cron"], schedule["timezone"], schedule["active"]) == (
        "0 6 * * 1",
        "Europe/Bucharest",
        True,
    )
    assert schedule["deployment"] == "build-recurring-dataset/default"
    assert schedule["latestVersion"] is None
    next_run = datetime.fromisoformat(schedule["nextRunAt"].replace("Z", "+00:00"))
    assert next_run > datetime.now(UTC) and next_run.hour in (3, 4)  # 06:00 in Bucharest
    assert runner.schedules[schedule["id"]].cron == "0 6 * * 1"
    assert (
        api.alice.get(f"/api/schedules/{schedule['id']}").json()["schedule"]["id"]
        == (schedule["id"])
    )
    listed = api.alice.get("/api/schedules").json()
    assert schedule["id"] in {s["id"] for s in listed["schedules"]}


def test_create_schedule_from_a_draft(api):
    draft = api.alice.post(
        "/api/jobs/schema",
        json={"title": "Tickets", "instructions": "Support tickets", "datasetMode": True},
        headers=CSRF,
    ).json()
    response = api.alice.post(
        "/api/schedules",
        json={"draftToken": draft["draftToken"], "totalRecords": 3, "cron": "*/15 * * * *"},
        headers=CSRF,
    )
    assert response.status_code == 201, response.text
    schedule = response.json()["schedule"]
    assert schedule["title"] == "Tickets" and schedule["datasetMode"] is True
    assert schedule["schema"] == draft["schema"] and schedule["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"cron": "61 * * * *"}, "cron", "minute hour day-of-month"),
        ({"cron": "every monday"}, "cron", "five fields"),
        ({"cron": "H * * * *"}, "cron", "hashed"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"totalRecords": 0}, "totalRecords", "DATAGEN_MAX_RECORDS_PER_JOB"),
    ],
)
def test_create_schedule_refuses_bad_input_clearly(api, runner, overrides, field, hint):
    before = dict(runner.schedules)
    response = _create(api.alice, **overrides)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["field"] == field
    assert hint in response.json()["error"]
    assert runner.schedules == before


def test_create_schedule_saves_nothing_when_prefect_is_unavailable(api, runner):
    runner.unavailable = "deployment build-recurring-dataset/default is not registered"
    count = api.alice.get("/api/schedules").json()["count"]
    response = _create(api.alice)
    assert response.status_code == 503
    assert "build-recurring-dataset/default" in response.json()["error"]
    runner.unavailable = None
    assert api.alice.get("/api/schedules").json()["count"] == count


def test_patch_pauses_and_changes_the_schedule(api, runner):
    schedule = _create(api.alice).json()["schedule"]
    response = api.alice.patch(
        f"/api/schedules/{schedule['id']}",
        json={"active": False, "cron": "30 7 * * *", "totalRecords": 8},
        headers=CSRF,
    )
    assert response.status_code == 200, response.text
    patched = response.json()["schedule"]
    assert patched["active"] is False and patched["nextRunAt"] is None
    assert (patched["cron"], patched["totalRecords"]) == ("30 7 * * *", 8)
    assert patched["title"] == schedule["title"]  # untouched fields stay
    assert runner.schedules[schedule["id"]].active is False
    resumed = api.alice.patch(
        f"/api/schedules/{schedule['id']}", json={"active": True}, headers=CSRF
    ).json()["schedule"]
    assert resumed["active"] is True and resumed["nextRunAt"]
    bad = api.alice.patch(
        f"/api/schedules/{schedule['id']}", json={"timezone": "Nowhere"}, headers=CSRF
    )
    assert bad.status_code == 400


def test_delete_schedule_removes_its_prefect_schedule_and_keeps_its_jobs(api, runner):
    schedule = _create(api.alice).json()["schedule"]
    job = _build(api, schedule["id"], "build-1")
    response = api.alice.delete(f"/api/schedules/{schedule['id']}", headers=CSRF)
    assert response.status_code == 200
    assert runner.removed[-1] == schedule["id"] and schedule["id"] not in runner.schedules
    assert api.alice.get(f"/api/schedules/{schedule['id']}").status_code == 404
    assert api.alice.get(f"/api/jobs/{job.id}").status_code == 200


def test_schedules_of_others_are_not_found_but_admins_see_all(api):
    schedule = _create(api.alice).json()["schedule"]
    for method, path in (
        ("get", f"/api/schedules/{schedule['id']}"),
        ("get", f"/api/schedules/{schedule['id']}/jobs"),
        ("patch", f"/api/schedules/{schedule['id']}"),
        ("delete", f"/api/schedules/{schedule['id']}"),
    ):
        kwargs = {"json": {"active": False}} if method == "patch" else {}
        response = getattr(api.bob, method)(path, headers=CSRF, **kwargs)
        assert response.status_code == 404, (method, path)
    assert schedule["id"] not in {
        s["id"] for s in api.bob.get("/api/schedules").json()["schedules"]
    }
    everyone = api.admin.get("/api/schedules", params={"all": "true"}).json()
    assert schedule["id"] in {s["id"] for s in everyone["schedules"]}
    assert api.bob.get("/api/schedules", params={"all": "true"}).status_code == 403


def test_each_build_is_the_next_version_and_a_retried_build_is_not(api):
    schedule = _create(api.alice, totalRecords=3).json()["schedule"]
    first = _build(api, schedule["id"], "run-a")
    again = _build(api, schedule["id"], "run-a")  # the same build, retried
    second = _build(api, schedule["id"], "run-b")
    assert (first.version, second.version) == (1, 2)
    assert again.id == first.id
    assert first.schedule_id == second.schedule_id == schedule["id"]
    assert first.title == "Weekly people v1" and first.total_records == 3
    versions = api.alice.get(f"/api/schedules/{schedule['id']}/jobs").json()
    assert versions["scheduleId"] == schedule["id"] and versions["count"] == 2
    assert [j["version"] for j in versions["jobs"]] == [2, 1]
    assert [j["id"] for j in versions["jobs"]] == [second.id, first.id]
    assert (
        api.alice.get(f"/api/schedules/{schedule['id']}").json()["schedule"]["latestVersion"] == 2
    )
