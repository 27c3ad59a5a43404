"""Token and cost budgets over REST: a job's and each version of a schedule's."""

from __future__ import annotations

import asyncio

import pytest

from datagems_core.jobs.schedules import create_version_job, read_schedule
from datagems_core.store.files.local import LocalFileStore
from tests.api.flow_runner_fake import start_jobs_harness
from tests.api.priced_jobs import made_job, post_job, priced_env, wait_finished
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory, fake_gateway_process):
    yield from priced_env(tmp_path_factory, fake_gateway_process)


def test_token_budget_stops_the_job_failed_and_a_raised_budget_continues_it(env):
    probe = made_job(env, env.bob, total=2)
    per_record = probe["tokens"]["total"] / 2
    budget = int(per_record * 4.5)
    response = post_job(env.bob, total=20, maxTokens=budget, inference={"concurrency": 2})
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]
    view = wait_finished(env, env.bob, job_id)
    job = view["job"]
    assert job["status"] == "failed"
    assert job["error"].startswith("budget reached: ")
    assert f"of {budget:,} tokens" in job["error"]
    assert f"{view['progress']['ok']} of 20 accepted" in job["error"]
    assert 4 <= view["progress"]["ok"] < 20
    # never past the budget by more than the calls in flight when it was reached
    in_flight = 2
    assert view["tokens"]["total"] <= budget + in_flight * per_record * 1.5
    export = env.bob.get(f"/api/jobs/{job_id}/export", params={"format": "jsonl"})
    assert export.headers.get("X-DataGems-Partial") == "true"
    lower = env.bob.post(f"/api/jobs/{job_id}/retry", json={"maxTokens": budget}, headers=CSRF)
    assert lower.status_code == 400 and "maxTokens" in lower.text
    raised = env.bob.post(
        f"/api/jobs/{job_id}/retry", json={"maxTokens": budget * 20}, headers=CSRF
    )
    assert raised.status_code == 200, raised.text
    again = wait_finished(env, env.bob, job_id)
    assert again["job"]["status"] == "succeeded" and again["progress"]["ok"] == 20


def test_cost_budget_needs_a_price_and_positive_numbers(env, tmp_path, fake_gateway):
    for body, field in (
        ({"maxCostUsd": -1}, "maxCostUsd"),
        ({"maxTokens": 0}, "maxTokens"),
        ({"maxTokens": True}, "maxTokens"),
    ):
        answer = post_job(env.alice, total=2, **body)
        assert answer.status_code == 400 and field in answer.text, answer.text
    unpriced, _ = start_jobs_harness(
        tmp_path, update_every_k=5, inference_base_url_raw=fake_gateway.openai_base
    )
    with unpriced.stack:
        answer = post_job(unpriced.alice, total=2, maxCostUsd=1.0)
        assert answer.status_code == 400
        assert "maxCostUsd needs a price" in answer.json()["error"]


def test_cost_budget_stops_at_its_dollars(env):
    probe = made_job(env, env.bob, total=2)
    per_record = probe["cost"]["usd"] / 2
    budget = round(per_record * 3.5, 8)
    response = post_job(env.bob, total=12, maxCostUsd=budget, inference={"concurrency": 2})
    assert response.status_code == 201, response.text
    view = wait_finished(env, env.bob, response.json()["job"]["id"])
    assert view["job"]["status"] == "failed"
    assert view["job"]["error"].startswith("budget reached: $")
    assert view["progress"]["ok"] < 12


def test_a_schedule_budget_stops_each_version_and_is_checked_like_a_jobs(env):
    base = {
        "title": "Weekly people",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": 20,
        "cron": "0 6 * * 1",
    }
    bad = env.bob.post("/api/schedules", json={**base, "maxTokens": 0}, headers=CSRF)
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "maxTokens"
    probe = made_job(env, env.bob, total=2)
    per_record = probe["tokens"]["total"] / 2
    budget = int(per_record * 4.5)
    created = env.bob.post(
        "/api/schedules",
        json={**base, "maxTokens": budget, "inference": {"concurrency": 2}},
        headers=CSRF,
    )
    assert created.status_code == 201, created.text
    schedule = created.json()["schedule"]
    assert (schedule["maxTokens"], schedule["maxCostUsd"]) == (budget, None)
    patched = env.bob.patch(
        f"/api/schedules/{schedule['id']}", json={"maxCostUsd": 1000}, headers=CSRF
    )
    assert patched.json()["schedule"]["maxTokens"] == budget  # untouched fields stay
    for build_id in ("run-a", "run-b"):  # each version gets the whole budget
        job = _build_version(env, schedule["id"], build_id)
        assert (job.max_tokens, job.max_cost_usd) == (budget, 1000)
        view = wait_finished(env, env.bob, job.id)
        assert view["job"]["status"] == "failed", view["job"]
        assert f"of {budget:,} tokens" in view["job"]["error"]
        assert view["tokens"]["total"] <= budget + 2 * per_record * 1.5


def _build_version(env, schedule_id, build_id):
    async def build():
        schedule = await read_schedule(env.store, schedule_id)
        files = LocalFileStore(root=env.settings.data_dir / "files")
        return await create_version_job(env.store, files, env.settings, schedule, build_id=build_id)

    return asyncio.run(build())
