"""Gates and budgets over REST: bad configurations answer 400 naming the field; the quality
report and the rejected candidates of a finished job."""

from __future__ import annotations

import pytest

from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    harness, runner = start_jobs_harness(
        tmp_path_factory.mktemp("gates-api"), max_records_per_job=500, update_every_k=5
    )
    with harness.stack:
        yield harness, runner


@pytest.fixture
def api(env):
    return env[0]


def _create(client, **overrides):
    body = {
        "title": "People",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": 12,
        "seed": 7,
        **overrides,
    }
    return client.post("/api/jobs", json=body, headers=CSRF)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"uniqueFields": ["nickname"]}, "uniqueFields"),
        ({"nearDuplicateThreshold": 1.2}, "nearDuplicateThreshold"),
        ({"nearDuplicateThreshold": -0.1}, "nearDuplicateThreshold"),
        ({"judge": {"rubric": "Realistic", "minScore": 0}}, "judge.minScore"),
        ({"judge": {"rubric": "Realistic", "minScore": 6}}, "judge.minScore"),
        ({"judge": {"rubric": "Realistic", "profileId": "not-mine"}}, "judge.profileId"),
        ({"maxCandidates": 5}, "maxCandidates"),
        ({"maxCandidates": 100_000}, "maxCandidates"),
    ],
)
def test_a_gate_configuration_that_cannot_work_is_a_400_naming_the_field(api, overrides, field):
    response = _create(api.alice, **overrides)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_gates_and_budget_are_kept_on_the_job(api):
    response = _create(
        api.alice,
        uniqueFields=["name"],
        nearDuplicateThreshold=None,
        maxCandidates=30,
        judge={"rubric": "Realistic customers", "minScore": 2},
    )
    assert response.status_code == 201, response.text
    job = response.json()["job"]
    assert job["maxCandidates"] == 30
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    gates = view["details"]["gates"]
    assert gates["uniqueFields"] == ["name"] and gates["nearDuplicateThreshold"] is None
    assert gates["lint"] is True and gates["judge"]["minScore"] == 2


def test_quality_report_and_rejected_candidates_of_a_finished_job(api):
    job = _create(
        api.alice,
        totalRecords=20,
        maxCandidates=60,
        judge={"rubric": "Realistic customers", "minScore": 4},
    ).json()["job"]
    finished = run_job_here(api, job["id"])
    assert (finished.status, finished.total_ok) == ("succeeded", 20)

    report = api.alice.get(f"/api/jobs/{job['id']}/quality")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["accepted"] == 20 and body["candidates"] == 20 + finished.total_failed
    assert body["rejected"]["judge"]["count"] == finished.total_failed > 0
    assert body["rejected"]["judge"]["examples"][0]["reason"].startswith("judge: judge score")
    assert set(body["judgeScores"]) == {"1", "2", "3", "4", "5"}
    assert sum(body["judgeScores"].values()) == body["candidates"]
    assert body["fields"]["plan"]["kind"] == "enum" and "asked" in body["fields"]["plan"]
    assert body["fields"]["age"]["kind"] == "number"
    assert body["fields"]["name"]["kind"] == "string"
    assert body["distinct2"]["fields"].keys() == {"name"}

    rejected = api.alice.get(f"/api/jobs/{job['id']}/records", params={"status": "rejected"})
    assert rejected.status_code == 200
    page = rejected.json()
    assert page["count"] == finished.total_failed == len(page["records"])
    assert all(r["gate"] == "judge" and not r["ok"] and r["error"] for r in page["records"])
    accepted = api.alice.get(f"/api/jobs/{job['id']}/records", params={"status": "accepted"})
    assert accepted.json()["count"] == 20
    assert api.bob.get(f"/api/jobs/{job['id']}/quality").status_code == 404


def test_a_schedule_keeps_its_gates_and_checks_them(api):
    body = {
        "title": "Weekly people",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": 4,
        "cron": "0 6 * * 1",
    }
    bad = api.alice.post("/api/schedules", json={**body, "uniqueFields": ["x"]}, headers=CSRF)
    assert bad.status_code == 400 and "uniqueFields" in bad.text
    made = api.alice.post(
        "/api/schedules", json={**body, "uniqueFields": ["name"], "maxCandidates": 10}, headers=CSRF
    )
    assert made.status_code == 201, made.text
    schedule = made.json()["schedule"]
    assert schedule["gates"]["uniqueFields"] == ["name"] and schedule["maxCandidates"] == 10
    too_many = api.alice.patch(
        f"/api/schedules/{schedule['id']}", json={"totalRecords": 20}, headers=CSRF
    )
    assert too_many.status_code == 400 and "maxCandidates" in too_many.text
