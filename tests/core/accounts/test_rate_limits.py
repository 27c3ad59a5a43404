"""Attempt counters: no lost updates when requests race, so a limit is never exceeded."""

from __future__ import annotations

import asyncio

import pytest

from datagems_core.accounts import rate_limits
from datagems_core.accounts.rate_limits import Limit
from datagems_core.errors import RateLimited
from datagems_core.store.memory import MemoryStore
from datagems_core.store.sqlite import SqliteStore


async def _allowed(store, limit, subject, n):
    async def one():
        try:
            await rate_limits.hit(store, limit, subject)
        except RateLimited as exc:
            return exc
        return None

    results = await asyncio.gather(*(one() for _ in range(n)))
    return [r for r in results if r is None], [r for r in results if r is not None]


@pytest.mark.parametrize("fixed", [True, False])
async def test_hit_allows_exactly_the_limit_in_sequence(fixed):
    store = MemoryStore()
    limit = Limit("t", 3, 600, fixed_window=fixed)
    for _ in range(3):
        await rate_limits.hit(store, limit, "1.2.3.4")
    with pytest.raises(RateLimited) as refused:
        await rate_limits.hit(store, limit, "1.2.3.4")
    assert 1 <= refused.value.retry_after <= 600
    await rate_limits.hit(store, limit, "5.6.7.8")  # another subject has its own count


async def test_hit_never_exceeds_the_limit_when_racing(tmp_path):
    store = SqliteStore(path=tmp_path / "store.sqlite3")
    try:
        limit = Limit("race", 5, 600, fixed_window=True)
        allowed, refused = await _allowed(store, limit, "racer@example.com", 30)
        # each attempt counts the others it raced with: never more than the limit get through
        # (a burst may even be refused whole, which is the safe side)
        assert len(allowed) <= 5 and len(allowed) + len(refused) == 30
        assert all(r.retry_after >= 1 for r in refused)
        # every attempt was recorded: none lost to a read-modify-write race
        count = await rate_limits.count_attempts(store, limit, "racer@example.com")
        assert count.attempts == 30
    finally:
        await store.close()


async def test_sliding_window_retry_after_points_at_the_oldest_attempt():
    store = MemoryStore()
    limit = Limit("slide", 2, 100)
    await rate_limits.hit(store, limit, "x")
    await rate_limits.hit(store, limit, "x")
    count = await rate_limits.count_attempts(store, limit, "x")
    assert count.attempts == 2 and 99 <= count.retry_after <= 100


async def test_count_attempts_prunes_entries_outside_the_window():
    store = MemoryStore()
    limit = Limit("prune", 5, 60)
    key = rate_limits.attempts_key("prune", "x")
    await store.hset(key, "0000000001000:abc", 1000)  # 1970: long gone
    await rate_limits.record_attempt(store, limit, "x")
    assert (await rate_limits.count_attempts(store, limit, "x")).attempts == 1
    assert len(await store.hgetall(key)) == 1


def test_attempts_key_encodes_like_encode_uri_component():
    assert rate_limits.attempts_key("register:email", " A+B@x.io ") == (
        "datagen:rate:register:email:a%2Bb%40x.io"
    )
    assert rate_limits.attempts_key("register:ip", "") == "datagen:rate:register:ip:unknown"
