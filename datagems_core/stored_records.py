"""Read a job's stored records back from its checkpoint blocks, in index order, without loading them all.

Within one pass, records finish out of order but never further apart than the in-flight window,
and each block says below which index its pass is complete (`lowIndex`). So a small carry-over,
re-sorted per block, yields records in index order with memory bounded by the window. Records
of retry passes (regenerated failures) replace the failed ones they were made for.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable
from operator import itemgetter
from typing import Any

from datagems_core.checkpoints import (
    iter_block_bytes,
    parse_block,
    read_block_entries,
    reason_of,
)
from datagems_core.files.base import FileStore
from datagems_core.job_models import Shard
from datagems_core.jobs import read_shards
from datagems_core.store.base import KVStore

_INDEX = itemgetter("index")


async def iter_result_chunks(
    store: KVStore,
    files: FileStore,
    job_id: str,
    *,
    shards: Iterable[Shard] | None = None,
    below_pass: int | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Chunks of stored results (`RecordResult.to_json()` dicts), each index once, in index order.

    `below_pass` limits the view to passes before it (what a retry pass starts from).
    """
    for shard in shards if shards is not None else await read_shards(store, job_id):
        async for chunk in _iter_shard(store, files, job_id, shard, below_pass):
            if chunk:
                yield chunk


async def _iter_shard(
    store: KVStore, files: FileStore, job_id: str, shard: Shard, below_pass: int | None
) -> AsyncIterator[list[dict[str, Any]]]:
    entries = await read_block_entries(store, job_id, shard)
    if below_pass is not None:
        entries = [e for e in entries if e.retry_pass < below_pass]
    base = [e for e in entries if e.retry_pass == 0]
    retried = [e for e in entries if e.retry_pass > 0]
    overrides: dict[int, dict[str, Any]] = {}
    async for _, data in iter_block_bytes(files, retried):  # commit order: later passes win
        for record in parse_block(data):
            overrides[record["index"]] = record
    carry: list[dict[str, Any]] = []
    async for entry, data in iter_block_bytes(files, base):
        carry.extend(parse_block(data))
        carry.sort(key=_INDEX)
        split = bisect.bisect_left(carry, entry.low_index, key=_INDEX)
        ready, carry = carry[:split], carry[split:]
        yield _replace(ready, overrides) if overrides else ready
    yield _replace(carry, overrides) if overrides else carry


def _replace(
    records: list[dict[str, Any]], overrides: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    return [overrides.get(r["index"], r) for r in records]


async def iter_ok_records(
    store: KVStore, files: FileStore, job_id: str
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """`(index, data)` of every valid record, in index order (the REST export streams these)."""
    async for chunk in iter_result_chunks(store, files, job_id):
        for record in chunk:
            if record.get("ok"):
                yield record["index"], record["data"]


async def failed_results(
    store: KVStore, files: FileStore, job_id: str, shard: Shard, *, below_pass: int
) -> dict[int, str]:
    """`{index: reason}` of the shard's records that failed in the passes before `below_pass`."""
    failed: dict[int, str] = {}
    async for chunk in _iter_shard(store, files, job_id, shard, below_pass):
        for record in chunk:
            if not record.get("ok"):
                failed[record["index"]] = reason_of(record.get("error"))
    return failed
