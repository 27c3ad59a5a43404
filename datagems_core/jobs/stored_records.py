"""Read a job's stored records back from its checkpoint blocks, in index order, without loading them all.

Candidates finish out of order but never further apart than the in-flight window, and each
block says below which index the shard is complete (`lowIndex`). So a small carry-over,
re-sorted per block, yields candidates in index order with memory bounded by the window. A
continued job (a larger budget) goes on with the next candidate positions, so its blocks follow
in the same order.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable
from operator import itemgetter
from typing import Any

from datagems_core.jobs.checkpoints import iter_block_bytes, parse_block, read_block_entries
from datagems_core.jobs.models import Shard
from datagems_core.jobs.repository import read_shards
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

_INDEX = itemgetter("index")


async def iter_result_chunks(
    store: KVStore,
    files: FileStore,
    job_id: str,
    *,
    shards: Iterable[Shard] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Chunks of stored candidates (`RecordResult.to_json()` dicts), each index once, in index
    order within each shard (accepted and rejected)."""
    for shard in shards if shards is not None else await read_shards(store, job_id):
        async for chunk in _iter_shard(store, files, job_id, shard):
            if chunk:
                yield chunk


async def _iter_shard(
    store: KVStore, files: FileStore, job_id: str, shard: Shard
) -> AsyncIterator[list[dict[str, Any]]]:
    entries = await read_block_entries(store, job_id, shard)
    carry: list[dict[str, Any]] = []
    async for entry, data in iter_block_bytes(files, entries):
        carry.extend(parse_block(data))
        carry.sort(key=_INDEX)
        split = bisect.bisect_left(carry, entry.low_index, key=_INDEX)
        ready, carry = carry[:split], carry[split:]
        yield ready
    yield carry


async def iter_ok_records(
    store: KVStore, files: FileStore, job_id: str
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """`(index, data)` of every valid record, in index order (the REST export streams these)."""
    async for chunk in iter_result_chunks(store, files, job_id):
        for record in chunk:
            if record.get("ok"):
                yield record["index"], record["data"]
