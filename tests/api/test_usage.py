"""Cost governance over REST: prices, job cost, the usage ledger, quotas and their counters."""

from __future__ import annotations

import asyncio
import re

import pytest

from datagems_core.billing.ledger import month_of
from datagems_core.files.local import LocalFileStore
from datagems_core.jobs.schedules import create_version_job, read_schedule
from tests.api.flow_runner_fake import run_job_here, start_jobs_harness
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA

INPUT_PRICE, OUTPUT_PRICE = 2.0, 8.0


@pytest.fixture(scope="module")
def env(tmp_path_factory, fake_gateway_process):
    # the fake gateway is a real server process that reports token usage like a real gateway
    fake_gateway_process.reset()
    harness, _ = start_jobs_harness(
        tmp_path_factory.mktemp("usage-api"),
        update_every_k=5,
        inference_base_url_raw=fake_gateway_process.openai_base,
        inference_model="fake-model",
        inference_input_price_per_mtok=INPUT_PRICE,
        inference_output_price_per_mtok=OUTPUT_PRICE,
    )
    with harness.stack:
        yield harness


def _job(client, total=6, **overrides):
    body = {
        "title": "People",
        "instructions": "Fictional customers of a software shop",
        "schema": PEOPLE_SCHEMA,
        "totalRecords": total,
        "seed": 3,
        **overrides,
    }
    return client.post("/api/jobs", json=body, headers=CSRF)


def _made(env, client, total=6):
    response = _job(client, total)
    assert response.status_code == 201, response.text
    job = response.json()["job"]
    run_job_here(env, job["id"])
    return client.get(f"/api/jobs/{job['id']}").json()


def test_job_cost_is_tokens_at_the_price_it_was_created_with(env):
    view = _made(env, env.alice)
    tokens, cost = view["tokens"], view["cost"]
    assert tokens["prompt"] > 0 and tokens["completion"] > 0
    expected = (tokens["prompt"] * INPUT_PRICE + tokens["completion"] * OUTPUT_PRICE) / 1e6
    assert cost["known"] is True
    assert cost["usd"] == pytest.approx(expected, abs=1e-6)
    assert cost["perAcceptedRecordUsd"] == pytest.approx(
        expected / view["progress"]["ok"], rel=1e-3
    )
    assert cost["price"] == {"inputPerMTok": INPUT_PRICE, "outputPerMTok": OUTPUT_PRICE}
    assert cost["model"] == "fake-model"
    assert view["job"]["price"]["inputPerMTok"] == INPUT_PRICE


def test_job_without_a_price_shows_cost_unknown_not_zero(tmp_path, fake_gateway):
    harness, _ = start_jobs_harness(
        tmp_path, update_every_k=5, inference_base_url_raw=fake_gateway.openai_base
    )
    with harness.stack:
        view = _made(harness, harness.alice, total=3)
        assert view["tokens"]["total"] > 0
        assert view["cost"]["usd"] is None and view["cost"]["known"] is False
        usage = harness.alice.get("/api/usage").json()
        assert usage["reports"][0]["totals"]["costUsd"] is None
        assert usage["reports"][0]["totals"]["unpricedTokens"] == view["tokens"]["total"]


def test_usage_sums_jobs_per_model_and_survives_deleting_the_job(env):
    bob = env.bob
    before = bob.get("/api/usage").json()["reports"][0]["totals"]
    view = _made(env, bob, total=4)
    report = bob.get("/api/usage").json()
    assert report["month"] == month_of()
    (line,) = report["reports"][0]["models"]
    assert line["model"] == "fake-model"
    totals = report["reports"][0]["totals"]
    assert totals["totalTokens"] - before["totalTokens"] == view["tokens"]["total"]
    assert totals["acceptedRecords"] - before["acceptedRecords"] == view["progress"]["ok"]
    deleted = bob.delete(f"/api/jobs/{view['job']['id']}", headers=CSRF)
    assert deleted.status_code == 200, deleted.text
    after = bob.get("/api/usage").json()["reports"][0]["totals"]
    assert after["totalTokens"] == totals["totalTokens"]


def test_usage_of_others_is_for_admins_only(env):
    _made(env, env.alice, total=2)
    assert env.bob.get("/api/usage", params={"user": "alice"}).status_code == 403
    seen = env.admin.get("/api/usage", params={"user": "alice"}).json()
    assert seen["reports"][0]["user"] == "alice"
    everyone = env.admin.get("/api/usage", params={"user": "*"}).json()
    assert {"alice"} <= {r["user"] for r in everyone["reports"]}
    bad = env.alice.get("/api/usage", params={"month": "2026-13"})
    assert bad.status_code == 400 and "month" in bad.text


def test_a_schema_draft_counts_to_the_user_who_asked(env):
    before = env.alice.get("/api/usage").json()["reports"][0]["models"]
    drafts_before = sum(m["drafts"] for m in before)
    response = env.alice.post(
        "/api/jobs/schema",
        json={"title": "Tickets", "instructions": "Support tickets of a bank"},
        headers=CSRF,
    )
    assert response.status_code == 200, response.text
    after = env.alice.get("/api/usage").json()["reports"][0]["models"]
    assert sum(m["drafts"] for m in after) == drafts_before + 1


def test_quota_refuses_a_job_that_cannot_fit_and_lets_another_user_run(env):
    used = env.admin.get("/api/admin/users/alice/quota").json()["usedRecords"]
    put = env.admin.put("/api/admin/users/alice/quota", json={"records": used + 5}, headers=CSRF)
    assert put.status_code == 200, put.text
    assert put.json()["remainingRecords"] == 5
    refused = _job(env.alice, total=6)
    assert refused.status_code == 403
    assert "record quota" in refused.json()["error"] and "5 of" in refused.json()["error"]
    assert _job(env.alice, total=5).status_code == 201
    assert _job(env.bob, total=6).status_code == 201  # bob has no quota
    env.admin.put("/api/admin/users/alice/quota", json={"reset": True}, headers=CSRF)
    assert _job(env.alice, total=6).status_code == 201


def test_token_quota_spent_refuses_new_jobs(env):
    view = _made(env, env.alice, total=2)
    assert view["tokens"]["total"] > 0
    env.admin.put("/api/admin/users/alice/quota", json={"tokens": 1}, headers=CSRF)
    refused = _job(env.alice, total=1)
    assert refused.status_code == 403 and "token quota" in refused.json()["error"]
    env.admin.put("/api/admin/users/alice/quota", json={"reset": True}, headers=CSRF)


def test_quota_routes_check_input_and_rights(env):
    assert (
        env.alice.put("/api/admin/users/alice/quota", json={"records": 5}, headers=CSRF).status_code
        == 403
    )
    bad = env.admin.put("/api/admin/users/alice/quota", json={"costUsd": -1}, headers=CSRF)
    assert bad.status_code == 400 and "costUsd" in bad.text
    missing = env.admin.put("/api/admin/users/nobody/quota", json={"records": 5}, headers=CSRF)
    assert missing.status_code == 404


def test_admin_reads_every_users_usage_against_their_quota(env):
    _made(env, env.alice, total=2)
    env.admin.put("/api/admin/users/bob/quota", json={"tokens": 10**9}, headers=CSRF)
    answer = env.admin.get("/api/admin/quotas")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["month"] == month_of()
    by_user = {q["user"]: q for q in body["quotas"]}
    assert {"alice", "bob", "admin"} <= set(by_user)
    alice = env.alice.get("/api/usage").json()
    assert by_user["alice"]["usedTokens"] == alice["reports"][0]["totals"]["totalTokens"] > 0
    assert by_user["bob"]["quota"] == {
        "tokens": 10**9,
        "costUsd": None,
        "records": None,
        "isDefault": False,
    }
    assert env.alice.get("/api/admin/quotas").status_code == 403
    env.admin.put("/api/admin/users/bob/quota", json={"reset": True}, headers=CSRF)


def test_profile_prices_are_checked_and_shown(env):
    url = "/api/user/settings"
    one = env.alice.post(
        url,
        json={"name": "Paid", "baseUrl": "https://api.example.com/v1", "inputPricePerMTok": 1},
        headers=CSRF,
    )
    assert one.status_code == 400 and "outputPricePerMTok" in one.text
    negative = env.alice.post(
        url,
        json={"name": "Paid", "inputPricePerMTok": -1, "outputPricePerMTok": 1},
        headers=CSRF,
    )
    assert negative.status_code == 400 and "inputPricePerMTok" in negative.text
    saved = env.alice.post(
        url,
        json={"name": "Paid", "inputPricePerMTok": 0.15, "outputPricePerMTok": 0.6},
        headers=CSRF,
    )
    assert saved.status_code == 200, saved.text
    profile = saved.json()["profiles"][-1]
    assert profile["inputPricePerMTok"] == 0.15 and profile["outputPricePerMTok"] == 0.6


def test_prometheus_counts_usage_per_user_and_model(env):
    _made(env, env.alice, total=2)
    text = env.admin.get("/metrics").text
    assert "# TYPE datagems_usage_tokens_total counter" in text
    assert 'datagems_usage_tokens_total{user="alice",model="fake-model",kind="prompt"}' in text
    assert 'datagems_usage_cost_usd_total{user="alice",model="fake-model"}' in text


def _wait_finished(env, client, job_id):
    run_job_here(env, job_id)
    return client.get(f"/api/jobs/{job_id}").json()


def test_token_budget_stops_the_job_failed_and_a_raised_budget_continues_it(env):
    probe = _made(env, env.bob, total=2)
    per_record = probe["tokens"]["total"] / 2
    budget = int(per_record * 4.5)
    response = _job(env.bob, total=20, maxTokens=budget, inference={"concurrency": 2})
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]
    view = _wait_finished(env, env.bob, job_id)
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
    again = _wait_finished(env, env.bob, job_id)
    assert again["job"]["status"] == "succeeded" and again["progress"]["ok"] == 20


def test_cost_budget_needs_a_price_and_positive_numbers(env, tmp_path, fake_gateway):
    for body, field in (
        ({"maxCostUsd": -1}, "maxCostUsd"),
        ({"maxTokens": 0}, "maxTokens"),
        ({"maxTokens": True}, "maxTokens"),
    ):
        answer = _job(env.alice, total=2, **body)
        assert answer.status_code == 400 and field in answer.text, answer.text
    unpriced, _ = start_jobs_harness(
        tmp_path, update_every_k=5, inference_base_url_raw=fake_gateway.openai_base
    )
    with unpriced.stack:
        answer = _job(unpriced.alice, total=2, maxCostUsd=1.0)
        assert answer.status_code == 400
        assert "maxCostUsd needs a price" in answer.json()["error"]


def test_cost_budget_stops_at_its_dollars(env):
    probe = _made(env, env.bob, total=2)
    per_record = probe["cost"]["usd"] / 2
    budget = round(per_record * 3.5, 8)
    response = _job(env.bob, total=12, maxCostUsd=budget, inference={"concurrency": 2})
    assert response.status_code == 201, response.text
    view = _wait_finished(env, env.bob, response.json()["job"]["id"])
    assert view["job"]["status"] == "failed"
    assert view["job"]["error"].startswith("budget reached: $")
    assert view["progress"]["ok"] < 12


def test_a_running_job_stops_at_the_owners_quota(env):
    probe = _made(env, env.alice, total=2)
    per_record = probe["tokens"]["total"] / 2
    used = env.admin.get("/api/admin/users/alice/quota").json()["usedTokens"]
    env.admin.put(
        "/api/admin/users/alice/quota",
        json={"tokens": used + int(per_record * 3.5)},
        headers=CSRF,
    )
    try:
        response = _job(env.alice, total=15, inference={"concurrency": 2})
        assert response.status_code == 201, response.text
        view = _wait_finished(env, env.alice, response.json()["job"]["id"])
        assert view["job"]["status"] == "failed"
        assert view["job"]["error"].startswith("monthly quota reached: ")
        assert view["progress"]["ok"] < 15
    finally:
        env.admin.put("/api/admin/users/alice/quota", json={"reset": True}, headers=CSRF)


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
    created = _job(env.bob, **{k: v for k, v in body.items() if k != "title"}, title="People")
    assert created.status_code == 201, created.text
    view = _wait_finished(env, env.bob, created.json()["job"]["id"])
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


def test_a_gateway_without_usage_is_counted_from_sizes_and_a_token_budget_still_stops(
    env, fake_gateway_process
):
    fake_gateway_process.configure(omit_usage=True)
    try:
        probe = _made(env, env.bob, total=2)
        tokens = probe["tokens"]
        # counted from the request and reply sizes, marked estimated, never silently zero
        assert tokens["total"] > 0 and tokens["estimated"] == tokens["total"]
        assert probe["cost"]["usd"] is None and probe["cost"]["usageReported"] is False
        assert probe["cost"]["tokensEstimated"] == tokens["total"]
        records = env.bob.get(f"/api/jobs/{probe['job']['id']}/records").json()["records"]
        assert all(r["tokens"]["estimated"] == r["tokens"]["total"] > 0 for r in records)

        per_record = tokens["total"] / 2
        budget = int(per_record * 4.5)
        response = _job(env.bob, total=20, maxTokens=budget, inference={"concurrency": 2})
        assert response.status_code == 201, response.text
        view = _wait_finished(env, env.bob, response.json()["job"]["id"])
        assert view["job"]["status"] == "failed"
        assert view["job"]["error"].startswith("budget reached: ")
        assert 4 <= view["progress"]["ok"] < 20
        assert view["tokens"]["total"] <= budget + 2 * per_record * 1.5

        usage = env.bob.get("/api/usage").json()["reports"][0]["totals"]
        assert usage["estimatedTokens"] >= tokens["total"] + view["tokens"]["total"]
        metrics = env.admin.get("/metrics").text
        counted = re.search(
            r'datagems_usage_estimated_tokens_total\{user="bob",model="fake-model"\} (\d+)',
            metrics,
        )
        assert counted and int(counted.group(1)) == usage["estimatedTokens"]

        body = {"title": "P", "instructions": "Customers", "schema": PEOPLE_SCHEMA}
        answer = env.bob.post("/api/jobs/estimate", json={**body, "totalRecords": 50}, headers=CSRF)
        assert answer.status_code == 200, answer.text
        estimate = answer.json()
        assert estimate["tokensEstimated"] is True and estimate["costKnown"] is False
        assert estimate["costUsd"] is None and estimate["tokens"]["expected"] > 0
    finally:
        fake_gateway_process.reset()


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
    probe = _made(env, env.bob, total=2)
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
        view = _wait_finished(env, env.bob, job.id)
        assert view["job"]["status"] == "failed", view["job"]
        assert f"of {budget:,} tokens" in view["job"]["error"]
        assert view["tokens"]["total"] <= budget + 2 * per_record * 1.5


def _build_version(env, schedule_id, build_id):
    async def build():
        schedule = await read_schedule(env.store, schedule_id)
        files = LocalFileStore(root=env.settings.data_dir / "files")
        return await create_version_job(env.store, files, env.settings, schedule, build_id=build_id)

    return asyncio.run(build())


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
