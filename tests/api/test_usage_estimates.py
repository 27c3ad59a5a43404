"""Cost estimates over REST: their accuracy, unknown prices and a job created from one."""

from __future__ import annotations

import pytest

from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.api.priced_jobs import post_job, priced_env, wait_finished
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory, fake_gateway_process):
    yield from priced_env(tmp_path_factory, fake_gateway_process)


def test_estimate_for_200_is_within_15_percent_of_the_actual_cost(env):
    body = {
        "title": "People",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": 200,
        "seed": 11,
    }
    before = env.bob.get("/api/usage").json()["reports"][0]["totals"]
    answer = env.bob.post("/api/jobs/estimate", json=body, headers=CSRF)
    assert answer.status_code == 200, answer.text
    estimate = answer.json()
    assert estimate["sample"] == env.settings.estimate_sample == 5
    assert estimate["costKnown"] is True and estimate["model"] == "fake-model"
    assert 0 < estimate["acceptanceLow"] <= estimate["acceptanceRate"] <= estimate["acceptanceHigh"]
    cost = estimate["costUsd"]
    assert cost["low"] <= cost["expected"] <= cost["high"]
    after = env.bob.get("/api/usage").json()["reports"][0]
    assert after["totals"]["totalTokens"] - before["totalTokens"] == estimate["sampleTokens"]
    assert sum(m["estimates"] for m in after["models"]) >= 1
    created = post_job(env.bob, **{k: v for k, v in body.items() if k != "title"}, title="People")
    assert created.status_code == 201, created.text
    view = wait_finished(env, env.bob, created.json()["job"]["id"])
    assert view["job"]["status"] == "succeeded"
    actual = view["cost"]["usd"]
    assert abs(cost["expected"] - actual) <= 0.15 * actual, (cost, actual)


def test_estimate_without_a_price_says_cost_unknown_and_checks_its_body(tmp_path, fake_gateway):
    harness, _ = start_jobs_harness(
        tmp_path, update_every_k=5, inference_base_url_raw=fake_gateway.openai_base
    )
    with harness.stack:
        body = {
            "title": "People",
            "instructions": "Fictional customers",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": 50,
        }
        estimate = harness.alice.post("/api/jobs/estimate", json=body, headers=CSRF).json()
        assert estimate["costKnown"] is False and estimate["costUsd"] is None
        assert estimate["tokens"]["expected"] > 0
        bad = harness.alice.post(
            "/api/jobs/estimate", json={**body, "totalRecords": 0}, headers=CSRF
        )
        assert bad.status_code == 400 and "totalRecords" in bad.text


def test_a_job_created_from_an_estimate_starts_with_its_sample_and_pays_once(
    tmp_path, fake_gateway
):
    harness, _ = start_jobs_harness(
        tmp_path, update_every_k=5, inference_base_url_raw=fake_gateway.openai_base
    )
    with harness.stack:
        alice = harness.alice
        body = {
            "title": "People",
            "instructions": "Fictional customers of a software shop",
            "schema": PEOPLE_SCHEMA,
            "totalRecords": 12,
            "nearDuplicateThreshold": None,
        }
        estimate = alice.post("/api/jobs/estimate", json=body, headers=CSRF).json()
        estimate_id, sample = estimate["estimateId"], estimate["sample"]
        assert estimate_id.startswith("est_") and sample == harness.settings.estimate_sample
        calls = fake_gateway.stats()["requests"]
        assert calls == sample  # one call per sample candidate (none re-asked here)
        usage = alice.get("/api/usage").json()["reports"][0]
        assert sum(m["estimates"] for m in usage["models"]) == 1

        other = alice.post(
            "/api/jobs", json={**body, "instructions": "Other", "estimateId": estimate_id},
            headers=CSRF,
        )  # fmt: skip
        assert other.status_code == 400 and "estimateId" in other.text
        assert "another definition" in other.text
        # a refused attempt used it up (single use); another user cannot take one at all
        estimate_id = alice.post("/api/jobs/estimate", json=body, headers=CSRF).json()["estimateId"]
        bob = harness.bob.post("/api/jobs", json={**body, "estimateId": estimate_id}, headers=CSRF)
        assert bob.status_code == 400 and "of yours" in bob.text
        calls = fake_gateway.stats()["requests"]
        before = alice.get("/api/usage").json()["reports"][0]["totals"]["totalTokens"]

        created = alice.post("/api/jobs", json={**body, "estimateId": estimate_id}, headers=CSRF)
        assert created.status_code == 201, created.text
        job_id = created.json()["job"]["id"]
        first = alice.get(f"/api/jobs/{job_id}/records").json()
        assert [r["index"] for r in first["records"]] == list(range(sample))  # before it runs
        run_job_here(harness, job_id)
        view = alice.get(f"/api/jobs/{job_id}").json()
        assert view["job"]["status"] == "succeeded" and view["job"]["totalOk"] == 12
        made = fake_gateway.stats()["requests"] - calls
        candidates = view["job"]["totalOk"] + view["job"]["totalFailed"]
        assert made == candidates - sample  # the sample's candidates were not made again
        after = alice.get("/api/usage").json()["reports"][0]["totals"]["totalTokens"]
        assert after - before == view["tokens"]["total"] - sum(
            r["tokens"]["total"] for r in first["records"]
        )  # the sample's tokens moved to the job's line: counted once
        reused = alice.post("/api/jobs", json={**body, "estimateId": estimate_id}, headers=CSRF)
        assert reused.status_code == 400 and "used once" in reused.text
