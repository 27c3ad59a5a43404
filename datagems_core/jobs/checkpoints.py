"""Shard checkpoints: blocks of finished records in the file store, progress in the KV store.

A block is a JSONL file of `RecordResult.to_json()` lines, one per record, keyed by global index.
Committing a block is: put the file (immutable), write its entry in the shard's block hash, then
write the shard record whose `blockCount` makes it visible. Readers only trust entries below
`blockCount`, so a crash between the steps leaves an orphan that the next commit overwrites: a
record is never visible twice. `nextIndex`/`doneAbove` (plan positions) say what is committed,
so a restarted shard, on any machine, redoes only what was not.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from datagems_core.clock import now_iso
from datagems_core.datasets.record_maker import RecordResult
from datagems_core.errors import FileStoreError, StoreError
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.candidates import CandidatePlan
from datagems_core.jobs.models import Shard
from datagems_core.jobs.repository import blocks_hkey, write_shard
from datagems_core.output.record_shapes import Shape, merge_shapes, shape_of_records
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

MAX_REASONS = 100
MAX_REASON_CHARS = 300
OTHER_REASON = "other reasons"
_COMMIT_ATTEMPTS = 4
T = TypeVar("T")


@dataclass(frozen=True)
class BlockEntry:
    """Where one committed block lives and what it holds."""

    seq: int
    retry_pass: int
    file_id: str
    count: int
    ok: int
    # Every record of this pass with an index below `low_index` is in this block or an earlier one.
    low_index: int
    shape: Shape | None = None  # new fields and kinds of its valid records ({}: none new)

    def to_record(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "retryPass": self.retry_pass,
            "fileId": self.file_id,
            "count": self.count,
            "ok": self.ok,
            "lowIndex": self.low_index,
            "shape": self.shape,
        }

    @classmethod
    def from_record(cls, value: dict[str, Any]) -> BlockEntry:
        return cls(
            seq=int(value["seq"]),
            retry_pass=int(value.get("retryPass", 0)),
            file_id=str(value["fileId"]),
            count=int(value.get("count", 0)),
            ok=int(value.get("ok", 0)),
            low_index=int(value.get("lowIndex", 0)),
            shape=value.get("shape") if isinstance(value.get("shape"), dict) else None,
        )


def block_field(seq: int) -> str:
    return f"{seq:08d}"


def encode_block(results: Sequence[RecordResult]) -> bytes:
    return b"".join(orjson.dumps(r.to_json()) + b"\n" for r in results)


def reason_of(error: str | None) -> str:
    text = " ".join((error or "unknown error").split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


class ShardProgress:
    """A shard's progress over its candidate plan, and the record that stores it.

    `plan` maps candidate positions to record indices, ascending (a `CandidatePlan`, or any
    ascending sequence). The shard is complete when it has accepted its `assigned` records or
    tried every planned candidate.
    """

    def __init__(self, *, shard: Shard, plan: Sequence[int]) -> None:
        self.shard = shard
        self.plan = plan
        self._done_above = set(shard.done_above)
        self._shape_seen: Shape = {}

    def new_shape(self, results: Sequence[RecordResult]) -> Shape:
        """The block's shape when it shows fields or kinds this run has not stored yet, else {}.

        Storing only news keeps the block index small; their union is still every block's shape.
        """
        shape = shape_of_records(r.data for r in results if r.ok and r.data is not None)
        before = orjson.dumps(self._shape_seen)
        merge_shapes(self._shape_seen, shape)
        return shape if orjson.dumps(self._shape_seen) != before else {}

    def pending_positions(self) -> Iterator[int]:
        """Plan positions still to make, in order (committed ones skipped)."""
        done = set(self._done_above)
        return (p for p in range(self.shard.next_index, len(self.plan)) if p not in done)

    def position_of(self, index: int) -> int:
        if isinstance(self.plan, CandidatePlan):
            return self.plan.position_of(index)
        position = bisect.bisect_left(self.plan, index)
        if position >= len(self.plan) or self.plan[position] != index:
            raise ValueError(f"index {index} is not planned in shard {self.shard.shard_key}")
        return position

    @property
    def accepted(self) -> int:
        return self.shard.generated_ok

    @property
    def is_complete(self) -> bool:
        return self.accepted >= self.shard.assigned or self.shard.next_index >= len(self.plan)

    def low_index(self) -> int:
        position = self.shard.next_index
        if isinstance(self.plan, CandidatePlan):
            return self.plan.index_at(position)
        return self.plan[position] if position < len(self.plan) else self.shard.range.end

    def apply(self, results: Sequence[RecordResult], *, block_count: int) -> Shard:
        """The shard record once `results` are committed (not written here)."""
        shard = self.shard
        ok, failed = shard.generated_ok, shard.generated_failed
        reasons = dict(shard.failure_reasons)
        rejected = dict(shard.rejected)
        prompt, completion, total = shard.tokens.prompt, shard.tokens.completion, shard.tokens.total
        estimated = shard.tokens.estimated
        attempts = shard.attempts
        for result in results:
            if result.ok:
                ok += 1
            else:
                failed += 1
                _count(reasons, reason_of(result.error), 1)
                gate = result.gate or "invalid"
                rejected[gate] = rejected.get(gate, 0) + 1
            prompt += result.usage.prompt
            completion += result.usage.completion
            total += result.usage.total
            estimated += result.usage.estimated
            attempts += result.attempts
            self._done_above.add(self.position_of(result.index))
        next_index = shard.next_index
        while next_index in self._done_above:
            self._done_above.discard(next_index)
            next_index += 1
        self.shard = shard.model_copy(
            update={
                "generated_ok": ok,
                "generated_failed": failed,
                "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
                "rejected": dict(sorted(rejected.items(), key=lambda kv: -kv[1])),
                "tokens": TokenUsage(
                    prompt=prompt, completion=completion, total=total, estimated=estimated
                ),
                "attempts": attempts,
                "next_index": next_index,
                "done_above": sorted(self._done_above),
                "block_count": block_count,
                "last_update_at": now_iso(),
            }
        )
        return self.shard


def _count(reasons: dict[str, int], reason: str, delta: int) -> None:
    if reason not in reasons and len(reasons) >= MAX_REASONS:
        reason = OTHER_REASON
    value = reasons.get(reason, 0) + delta
    if value > 0:
        reasons[reason] = value
    else:
        reasons.pop(reason, None)


async def commit_block(
    store: KVStore,
    files: FileStore,
    *,
    job_id: str,
    progress: ShardProgress,
    results: Sequence[RecordResult],
) -> Shard:
    """Store `results` as the shard's next block and the progress that points to it."""
    shard = progress.shard
    seq = shard.block_count
    data = encode_block(results)
    file_id = await _retrying(
        lambda: files.put_bytes(f"{job_id}_{shard.shard_key}_{seq:08d}.jsonl", data)
    )
    updated = progress.apply(results, block_count=seq + 1)
    entry = BlockEntry(
        seq=seq,
        retry_pass=shard.retry_pass,
        file_id=file_id,
        count=len(results),
        ok=sum(1 for r in results if r.ok),
        low_index=progress.low_index(),
        shape=progress.new_shape(results),
    )
    hkey = blocks_hkey(job_id, shard.shard_key)
    await _retrying(lambda: store.hset(hkey, block_field(seq), entry.to_record()))
    await _retrying(lambda: write_shard(store, job_id, updated))
    return updated


async def save_shard(store: KVStore, job_id: str, shard: Shard) -> None:
    """Write the shard record (state changes between checkpoints), retrying store faults."""
    await _retrying(lambda: write_shard(store, job_id, shard))


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    delay = 0.2
    for attempt in range(1, _COMMIT_ATTEMPTS + 1):
        try:
            return await call()
        except (StoreError, FileStoreError):
            if attempt == _COMMIT_ATTEMPTS:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


async def read_block_entries(store: KVStore, job_id: str, shard: Shard) -> list[BlockEntry]:
    """The shard's committed blocks, in commit order."""
    values = await store.hgetall(blocks_hkey(job_id, shard.shard_key))
    entries = [BlockEntry.from_record(v) for v in values.values() if isinstance(v, dict)]
    return sorted((e for e in entries if e.seq < shard.block_count), key=lambda e: e.seq)


async def iter_block_bytes(
    files: FileStore, entries: Sequence[BlockEntry], *, prefetch: int = 8
) -> AsyncIterator[tuple[BlockEntry, bytes]]:
    """Each block's content in order, fetching a few ahead."""
    pending: list[tuple[BlockEntry, asyncio.Task[bytes]]] = []
    position = 0
    try:
        while position < len(entries) or pending:
            while position < len(entries) and len(pending) < prefetch:
                entry = entries[position]
                pending.append((entry, asyncio.ensure_future(files.get_bytes(entry.file_id))))
                position += 1
            entry, task = pending.pop(0)
            yield entry, await task
    finally:
        for _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(t for _, t in pending), return_exceptions=True)


def parse_block(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]
