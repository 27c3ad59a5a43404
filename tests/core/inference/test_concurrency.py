"""The adaptive limiter: AIMD under a ceiling, cuts on overload not on isolated 429s, fair admission."""

from __future__ import annotations

import asyncio
import random

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


async def test_limiter_cuts_once_per_round_and_grows_back_by_one_per_window():
    limiter = AdaptiveLimiter(ceiling=20)
    tickets = [await limiter.acquire() for _ in range(20)]
    for ticket in tickets[:8]:  # a burst of 429s from one round: 4 of 20 cut, the rest do not
        limiter.release(ticket, overloaded=True)
    assert limiter.limit == 14 and limiter.cuts == 1
    for ticket in tickets[8:]:
        limiter.release(ticket, overloaded=False)
    for _ in range(2):  # sent after the cut: 2 of 14 is under the share, no cut
        limiter.release(await limiter.acquire(), overloaded=True)
    assert limiter.limit == 14 and limiter.cuts == 1
    limiter.release(await limiter.acquire(), overloaded=True)  # the share reached: cut again
    assert limiter.limit == 9 and limiter.cuts == 2
    for _ in range(9):  # a window of `limit` successes adds one
        limiter.release(await limiter.acquire(), overloaded=False)
    assert limiter.limit == 10
    for _ in range(500):
        limiter.release(await limiter.acquire(), overloaded=False)
    assert limiter.limit == 20  # never above the ceiling
    assert limiter.in_flight == 0


async def _simulate(limiter: AdaptiveLimiter, *, completions: int, share: float, seed: int):
    """Keep the limiter full and complete a random in-flight request at a time; the limits seen."""
    rng = random.Random(seed)
    in_flight: list[int] = []
    limits: list[int] = []
    for _ in range(completions):
        while limiter.in_flight < limiter.limit:
            in_flight.append(await limiter.acquire())
        ticket = in_flight.pop(rng.randrange(len(in_flight)))
        limiter.release(ticket, overloaded=rng.random() < share)
        limits.append(limiter.limit)
    for ticket in in_flight:
        limiter.release(ticket, overloaded=False)
    assert limiter.in_flight == 0
    return limits


async def test_limiter_keeps_the_pipe_full_under_isolated_429s():
    limiter = AdaptiveLimiter(ceiling=64)
    limits = await _simulate(limiter, completions=5000, share=0.05, seed=1)
    assert min(limits) >= 48
    assert sum(limits) / len(limits) >= 60


async def test_limiter_cuts_under_overload_and_recovers_after_it():
    limiter = AdaptiveLimiter(ceiling=64)
    limits = await _simulate(limiter, completions=300, share=0.6, seed=2)
    assert limits[-1] <= 4 and limiter.cuts >= 5
    limits = await _simulate(limiter, completions=3000, share=0.0, seed=3)
    assert limits[-1] == 64
    limits = await _simulate(limiter, completions=3000, share=0.05, seed=4)
    assert limits[-1] >= 48


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
