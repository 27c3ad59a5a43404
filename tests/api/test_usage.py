"""Cost and usage over REST: prices, a job's cost, the usage ledger and its Prometheus counters."""

from __future__ import annotations

import re

import pytest

from datagems_core.billing.ledger import month_of
from tests.api.flow_runner_fake import start_jobs_harness
from tests.api.priced_jobs import (
    INPUT_PRICE,
    OUTPUT_PRICE,
    made_job,
    post_job,
    priced_env,
    wait_finished,
)
from tests.support.api_fixtures import CSRF
from tests.support.schemas import PEOPLE_SCHEMA


@pytest.fixture(scope="module")
def env(tmp_path_factory, fake_gateway_process):
    yield from priced_env(tmp_path_factory, fake_gateway_process)


def test_job_cost_is_tokens_at_the_price_it_was_created_with(env):
    view = made_job(env, env.alice)
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
        view = made_job(harness, harness.alice, total=3)
        assert view["tokens"]["total"] > 0
        assert view["cost"]["usd"] is None and view["cost"]["known"] is False
        usage = harness.alice.get("/api/usage").json()
        assert usage["reports"][0]["totals"]["costUsd"] is None
        assert usage["reports"][0]["totals"]["unpricedTokens"] == view["tokens"]["total"]


def test_usage_sums_jobs_per_model_and_survives_deleting_the_job(env):
    bob = env.bob
    before = bob.get("/api/usage").json()["reports"][0]["totals"]
    view = made_job(env, bob, total=4)
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
    made_job(env, env.alice, total=2)
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
    made_job(env, env.alice, total=2)
    text = env.admin.get("/metrics").text
    assert "# TYPE datagems_usage_tokens_total counter" in text
    assert 'datagems_usage_tokens_total{user="alice",model="fake-model",kind="prompt"}' in text
    assert 'datagems_usage_cost_usd_total{user="alice",model="fake-model"}' in text


def test_a_gateway_without_usage_is_counted_from_sizes_and_a_token_budget_still_stops(
    env, fake_gateway_process
):
    fake_gateway_process.configure(omit_usage=True)
    try:
        probe = made_job(env, env.bob, total=2)
        tokens = probe["tokens"]
        # counted from the request and reply sizes, marked estimated, never silently zero
        assert tokens["total"] > 0 and tokens["estimated"] == tokens["total"]
        assert probe["cost"]["usd"] is None and probe["cost"]["usageReported"] is False
        assert probe["cost"]["tokensEstimated"] == tokens["total"]
        records = env.bob.get(f"/api/jobs/{probe['job']['id']}/records").json()["records"]
        assert all(r["tokens"]["estimated"] == r["tokens"]["total"] > 0 for r in records)

        per_record = tokens["total"] / 2
        budget = int(per_record * 4.5)
        response = post_job(env.bob, total=20, maxTokens=budget, inference={"concurrency": 2})
        assert response.status_code == 201, response.text
        view = wait_finished(env, env.bob, response.json()["job"]["id"])
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
