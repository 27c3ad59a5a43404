"""The generate-dataset flow against a real Prefect server: modes, UI, faults, cancel, failure."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.states import Cancelled, Completed, Crashed, Failed, Running

from datagems_core.config.settings import get_settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import InferenceUnreachable
from datagems_core.jobs.models import IndexRange, Shard
from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.shard_lease import Lease, claim, job_lease_key
from datagems_core.jobs.stored_records import iter_ok_records
from datagems_core.jobs.transitions import mark_running, request_cancel
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from flows.generate_dataset import JobIncomplete, generate_dataset
from flows.pool_shards import _needs_takeover
from tests.flows.helpers import create_stored_job, flow_run_and_artifacts, task_run_names
from tests.support.processes import free_port


async def ok_indices(job_id: str) -> list[int]:
    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    try:
        return [i async for i, _ in iter_ok_records(store, files, job_id)]
    finally:
        await files.close()
        await store.close()


async def stored_job(job_id: str):
    store = open_store(get_settings())
    try:
        return await read_job(store, job_id), await read_shards(store, job_id)
    finally:
        await store.close()


async def task_parameters_and_logs(flow_run_id: str) -> tuple[set[str], list[str]]:
    """The parameter names of the flow run's task runs, and the messages its task runs logged."""
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
        )
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)]))
        )
    names = {name for run in runs for name in run.task_inputs}
    return names, [log.message for log in logs if log.task_run_id is not None]


async def test_small_job_runs_one_task_per_record_and_shows_in_the_ui(monkeypatch):
    monkeypatch.setenv("DATAGEN_UPDATE_EVERY_K_REQUESTS", "4")
    job = await create_stored_job(10)

    result = await generate_dataset(job.id)

    assert result["status"] == "succeeded"
    done, shards = await stored_job(job.id)
    assert (done.status, done.total_ok, done.total_failed, done.error) == ("succeeded", 10, 0, None)
    assert done.dataset_cid and done.finished_at and done.flow_run_id
    assert [s.status for s in shards] == ["succeeded"]
    assert await ok_indices(job.id) == list(range(10))
    names = await task_run_names(done.flow_run_id, expected=10)
    assert names == sorted(f"record-{i}" for i in range(10))
    # Only the index is a task parameter, and task runs do not log one line each.
    parameters, task_logs = await task_parameters_and_logs(done.flow_run_id)
    assert parameters == {"index"}
    assert not [m for m in task_logs if "Finished in state" in m]
    run, artifacts = await flow_run_and_artifacts(done.flow_run_id)
    assert run.name == f"Shop customers ({job.id})"
    assert {"owner:alice", f"job:{job.id}"} <= set(run.tags)
    kinds = {a.type for a in artifacts}
    assert {"progress", "markdown"} <= kinds
    progress = next(a for a in artifacts if a.type == "progress")
    assert float(progress.data) == 100.0
    summary = next(a for a in artifacts if a.type == "markdown")
    assert "| 10 | 10 | 0 |" in summary.data and "Shop customers" in summary.data
    # Only the title of what the user wrote or got back: no owner, fields or values.
    assert "alice" not in summary.data and "plan" not in summary.data


async def test_large_job_runs_one_task_per_checkpoint_batch(monkeypatch):
    monkeypatch.setenv("DATAGEMS_RECORD_TASKS_MAX", "5")
    monkeypatch.setenv("DATAGEN_UPDATE_EVERY_K_REQUESTS", "10")
    job = await create_stored_job(30)

    await generate_dataset(job.id)

    done, _ = await stored_job(job.id)
    assert (done.status, done.total_ok) == ("succeeded", 30)
    assert await ok_indices(job.id) == list(range(30))
    names = await task_run_names(done.flow_run_id, expected=3)
    assert names == ["records-0-9", "records-10-19", "records-20-29"]
    parameters, task_logs = await task_parameters_and_logs(done.flow_run_id)
    assert parameters == {"first", "last"}
    assert not [m for m in task_logs if "Finished in state" in m]


async def test_a_shard_with_no_records_succeeds_in_the_flow():
    job = await create_stored_job(1, peers=["local", "spare"])
    await generate_dataset(job.id)
    done, shards = await stored_job(job.id)
    assert done.status == "succeeded"
    assert [(s.shard_key, s.assigned, s.status) for s in shards] == [
        ("local", 1, "succeeded"),
        ("spare", 0, "succeeded"),
    ]


async def test_shards_bound_to_no_peer_run_here_without_a_pool_each_index_once():
    job = await create_stored_job(30, peers=["s0", "s1", "s2", "s3"], on_peers=False)
    await generate_dataset(job.id)
    done, shards = await stored_job(job.id)
    assert (done.status, done.total_ok) == ("succeeded", 30)
    assert [(s.shard_key, s.peer_id, s.assigned) for s in shards] == [
        ("s0", "default", 8),
        ("s1", "default", 8),
        ("s2", "default", 7),
        ("s3", "default", 7),
    ]
    assert all(s.lease_owner and s.takeovers == 0 for s in shards)
    assert sorted(await ok_indices(job.id)) == list(range(30))


async def _with_store(action):
    store = open_store(get_settings())
    try:
        return await action(store)
    finally:
        await store.close()


async def test_a_second_job_run_leaves_a_job_whose_run_is_alive(monkeypatch):
    monkeypatch.setenv("DATAGEMS_SHARD_LEASE_SECONDS", "2")
    get_settings.cache_clear()
    job = await create_stored_job(3)
    held = await _with_store(
        lambda store: claim(store, job_lease_key(job.id), owner="live-run", ttl_seconds=3600)
    )
    assert isinstance(held, Lease)
    record = await generate_dataset(job.id)  # waits twice the lease time, then leaves
    assert record["status"] == "queued"
    done, shards = await stored_job(job.id)
    assert done.status == "queued" and shards[0].generated_ok == 0


async def test_a_job_left_running_by_a_dead_run_is_resumed_and_counted():
    job = await create_stored_job(4)
    await _with_store(lambda store: mark_running(store, job, flow_run_id="dead-run"))
    await generate_dataset(job.id)
    done, _ = await stored_job(job.id)
    assert (done.status, done.total_ok, done.resumes) == ("succeeded", 4, 1)


async def test_a_job_resumed_too_often_fails_with_the_reason(monkeypatch):
    monkeypatch.setenv("DATAGEMS_JOB_MAX_RESUMES", "0")
    get_settings.cache_clear()
    job = await create_stored_job(4)
    await _with_store(lambda store: mark_running(store, job, flow_run_id="dead-run"))
    with pytest.raises(JobIncomplete, match="DATAGEMS_JOB_MAX_RESUMES"):
        await generate_dataset(job.id)
    done, _ = await stored_job(job.id)
    assert done.status == "failed" and "dead-run" in done.error


def test_only_a_run_that_ended_without_finishing_its_shard_is_taken_over():
    running = Shard(
        shard_key="s0", peer_id="default", assigned=3, range=IndexRange(start=0, end=3)
    ).model_copy(update={"status": "running"})
    done = running.model_copy(update={"status": "failed", "error": "gateway refused"})
    assert _needs_takeover(Crashed(), running) and _needs_takeover(Crashed(), done)
    assert _needs_takeover(Failed(), running)
    assert not _needs_takeover(Failed(), done)  # it failed for a reason of its own
    assert not _needs_takeover(Cancelled(), running)
    assert not _needs_takeover(Completed(), running) and not _needs_takeover(Running(), running)
    assert not _needs_takeover(None, running)


async def test_faults_at_the_gateway_still_give_every_record(monkeypatch, fake_gateway):
    # 5 % 500, 5 % 429 and 2 % garbage over the first 100 requests, then clean replies.
    script = ["ok"] * 100
    for n in range(0, 100, 20):
        script[n], script[n + 10] = "500", "429"
    script[5] = script[55] = "garbage"
    fake_gateway.configure(script=script, retry_after="0")
    monkeypatch.setenv("DATAGEN_UPDATE_EVERY_K_REQUESTS", "10")
    monkeypatch.setenv("DATAGEMS_RECORD_TASKS_MAX", "0")  # batch mode: quicker for 100 records
    choice = InferenceChoice(base_url=fake_gateway.openai_base, model="fake", concurrency=8)
    job = await create_stored_job(100, inference=choice)

    await generate_dataset(job.id)

    done, _ = await stored_job(job.id)
    assert (done.status, done.total_ok, done.total_failed) == ("succeeded", 100, 0)
    assert await ok_indices(job.id) == list(range(100))
    outcomes = fake_gateway.stats()["by_outcome"]
    assert (outcomes["500"], outcomes["429"], outcomes["garbage"]) == (5, 5, 2)
    assert done.tokens.total > 0


async def test_cancel_stops_the_job_and_keeps_what_was_made(monkeypatch):
    monkeypatch.setenv("DATAGEN_UPDATE_EVERY_K_REQUESTS", "5")
    monkeypatch.setenv("DATAGEMS_MOCK_LATENCY_MS", "20")
    monkeypatch.setenv("DATAGEMS_INFERENCE_CONCURRENCY", "2")
    monkeypatch.setenv("DATAGEMS_RECORD_TASKS_MAX", "0")
    job = await create_stored_job(400)

    async def cancel_when_started():
        store = open_store(get_settings())
        try:
            while True:
                shards = await read_shards(store, job.id)
                if shards[0].generated_ok >= 10:
                    await request_cancel(store, job.id, by="alice")
                    return
                await asyncio.sleep(0.02)
        finally:
            await store.close()

    canceller = asyncio.create_task(cancel_when_started())
    await generate_dataset(job.id)
    await canceller

    done, shards = await stored_job(job.id)
    assert done.status == "cancelled" and shards[0].status == "cancelled"
    assert 10 <= done.total_ok < 400
    assert len(await ok_indices(job.id)) == done.total_ok


async def test_an_unreachable_gateway_fails_the_job_with_its_reason(monkeypatch):
    monkeypatch.setenv("DATAGEMS_INFERENCE_MAX_ATTEMPTS", "1")
    closed = f"http://127.0.0.1:{free_port()}/v1"
    job = await create_stored_job(3, inference=InferenceChoice(base_url=closed, model="m"))

    with pytest.raises(InferenceUnreachable):
        await generate_dataset(job.id)

    done, shards = await stored_job(job.id)
    assert done.status == "failed" and shards[0].status == "failed"
    assert "InferenceUnreachable" in done.error
    assert "127.0.0.1" in done.error or "reach" in done.error.lower()
