"""Metrics from job records (own jobs, or all for admins), Prometheus text, public health."""

from __future__ import annotations

import asyncio

from datagems_core.jobs.metrics import JOBS_KEY
from tests.support.api_fixtures import CSRF, bearer


def _job(job_id, owner, status, total, ok, failed, tokens):
    return {
        "id": job_id,
        "owner": owner,
        "title": job_id,
        "status": status,
        "totalRecords": total,
        "totalOk": ok,
        "totalFailed": failed,
        "tokens": {"prompt": 0, "completion": tokens, "total": tokens},
        "createdAt": "2026-02-01T10:00:00.000Z",
        "startedAt": None,
        "updatedAt": "2026-02-01T10:00:00.000Z",
    }


def _seed_jobs(api):
    for record in (
        _job("job_1_aaaaaa", "alice", "succeeded", 10, 10, 0, 500),
        _job("job_2_bbbbbb", "alice", "failed", 5, 2, 3, 70),
        _job("job_3_cccccc", "bob", "running", 8, 1, 0, 20),
    ):
        asyncio.run(api.store.hset(JOBS_KEY, record["id"], record))


def test_metrics_are_per_user_and_global_for_admin(api):
    _seed_jobs(api)
    mine = api.alice.get("/api/metrics").json()["metrics"]
    assert mine == {
        "totalJobs": 2,
        "totalRecordsRequested": 15,
        "totalRecordsGenerated": 12,
        "activeJobs": 0,
        "failedJobs": 1,
        "lastJobAt": "2026-02-01T10:00:00.000Z",
        "recordsFailed": 3,
        "tokensUsed": 570,
        "shardTakeovers": 0,
    }
    everyone = api.admin.get("/api/metrics").json()["metrics"]
    assert everyone["totalJobs"] == 3 and everyone["activeJobs"] == 1
    assert api.client().get("/api/metrics").status_code == 401


def test_metrics_with_an_api_token(api):
    token = api.bob.post("/api/auth/tokens", json={"name": "m"}, headers=CSRF).json()["token"]
    response = api.client().get("/api/metrics", headers=bearer(token))
    assert response.status_code == 200 and "metrics" in response.json()


def test_prometheus_metrics_are_for_admins(api):
    _seed_jobs(api)
    response = api.admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'datagems_jobs{status="succeeded"} 1' in response.text.splitlines()
    assert api.alice.get("/metrics").status_code == 403
    assert api.client().get("/metrics").status_code == 401
    token = api.admin.post("/api/auth/tokens", json={"name": "prom"}, headers=CSRF).json()["token"]
    assert api.client().get("/metrics", headers=bearer(token)).status_code == 200


def test_health_is_public_in_the_seed_shape(api):
    for path in ("/health", "/api/health"):
        body = api.client().get(path).json()
        assert set(body) == {"ok", "version", "timestamp", "serving_node"}
        assert body["ok"] is True and body["timestamp"].endswith("Z")
        assert body["serving_node"] is None


def test_api_docs_load_their_scripts_from_the_server_not_a_cdn(api):
    client = api.client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr.net" not in page.text
    script = next(
        line.split('"')[1] for line in page.text.splitlines() if "swagger-ui-bundle.js" in line
    )
    assert client.get(script).status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "DataGems"
