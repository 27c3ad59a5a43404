"""The adaptive limiter: AIMD under a ceiling, one cut per round, fair admission."""

from __future__ import annotations

import asyncio

import pytest

from datagems_core.inference.concurrency import AdaptiveLimiter


async def test_limiter_admits_up_to_the_limit_then_queues_in_order():
    limiter = AdaptiveLimiter(ceiling=2)
    first, second = await limiter.acquire(), await limiter.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert limiter.in_flight == 2 and order == []
    limiter.release(first, overloaded=False)
    await asyncio.sleep(0)
    assert order == [0]
    limiter.release(second, overloaded=False)
    limiter.release(0, overloaded=False)
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]
    assert limiter.in_flight == 2


async def test_limiter_halves_once_per_round_and_grows_back_by_one_per_window():
    limiter = AdaptiveLimiter(ceiling=16)
    tickets = [await limiter.acquire() for _ in range(16)]
    for ticket in tickets[:8]:  # a burst of 429s from one round
        limiter.release(ticket, overloaded=True)
    assert limiter.limit == 8 and limiter.cuts == 1
    for ticket in tickets[8:]:
        limiter.release(ticket, overloaded=False)
    ticket = await limiter.acquire()
    limiter.release(ticket, overloaded=True)  # sent after the cut: may cut again
    assert limiter.limit == 4 and limiter.cuts == 2
    for _ in range(4):  # a window of `limit` successes adds one
        limiter.release(await limiter.acquire(), overloaded=False)
    assert limiter.limit == 5
    for _ in range(500):
        limiter.release(await limiter.acquire(), overloaded=False)
    assert limiter.limit == 16  # never above the ceiling
    assert limiter.in_flight == 0


async def test_limiter_never_drops_below_one():
    limiter = AdaptiveLimiter(ceiling=4)
    for _ in range(10):
        limiter.release(await limiter.acquire(), overloaded=True)
    assert limiter.limit == 1


async def test_limiter_cancelled_waiter_gives_its_slot_back():
    limiter = AdaptiveLimiter(ceiling=1)
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release(held, overloaded=False)
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), 1)


async def test_limiter_with_rpm_still_admits_everyone():
    limiter = AdaptiveLimiter(ceiling=4, rpm=60_000)
    tickets = await asyncio.gather(*(limiter.acquire() for _ in range(4)))
    for ticket in tickets:
        limiter.release(ticket, overloaded=False)
    assert limiter.in_flight == 0


def test_limiter_refuses_a_zero_ceiling():
    with pytest.raises(ValueError):
        AdaptiveLimiter(ceiling=0)
