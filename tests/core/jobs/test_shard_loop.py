"""The shard loop: every record once, checkpoints within K, resume, cancel, failures, retry."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import InferenceUnreachable
from datagems_core.jobs.checkpoints import parse_block, read_block_entries
from datagems_core.jobs.models import sum_shards
from datagems_core.jobs.repository import read_job, read_shard
from datagems_core.jobs.shard_run import run_records, run_shard
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.jobs.transitions import continue_job, mark_finished, mark_running, request_cancel
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job
from tests.support.processes import free_port
from tests.support.settings import make_settings


class CountingRunner:
    """The plain runner, counting records made and the most in flight at once."""

    def __init__(self, *, fail_every: int = 0, stop_after: int | None = None) -> None:
        self.calls: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_every = fail_every
        self.stop_after = stop_after
        self.stopped = asyncio.Event()
        self.reported = 0

    async def __call__(self, make, indices, report):
        def counted_report(result):
            self.reported += 1
            report(result)

        async def counted(index):
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                result = await make(index)
            finally:
                self.in_flight -= 1
            self.calls[index] += 1
            if self.stop_after is not None and sum(self.calls.values()) >= self.stop_after:
                self.stopped.set()
                await asyncio.sleep(3600)  # hold here until the run is killed
            if self.fail_every and index % self.fail_every == 0:
                result = dataclasses.replace(result, ok=False, data=None, error="flaky model")
            return result

        await run_records(counted, indices, counted_report)


async def stored_indices(store, files, job_id):
    seen = Counter()
    async for chunk in iter_result_chunks(store, files, job_id):
        seen.update(r["index"] for r in chunk)
    return seen


@pytest.fixture
def store():
    return MemoryStore()


async def test_run_shard_makes_every_record_once_and_checkpoints_every_half_k(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=10, inference_concurrency=4)
    job = await make_job(store, files, total_records=95)
    runner = CountingRunner()
    checkpoints = []

    async def on_checkpoint(shard):
        checkpoints.append(shard.generated_ok)

    shard = await run_shard(
        store=store,
        files=files,
        settings=settings,
        job_id=job.id,
        shard_key="local",
        runner=runner,
        on_checkpoint=on_checkpoint,
    )

    assert (shard.status, shard.generated_ok, shard.generated_failed) == ("succeeded", 95, 0)
    assert shard.next_index == 95 and shard.done_above == []
    assert shard.block_count == 19  # blocks of ceil(K/2) = 5
    assert checkpoints == sorted(checkpoints) and checkpoints[0] >= 5
    assert runner.max_in_flight <= 4  # the concurrency ceiling holds
    seen = await stored_indices(store, files, job.id)
    assert seen == Counter(range(95))
    blocks = await read_block_entries(store, job.id, shard)
    assert sum(b.count for b in blocks) == 95
    first = parse_block(await files.get_bytes(blocks[0].file_id))[0]
    assert set(first) >= {"index", "ok", "data", "error", "attempts", "variation", "usage"}


async def test_run_shard_in_batch_units_makes_every_record_once(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=8, inference_concurrency=16)
    job = await make_job(store, files, total_records=50)
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local", unit_size=8
    )
    assert shard.generated_ok == 50
    assert await stored_indices(store, files, job.id) == Counter(range(50))


async def test_a_killed_shard_resumes_from_its_checkpoint_without_duplicates(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=5, inference_concurrency=3)
    job = await make_job(store, files, total_records=60)
    first = CountingRunner(stop_after=37)
    run = asyncio.create_task(
        run_shard(
            store=store,
            files=files,
            settings=settings,
            job_id=job.id,
            shard_key="local",
            runner=first,
        )
    )
    await first.stopped.wait()
    await asyncio.sleep(0.05)  # let the last checkpoint land
    run.cancel()  # like a kill: nothing after this point runs
    with pytest.raises(asyncio.CancelledError):
        await run
    interrupted = await read_shard(store, job.id, "local")
    assert interrupted.status == "running"
    committed = interrupted.generated_ok
    assert 0 < committed < 60

    second = CountingRunner()
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local", runner=second
    )
    assert (shard.status, shard.generated_ok) == ("succeeded", 60)
    assert await stored_indices(store, files, job.id) == Counter(range(60))
    assert sum(second.calls.values()) == 60 - committed  # only uncommitted records are redone
    # Work lost to the kill: finished records not yet committed (at most K) plus the records
    # that were in flight (at most the window of ceiling + K).
    assert first.reported - committed <= settings.update_every_k
    assert sum(first.calls.values()) - first.reported <= 3 + settings.update_every_k


class GatedFiles:
    """A file store whose writes wait at a gate: a store slower than the records."""

    def __init__(self, files):
        self.files, self.name = files, files.name
        self.gate = asyncio.Event()
        self.waiting = 0

    async def put_bytes(self, filename, data):
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        return await self.files.put_bytes(filename, data)

    def __getattr__(self, name):
        return getattr(self.files, name)


async def test_finished_records_not_committed_stay_within_k_while_the_store_lags(store, tmp_path):
    # Worst case for a kill: a commit that does not finish. Before the first block is stored
    # (only job files are written until then), the loop holds at most K finished records, and
    # only the `ceiling` records then in flight can finish on top of them.
    k, ceiling = 10, 3
    settings = make_settings(tmp_path, update_every_k=k, inference_concurrency=ceiling)
    job = await make_job(store, make_files(tmp_path), total_records=200)
    files = GatedFiles(make_files(tmp_path))
    runner = CountingRunner()
    run = asyncio.create_task(
        run_shard(
            store=store,
            files=files,
            settings=settings,
            job_id=job.id,
            shard_key="local",
            runner=runner,
        )
    )
    for _ in range(200):  # until nothing moves: the loop waits for the gated commit
        before = runner.reported
        await asyncio.sleep(0.01)
        if files.waiting and runner.reported == before and runner.in_flight == 0:
            break
    reported = runner.reported
    assert files.waiting == 1  # one commit at a time
    assert (await read_shard(store, job.id, "local")).generated_ok == 0
    assert k <= reported <= k + ceiling
    files.gate.set()  # the store recovers: the run finishes with every record once
    shard = await run
    assert (shard.status, shard.generated_ok) == ("succeeded", 200)
    assert await stored_indices(store, files, job.id) == Counter(range(200))
    blocks = await read_block_entries(store, job.id, shard)
    assert max(b.count for b in blocks) <= (k + 1) // 2


async def test_cancel_stops_at_a_checkpoint_and_keeps_what_was_made(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=5, inference_concurrency=2, mock_latency_ms=5)
    job = await make_job(store, files, total_records=200)
    await mark_running(store, job, flow_run_id=None)

    async def cancel_early(shard):
        if shard.generated_ok >= 10:
            await request_cancel(store, job.id, by="alice")

    shard = await run_shard(
        store=store,
        files=files,
        settings=settings,
        job_id=job.id,
        shard_key="local",
        on_checkpoint=cancel_early,
    )
    assert shard.status == "cancelled"
    assert 10 <= shard.generated_ok < 200
    seen = await stored_indices(store, files, job.id)
    assert sum(seen.values()) == shard.generated_ok and max(seen.values()) == 1


async def test_a_shard_with_no_records_succeeds(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path)
    job = await make_job(store, files, total_records=1, peers=["a", "b"])
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="b"
    )
    assert (shard.status, shard.assigned, shard.generated_ok) == ("succeeded", 0, 0)


async def test_an_unreachable_gateway_fails_the_shard_with_its_reason(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, inference_max_attempts=1)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    job = await make_job(
        store, files, total_records=5, inference=InferenceChoice(base_url=closed, model="m")
    )
    with pytest.raises(InferenceUnreachable):
        await run_shard(
            store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
        )
    shard = await read_shard(store, job.id, "local")
    assert shard.status == "failed"
    assert "InferenceUnreachable" in shard.error


async def test_rejected_candidates_are_replaced_until_n_are_accepted(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=4)
    job = await make_job(store, files, total_records=30)
    flaky = CountingRunner(fail_every=7)  # indices 0, 7, 14, 21, 28 fail
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local", runner=flaky
    )
    assert (shard.status, shard.generated_ok, shard.generated_failed) == ("succeeded", 30, 5)
    assert shard.failure_reasons == {"flaky model": 5}
    assert shard.rejected == {"invalid": 5}
    assert set(flaky.calls) == set(range(35))  # five new candidates, each with a new index
    chunks = [r async for c in iter_result_chunks(store, files, job.id) for r in c]
    assert sum(r["ok"] for r in chunks) == 30
    assert len({r["index"] for r in chunks}) == 35


async def test_a_spent_budget_fails_the_shard_and_a_larger_one_finishes_it(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=4)
    job = await make_job(store, files, total_records=30, max_candidates=32)
    shard = await run_shard(
        store=store,
        files=files,
        settings=settings,
        job_id=job.id,
        shard_key="local",
        runner=CountingRunner(fail_every=7),
    )
    assert (shard.status, shard.generated_ok, shard.generated_failed) == ("failed", 27, 5)
    assert shard.error == "candidate budget spent: 27 of 30 accepted; rejected: 5 invalid"
    totals = sum_shards([shard])
    await mark_finished(
        store, await read_job(store, job.id), status="failed", error=shard.error, totals=totals
    )

    await continue_job(store, job.id, max_candidates=40)
    again = CountingRunner()
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local", runner=again
    )
    assert (shard.status, shard.generated_ok, shard.generated_failed) == ("succeeded", 30, 5)
    assert set(again.calls) == {32, 33, 34}  # goes on with new candidates, never redoes one
    seen = await stored_indices(store, files, job.id)
    assert max(seen.values()) == 1 and len(seen) == 35


async def test_never_more_than_n_accepted_however_many_are_in_flight(store, tmp_path):
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=50, inference_concurrency=64)
    job = await make_job(store, files, total_records=7)
    runner = CountingRunner()
    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local", runner=runner
    )
    assert (shard.generated_ok, shard.generated_failed) == (7, 0)
    assert sum(runner.calls.values()) == 7  # the window never sends more than are still needed


async def test_a_profile_job_gets_its_key_at_run_time_and_never_stores_it(
    store, tmp_path, fake_gateway
):
    from pydantic import SecretStr

    from datagems_core.inference.profiles import ProfileChange, read_profiles, upsert_profile

    fake_gateway.configure(api_key="sk-profile-secret")
    files = make_files(tmp_path)
    settings = make_settings(tmp_path, allowed_inference_hosts="127.0.0.1")
    change = ProfileChange(
        name="mine",
        base_url=fake_gateway.openai_base,
        api_key=SecretStr("sk-profile-secret"),
        model="fake",
    )
    await upsert_profile(store, settings, "alice", change)
    profiles, _ = await read_profiles(store, "alice")
    choice = InferenceChoice(profile_id=str(profiles[0]["id"]))
    job = await make_job(store, files, total_records=4, inference=choice)

    shard = await run_shard(
        store=store, files=files, settings=settings, job_id=job.id, shard_key="local"
    )

    assert (shard.status, shard.generated_ok) == ("succeeded", 4)
    assert fake_gateway.stats()["by_outcome"] == {"ok": 4}
    assert "sk-profile-secret" not in (await files.get_bytes(job.job_details_cid)).decode()
    assert "sk-profile-secret" not in str(await store.hgetall(f"datagen:job:{job.id}:peers"))
