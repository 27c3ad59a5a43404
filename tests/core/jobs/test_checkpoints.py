"""Checkpoints: progress watermarks, atomic block commits, ordered read-back."""

from __future__ import annotations

import pytest

from datagems_core.datasets.record_maker import RecordResult
from datagems_core.jobs.checkpoints import (
    BlockEntry,
    ShardProgress,
    block_field,
    commit_block,
    encode_block,
    read_block_entries,
)
from datagems_core.jobs.repository import blocks_hkey, read_shard
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job


def ok(index: int) -> RecordResult:
    return RecordResult(index=index, ok=True, data={"n": index}, error=None, attempts=1)


def failed(index: int, reason: str) -> RecordResult:
    return RecordResult(index=index, ok=False, data=None, error=reason, attempts=2)


@pytest.fixture
def store():
    return MemoryStore()


async def test_progress_tracks_a_watermark_over_out_of_order_results(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files, total_records=10)
    shard = await read_shard(store, job.id, "local")
    progress = ShardProgress(shard=shard, plan=range(0, 10))
    after = progress.apply([ok(1), ok(0), failed(3, "bad  json\n"), ok(5)], block_count=1)
    assert (after.next_index, after.done_above) == (2, [3, 5])
    assert (after.generated_ok, after.generated_failed, after.attempts) == (3, 1, 5)
    assert after.failure_reasons == {"bad json": 1}
    assert list(ShardProgress(shard=after, plan=range(0, 10)).pending_positions()) == [
        2,
        4,
        6,
        7,
        8,
        9,
    ]


async def test_an_orphan_block_from_a_crash_is_never_read_and_is_overwritten(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files, total_records=6)
    progress = ShardProgress(shard=await read_shard(store, job.id, "local"), plan=range(6))
    await commit_block(
        store, files, job_id=job.id, progress=progress, results=[ok(0), ok(1), ok(2)]
    )
    # A crash after the block entry but before the shard record: an orphan at seq 1.
    orphan_id = await files.put_bytes("orphan.jsonl", encode_block([ok(3), ok(4)]))
    orphan = BlockEntry(seq=1, retry_pass=0, file_id=orphan_id, count=2, ok=2, low_index=5)
    await store.hset(blocks_hkey(job.id, "local"), block_field(1), orphan.to_record())

    shard = await read_shard(store, job.id, "local")
    assert [e.seq for e in await read_block_entries(store, job.id, shard)] == [0]
    resumed = ShardProgress(shard=shard, plan=range(6))
    assert list(resumed.pending_positions()) == [3, 4, 5]
    await commit_block(store, files, job_id=job.id, progress=resumed, results=[ok(5), ok(3), ok(4)])
    records = [r async for chunk in iter_result_chunks(store, files, job.id) for r in chunk]
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4, 5]


async def test_read_back_is_in_index_order_across_blocks_and_shards(store, tmp_path):
    files = make_files(tmp_path)
    job = await make_job(store, files, total_records=8, peers=["a", "b"])
    for key, batches in {"a": [[1, 0], [3, 2]], "b": [[5, 7], [4, 6]]}.items():
        shard = await read_shard(store, job.id, key)
        progress = ShardProgress(shard=shard, plan=range(shard.range.start, shard.range.end))
        for batch in batches:
            await commit_block(
                store, files, job_id=job.id, progress=progress, results=[ok(i) for i in batch]
            )
    records = [r async for chunk in iter_result_chunks(store, files, job.id) for r in chunk]
    assert [r["index"] for r in records] == list(range(8))
