"""Shard leases on every store with atomic writes (memory, SQLite, a real PostgreSQL): one winner
of a race, takeover after expiry, and a fenced writer that lost its lease cannot write."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from datagems_core.clock import now_ms
from datagems_core.errors import StoreError
from datagems_core.jobs.shard_lease import (
    FencedStore,
    Lease,
    LeaseLost,
    ShardBusy,
    claim,
    hold_shard,
    lease_key,
    release,
    renew,
)
from datagems_core.jobs.shard_run import run_shard
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.cstore import CStoreStore
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job
from tests.support.settings import make_settings


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def key() -> str:
    return lease_key(f"job_{uuid.uuid4().hex[:8]}", "0")


async def test_a_free_lease_is_claimed_and_a_live_one_is_not(stores, key):
    a, b = stores
    clock = Clock()
    lease = await claim(a, key, owner="w1", ttl_seconds=30, clock=clock)
    assert lease == Lease(key=key, owner="w1", token=1, expires_ms=clock.ms + 30_000)
    held = await claim(b, key, owner="w2", ttl_seconds=30, clock=clock)
    assert not isinstance(held, Lease) and held["owner"] == "w1"
    assert await claim(a, key, owner="w1", ttl_seconds=30, clock=clock) == lease  # a retried claim


async def test_two_racing_claimers_one_wins(stores):
    a, b = stores
    for round_ in range(15):
        key = lease_key("race", str(round_))
        if round_ % 2:  # half the rounds race for an expired lease rather than a free one
            clock = Clock()
            await claim(a, key, owner="dead", ttl_seconds=1, clock=clock)
        results = await asyncio.gather(
            claim(a, key, owner="w1", ttl_seconds=30), claim(b, key, owner="w2", ttl_seconds=30)
        )
        winners = [r for r in results if isinstance(r, Lease)]
        assert len(winners) == 1, results
        loser = next(r for r in results if not isinstance(r, Lease))
        assert loser["owner"] == winners[0].owner
        assert winners[0].token == (2 if round_ % 2 else 1)


async def test_an_expired_lease_is_taken_over_and_the_old_writer_is_fenced_off(stores, key):
    a, b = stores
    clock = Clock()
    old = await claim(a, key, owner="paused", ttl_seconds=10, clock=clock)
    assert isinstance(old, Lease)
    stale = FencedStore(a, old)
    await stale.hset("datagen:job:x:blocks", "0", {"by": "paused"})

    clock.ms += 10_001  # the paused worker missed its renewals
    new = await claim(b, key, owner="taker", ttl_seconds=10, clock=clock)
    assert isinstance(new, Lease) and new.token == old.token + 1
    assert (old.taken_from, new.taken_from) == (None, "paused")
    fresh = FencedStore(b, new)
    await fresh.hset("datagen:job:x:blocks", "0", {"by": "taker"})

    with pytest.raises(LeaseLost, match="lost its lease"):
        await stale.hset("datagen:job:x:blocks", "0", {"by": "paused, woken up"})
    with pytest.raises(LeaseLost):
        await stale.set("datagen:job:x:shard:0", {"by": "paused"})
    with pytest.raises(LeaseLost):
        await renew(a, old, ttl_seconds=10, clock=clock)
    assert await b.hget("datagen:job:x:blocks", "0") == {"by": "taker"}
    assert await b.get("datagen:job:x:shard:0") is None


async def test_a_renewed_lease_is_not_taken_over(stores, key):
    a, b = stores
    clock = Clock()
    lease = await claim(a, key, owner="w1", ttl_seconds=10, clock=clock)
    clock.ms += 8_000
    renewed = await renew(a, lease, ttl_seconds=10, clock=clock)
    assert renewed.token == lease.token and renewed.expires_ms == clock.ms + 10_000
    clock.ms += 8_000  # past the first expiry, within the renewed one
    assert not isinstance(await claim(b, key, owner="w2", ttl_seconds=10, clock=clock), Lease)
    await FencedStore(a, renewed).set("k", 1)  # a fence ignores the expiry it renewed


async def test_a_released_lease_is_free_at_once(stores, key):
    a, b = stores
    lease = await claim(a, key, owner="w1", ttl_seconds=30)
    assert isinstance(lease, Lease)
    await release(a, lease)
    taken = await claim(b, key, owner="w2", ttl_seconds=30)
    assert isinstance(taken, Lease) and taken.token == 1
    await release(a, lease)  # releasing a lease no longer held changes nothing
    assert (await b.get(key))["owner"] == "w2"


async def test_hold_shard_renews_while_working_and_a_second_holder_backs_off(stores):
    a, b = stores
    async with hold_shard(a, job_id="j1", shard_key="0", owner="w1", ttl_seconds=1.5) as fenced:
        await asyncio.sleep(2.5)  # beyond one time to live: only renewals keep it
        with pytest.raises(ShardBusy, match="held by w1"):
            async with hold_shard(
                b, job_id="j1", shard_key="0", owner="w2", ttl_seconds=1.5, wait_seconds=0.5
            ):
                pytest.fail("a second holder got in")
        await fenced.set("datagen:job:j1:progress", 1)
    async with hold_shard(b, job_id="j1", shard_key="0", owner="w2", ttl_seconds=1.5) as fenced:
        await fenced.set("datagen:job:j1:progress", 2)  # released on exit: free at once
    assert await a.get("datagen:job:j1:progress") == 2


async def test_a_store_without_atomic_writes_runs_without_a_lease(tmp_path):
    store = CStoreStore(base_url="http://127.0.0.1:9", retries=0)
    async with hold_shard(store, job_id="j", shard_key="0", owner="w", ttl_seconds=5) as held:
        assert held is store
    with pytest.raises(StoreError, match="no atomic write"):
        await claim(store, "k", owner="w", ttl_seconds=5)
    await store.close()


async def test_a_shard_taken_over_mid_run_is_finished_by_the_taker_each_record_once(tmp_path):
    store, files = MemoryStore(), make_files(tmp_path)
    settings = make_settings(tmp_path, update_every_k=10, inference_concurrency=2)
    job = await make_job(store, files, total_records=60)
    key = lease_key(job.id, "local")
    taken: list[Lease] = []

    async def take_over_after_the_first_checkpoint(shard) -> None:
        if not taken:  # the worker paused past its lease; another one claimed the shard
            later = await claim(
                store, key, owner="taker", ttl_seconds=30, clock=lambda: now_ms() + 60_000
            )
            assert isinstance(later, Lease)
            taken.append(later)

    with pytest.raises(LeaseLost):
        async with hold_shard(
            store, job_id=job.id, shard_key="local", owner="paused", ttl_seconds=30
        ) as fenced:
            await run_shard(
                store=fenced, files=files, settings=settings, job_id=job.id,
                shard_key="local", on_checkpoint=take_over_after_the_first_checkpoint,
            )  # fmt: skip
    shard = await run_shard(
        store=FencedStore(store, taken[0]), files=files, settings=settings,
        job_id=job.id, shard_key="local",
    )  # fmt: skip

    assert (shard.status, shard.generated_ok) == ("succeeded", 60)
    seen: Counter[int] = Counter()
    async for chunk in iter_result_chunks(store, files, job.id):
        seen.update(r["index"] for r in chunk)
    assert seen == Counter(range(60))  # nothing the paused writer made after losing it counts
    assert (await store.get(key))["owner"] == "taker"
