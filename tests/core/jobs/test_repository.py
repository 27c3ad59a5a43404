"""Jobs: creation, key layout, per-user listing, transitions, cancel, retry and delete."""

from __future__ import annotations

import re

import pytest

from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import BadRequest, Conflict, NotFound
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.models import Shard, sum_shards
from datagems_core.jobs.repository import (
    JOBS_HKEY,
    cancel_key,
    list_jobs_for_user,
    list_unfinished_jobs,
    read_details,
    read_job,
    read_shards,
    shards_hkey,
    user_jobs_hkey,
)
from datagems_core.jobs.transitions import (
    continue_job,
    delete_job,
    is_cancel_requested,
    mark_finished,
    mark_running,
    request_cancel,
)
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job
from tests.support.schemas import PERSON_SCHEMA


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_create_job_writes_job_index_details_and_shards(store, tmp_path):
    files = make_files(tmp_path)
    choice = InferenceChoice(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="MY_KEY")
    job = await make_job(store, files, total_records=10, peers=["a", "b", "c"], inference=choice)

    assert re.fullmatch(r"job_\d{13}_[0-9a-f]{6}", job.id)
    stored = await store.hget(JOBS_HKEY, job.id)
    assert stored["status"] == "queued"
    assert stored["totalRecords"] == 10
    assert stored["createdAt"].endswith("Z")
    assert stored["tokens"] == {"prompt": 0, "completion": 0, "total": 0, "estimated": 0}
    assert set(stored) >= {
        "id",
        "owner",
        "title",
        "description",
        "failureReasons",
        "flowRunId",
        "error",
        "datasetMode",
        "scheduleId",
        "version",
        "updatedAt",
    }
    summary = await store.hget(user_jobs_hkey("alice"), job.id)
    assert summary == {
        "id": job.id,
        "title": "People",
        "status": "queued",
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    }
    shards = await read_shards(store, job.id)
    assert [(s.shard_key, s.range.start, s.range.end) for s in shards] == [
        ("a", 0, 4),
        ("b", 4, 7),
        ("c", 7, 10),
    ]
    assert set((await store.hgetall(shards_hkey(job.id))).keys()) == {"a", "b", "c"}
    details = await read_details(files, job)
    assert details.json_schema == PERSON_SCHEMA
    assert details.inference.api_key_env == "MY_KEY"
    stored_details = await files.get_json(job.job_details_cid)
    assert "apiKey" not in stored_details["inference"]


async def test_list_jobs_for_user_reads_only_that_users_index_newest_first(store, tmp_path):
    files = make_files(tmp_path)
    first = await make_job(store, files, title="one")
    second = await make_job(store, files, title="two")
    await make_job(store, files, owner="bob")

    page, total = await list_jobs_for_user(store, "alice", offset=0, limit=1)
    assert total == 2
    newest = max((first, second), key=lambda j: (j.created_at, j.id))
    assert [j.id for j in page] == [newest.id]
    everything, _ = await list_jobs_for_user(store, "alice", offset=0, limit=10)
    assert {j.id for j in everything} == {first.id, second.id}
    assert all(j.owner == "alice" for j in everything)
    assert (await list_jobs_for_user(store, "nobody"))[1] == 0


async def test_job_transitions_keep_the_user_index_in_step(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files)
    running = await mark_running(store, job, flow_run_id="run-1")
    assert running.status == "running" and running.started_at and running.flow_run_id == "run-1"
    assert [j.id for j in await list_unfinished_jobs(store)] == [job.id]
    done = await mark_finished(store, running, status="succeeded", error=None)
    assert done.finished_at and done.records_duration_ms is not None
    assert (await store.hget(user_jobs_hkey("alice"), job.id))["status"] == "succeeded"
    assert await list_unfinished_jobs(store) == []


async def test_request_cancel_cancels_a_queued_job_at_once_and_flags_a_running_one(store, tmp_path):
    files = make_files(tmp_path)
    queued = await make_job(store, files)
    assert (await request_cancel(store, queued.id, by="alice")).status == "cancelled"
    running = await mark_running(store, await make_job(store, files), flow_run_id=None)
    assert (await request_cancel(store, running.id, by="alice")).status == "running"
    assert await is_cancel_requested(store, running.id)
    with pytest.raises(Conflict):
        await request_cancel(store, queued.id, by="alice")


def test_sum_shards_adds_counts_reasons_and_tokens():
    def shard(key, ok, failed, reasons, tokens):
        return Shard(
            shard_key=key,
            peer_id=key,
            assigned=ok + failed,
            range={"start": 0, "end": ok + failed},
            generated_ok=ok,
            generated_failed=failed,
            failure_reasons=reasons,
            tokens=TokenUsage(prompt=tokens, completion=tokens, total=2 * tokens),
        )

    totals = sum_shards([shard("a", 3, 1, {"x": 1}, 5), shard("b", 2, 2, {"x": 1, "y": 1}, 1)])
    assert (totals.total_ok, totals.total_failed, totals.done) == (5, 3, 8)
    assert totals.failure_reasons == {"x": 2, "y": 1}
    assert totals.tokens.total == 12


async def test_continue_job_needs_an_unfinished_dataset_and_a_larger_budget(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files, total_records=10, max_candidates=20)
    with pytest.raises(Conflict, match="continue a finished job"):
        await continue_job(store, job.id, max_candidates=None)
    await mark_finished(store, job, status="succeeded", error=None)
    with pytest.raises(Conflict, match="already has its 10 accepted records"):
        await continue_job(store, job.id, max_candidates=None)
    await mark_finished(store, job, status="failed", error="candidate budget spent")
    with pytest.raises(BadRequest, match="maxCandidates must be larger than the job's budget"):
        await continue_job(store, job.id, max_candidates=20)
    continued = await continue_job(store, job.id, max_candidates=30)
    assert (continued.status, continued.retry_pass, continued.max_candidates) == (
        "queued",
        1,
        30,
    )


async def test_delete_job_removes_every_key_and_refuses_a_running_job(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files)
    await mark_running(store, job, flow_run_id=None)
    with pytest.raises(Conflict):
        await delete_job(store, job.id)
    await mark_finished(store, await read_job(store, job.id), status="failed", error="boom")
    await store.set(cancel_key(job.id), {"by": "alice"})
    await delete_job(store, job.id)
    with pytest.raises(NotFound):
        await read_job(store, job.id)
    assert await store.hgetall(shards_hkey(job.id)) == {}
    assert await store.hgetall(user_jobs_hkey("alice")) == {}
    assert await store.get(cancel_key(job.id)) is None


async def test_create_job_keeps_the_schema_property_order(store, tmp_path):
    """Export columns follow the schema's order, so the stored details must not sort keys."""
    files = make_files(tmp_path)
    schema = {
        "type": "object",
        "properties": {"zeta": {"type": "string"}, "alpha": {"type": "integer"}},
        "required": ["zeta", "alpha"],
    }
    job = await make_job(store, files, schema=schema)
    details = await read_details(files, job)
    assert list(details.json_schema["properties"]) == ["zeta", "alpha"]


async def test_read_details_fetches_an_immutable_details_file_once(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files)
    calls = []
    get_json = files.get_json

    async def counting_get_json(file_id):
        calls.append(file_id)
        return await get_json(file_id)

    files.get_json = counting_get_json
    first = await read_details(files, job)
    first.json_schema["properties"].clear()  # a caller changing its copy
    second = await read_details(files, job)
    assert calls == [job.job_details_cid]
    assert second.json_schema["properties"]  # the cached details are untouched


async def test_continue_job_refuses_a_spent_budget_without_a_larger_one(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files, total_records=10)
    spent = "candidate budget spent: 8 of 10 accepted; rejected: 12 invalid"
    await mark_finished(store, job, status="failed", error=spent)
    with pytest.raises(BadRequest, match=r"maxCandidates: job .* spent its candidate budget"):
        await continue_job(store, job.id, max_candidates=None)
    with pytest.raises(BadRequest, match="at most 1000"):
        await continue_job(store, job.id, max_candidates=5000)
    assert (await continue_job(store, job.id, max_candidates=40)).max_candidates == 40
