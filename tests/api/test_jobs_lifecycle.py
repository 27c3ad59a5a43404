"""A job's lifecycle over REST: cancel, retry (continuing a spent budget) and delete."""

from __future__ import annotations

import pytest

from tests.api.flow_runner_fake import run_job_here
from tests.api.job_requests import jobs_env, people_job
from tests.support.api_fixtures import CSRF


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    yield from jobs_env(tmp_path_factory)


@pytest.fixture
def api(env):
    harness, runner = env
    runner.unavailable = None
    return harness


@pytest.fixture
def runner(env):
    return env[1]


def test_cancel_a_queued_job_stops_its_run_and_exports_what_it_has(api, runner):
    job = people_job(api.alice, total=4)
    response = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert response.status_code == 200, response.text
    assert response.json()["job"]["status"] == "cancelled"
    assert runner.cancelled[-1] == job["flowRunId"]
    export = api.alice.get(f"/api/jobs/{job['id']}/export", params={"format": "jsonl"})
    assert export.status_code == 200
    assert export.headers["x-datagems-partial"] == "true" and export.content == b""
    again = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert again.status_code == 409


def test_cancel_still_saves_the_request_when_prefect_is_down(api, runner):
    job = people_job(api.alice, total=4)
    runner.unavailable = "the Prefect server at http://127.0.0.1:1/api cannot be reached"
    response = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert response.status_code == 200
    assert response.json()["job"]["status"] == "cancelled"
    assert "next checkpoint" in response.json()["warnings"][0]


def test_retry_continues_a_spent_budget_with_a_larger_one(api, runner, fake_gateway):
    settings = api.settings.model_copy(
        update={"inference_base_url_raw": fake_gateway.openai_base, "mock_inference": False}
    )
    job = people_job(api.alice, total=10, inference={"concurrency": 1})
    fake_gateway.configure(rate_invalid=1.0)  # every answer breaks the schema, re-asks too
    failed = run_job_here(api, job["id"], settings)
    # The default budget is DATAGEMS_MAX_CANDIDATES_FACTOR (2) x N candidates.
    assert (failed.status, failed.total_failed, failed.total_ok) == ("failed", 20, 0)
    assert failed.error == "candidate budget spent: 0 of 10 accepted; rejected: 20 invalid"
    view = api.alice.get(f"/api/jobs/{job['id']}").json()
    assert sum(view["failureReasons"].values()) == 20
    fake_gateway.configure(rate_invalid=0.0)
    too_small = api.alice.post(
        f"/api/jobs/{job['id']}/retry", json={"maxCandidates": 5}, headers=CSRF
    )
    assert too_small.status_code == 400 and "maxCandidates" in too_small.text
    response = api.alice.post(
        f"/api/jobs/{job['id']}/retry", json={"maxCandidates": 30}, headers=CSRF
    )
    assert response.status_code == 200, response.text
    assert response.json()["job"]["status"] == "queued"
    assert response.json()["job"]["maxCandidates"] == 30
    assert runner.started[-1].id == job["id"] and runner.started[-1].retry_pass == 1
    healed = run_job_here(api, job["id"], settings)
    assert (healed.status, healed.total_ok, healed.total_failed) == ("succeeded", 10, 20)
    nothing_left = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)
    assert nothing_left.status_code == 409


def test_retry_goes_on_with_the_records_a_stopped_job_never_made(api, runner):
    job = people_job(api.alice, total=4)
    cancelled = api.alice.post(f"/api/jobs/{job['id']}/cancel", headers=CSRF)
    assert cancelled.json()["job"]["status"] == "cancelled"  # before any record was made

    response = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)

    assert response.status_code == 200, response.text
    queued = response.json()["job"]
    # continuing is a new pass of the same job; the crash-resume count starts again
    assert (queued["status"], queued["retryPass"], queued["resumes"]) == ("queued", 1, 0)
    assert runner.started[-1].id == job["id"] and runner.started[-1].retry_pass == 1
    done = run_job_here(api, job["id"])
    assert (done.status, done.total_ok, done.total_failed) == ("succeeded", 4, 0)
    nothing_left = api.alice.post(f"/api/jobs/{job['id']}/retry", headers=CSRF)
    assert nothing_left.status_code == 409


def test_delete_job_removes_it(api):
    job = people_job(api.alice, total=2)
    run_job_here(api, job["id"])
    response = api.alice.delete(f"/api/jobs/{job['id']}", headers=CSRF)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert api.alice.get(f"/api/jobs/{job['id']}").status_code == 404
    assert job["id"] not in {j["id"] for j in api.alice.get("/api/jobs").json()["jobs"]}


def test_delete_a_queued_job_calls_off_its_run(api, runner):
    job = people_job(api.alice, total=2)
    response = api.alice.delete(f"/api/jobs/{job['id']}", headers=CSRF)
    assert response.status_code == 200
    assert runner.cancelled[-1] == job["flowRunId"]
    assert api.alice.get(f"/api/jobs/{job['id']}").status_code == 404
