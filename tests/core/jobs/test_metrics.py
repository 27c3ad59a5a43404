"""Metrics summed from job records; owners see their own, admins everyone's."""

from __future__ import annotations

from datagems_core.jobs.metrics import JOBS_KEY, compute_metrics, render_prometheus
from datagems_core.store.memory import MemoryStore


def job(job_id, owner, status, total, ok, failed, tokens, created, started=None):
    return {
        "id": job_id,
        "owner": owner,
        "title": job_id,
        "status": status,
        "totalRecords": total,
        "totalOk": ok,
        "totalFailed": failed,
        "failureReasons": {},
        "tokens": {"prompt": tokens // 2, "completion": tokens - tokens // 2, "total": tokens},
        "createdAt": created,
        "startedAt": started,
        "finishedAt": None,
        "updatedAt": created,
    }


async def _store():
    store = MemoryStore()
    jobs = [
        job(
            "j1",
            "ann",
            "succeeded",
            10,
            9,
            1,
            100,
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:01.000Z",
        ),
        job(
            "j2",
            "ann",
            "running",
            20,
            5,
            0,
            50,
            "2026-01-02T00:00:00.000Z",
            "2026-01-02T00:00:05.000Z",
        ),
        job("j3", "bob", "failed", 7, 0, 7, 0, "2026-01-03T00:00:00.000Z"),
        job("j4", "bob", "queued", 3, 0, 0, 0, "2026-01-04T00:00:00.000Z"),
    ]
    jobs[2]["takeovers"] = 2  # two of its shards were taken over from dead workers
    for record in jobs:
        await store.hset(JOBS_KEY, record["id"], record)
    return store


async def test_compute_metrics_for_one_owner():
    metrics = await compute_metrics(await _store(), owner="ann")
    assert metrics.to_json() == {
        "totalJobs": 2,
        "totalRecordsRequested": 30,
        "totalRecordsGenerated": 14,
        "activeJobs": 1,
        "failedJobs": 0,
        "lastJobAt": "2026-01-02T00:00:05.000Z",
        "recordsFailed": 1,
        "tokensUsed": 150,
        "shardTakeovers": 0,
    }


async def test_compute_metrics_for_everyone():
    metrics = (await compute_metrics(await _store(), owner=None)).to_json()
    assert metrics["totalJobs"] == 4 and metrics["failedJobs"] == 1
    assert metrics["recordsFailed"] == 8 and metrics["lastJobAt"] == "2026-01-04T00:00:00.000Z"
    assert metrics["shardTakeovers"] == 2


async def test_compute_metrics_with_no_jobs():
    metrics = (await compute_metrics(MemoryStore(), owner="x")).to_json()
    assert metrics["totalJobs"] == 0 and metrics["lastJobAt"] is None


async def test_render_prometheus_text_format():
    text = render_prometheus(
        await compute_metrics(await _store(), owner=None), users=3, version="1.2"
    )
    lines = text.splitlines()
    assert 'datagems_info{version="1.2"} 1' in lines
    assert 'datagems_jobs{status="failed"} 1' in lines
    assert "datagems_records_generated 14" in lines
    assert "datagems_tokens_used 150" in lines
    assert "datagems_shard_takeovers 2" in lines
    assert "datagems_users 3" in lines
    assert "# TYPE datagems_active_jobs gauge" in lines
    assert text.endswith("\n")
