"""Monthly quotas over REST: refused jobs, the admin's quota routes and a running job stopped."""

from __future__ import annotations

import pytest

from datagems_core.billing.ledger import month_of
from tests.api.priced_jobs import made_job, post_job, priced_env, wait_finished
from tests.support.api_fixtures import CSRF


@pytest.fixture(scope="module")
def env(tmp_path_factory, fake_gateway_process):
    yield from priced_env(tmp_path_factory, fake_gateway_process)


def test_quota_refuses_a_job_that_cannot_fit_and_lets_another_user_run(env):
    used = env.admin.get("/api/admin/users/alice/quota").json()["usedRecords"]
    put = env.admin.put("/api/admin/users/alice/quota", json={"records": used + 5}, headers=CSRF)
    assert put.status_code == 200, put.text
    assert put.json()["remainingRecords"] == 5
    refused = post_job(env.alice, total=6)
    assert refused.status_code == 403
    assert "record quota" in refused.json()["error"] and "5 of" in refused.json()["error"]
    assert post_job(env.alice, total=5).status_code == 201
    assert post_job(env.bob, total=6).status_code == 201  # bob has no quota
    env.admin.put("/api/admin/users/alice/quota", json={"reset": True}, headers=CSRF)
    assert post_job(env.alice, total=6).status_code == 201


def test_token_quota_spent_refuses_new_jobs(env):
    view = made_job(env, env.alice, total=2)
    assert view["tokens"]["total"] > 0
    env.admin.put("/api/admin/users/alice/quota", json={"tokens": 1}, headers=CSRF)
    refused = post_job(env.alice, total=1)
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
    made_job(env, env.alice, total=2)
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


def test_a_running_job_stops_at_the_owners_quota(env):
    probe = made_job(env, env.alice, total=2)
    per_record = probe["tokens"]["total"] / 2
    used = env.admin.get("/api/admin/users/alice/quota").json()["usedTokens"]
    env.admin.put(
        "/api/admin/users/alice/quota",
        json={"tokens": used + int(per_record * 3.5)},
        headers=CSRF,
    )
    try:
        response = post_job(env.alice, total=15, inference={"concurrency": 2})
        assert response.status_code == 201, response.text
        view = wait_finished(env, env.alice, response.json()["job"]["id"])
        assert view["job"]["status"] == "failed"
        assert view["job"]["error"].startswith("monthly quota reached: ")
        assert view["progress"]["ok"] < 15
    finally:
        env.admin.put("/api/admin/users/alice/quota", json={"reset": True}, headers=CSRF)
