"""Attempt counters that stay right when requests race, on a store with no atomic increment.

The TS seed kept each counter as one value and did read, add one, write: two racing requests
both read 4 and both write 5. Here every attempt is its own hash field (`{epoch ms}:{random}`),
written before counting, so no write is lost and each of two racing requests counts the other.
A limit is therefore never exceeded; at worst both racers are refused. Fields older than the
window are deleted as counts are taken, so a subject's hash stays small. One hash per subject:
`datagen:rate:{scope}:{encoded subject}`.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from datagems_core.clock import now_ms
from datagems_core.errors import RateLimited
from datagems_core.store.base import KVStore


@dataclass(frozen=True)
class Limit:
    """At most `max_attempts` per `window_seconds` for one subject of one `scope`."""

    scope: str
    max_attempts: int
    window_seconds: int
    fixed_window: bool = False  # seed registration: buckets of floor(epoch / window)
    message: str = "Too many attempts. Try again later."


@dataclass(frozen=True)
class Count:
    attempts: int
    retry_after: int  # seconds until one attempt leaves the window (or the bucket ends)


def attempts_key(scope: str, subject: str) -> str:
    """The seed's subject encoding: encodeURIComponent(trim(lower(subject)) or 'unknown')."""
    encoded = quote(subject.strip().lower() or "unknown", safe="-_.!~*'()")
    return f"datagen:rate:{scope}:{encoded}"


async def record_attempt(store: KVStore, limit: Limit, subject: str) -> str:
    """Log one attempt; returns its field name, for `forget_attempt`."""
    stamp = now_ms()
    name = f"{stamp:013d}:{secrets.token_hex(6)}"
    await store.hset(attempts_key(limit.scope, subject), name, stamp)
    return name


async def forget_attempt(store: KVStore, limit: Limit, subject: str, name: str) -> None:
    await store.hset(attempts_key(limit.scope, subject), name, None)


async def clear_attempts(store: KVStore, limit: Limit, subject: str) -> None:
    key = attempts_key(limit.scope, subject)
    for name in await store.hgetall(key):
        await store.hset(key, name, None)


async def count_attempts(store: KVStore, limit: Limit, subject: str) -> Count:
    """Attempts inside the current window; prunes the ones that left it."""
    key = attempts_key(limit.scope, subject)
    now = now_ms()
    window_ms = limit.window_seconds * 1000
    # a fixed bucket includes its first millisecond; a sliding window excludes its edge
    start = (now // window_ms) * window_ms if limit.fixed_window else now - window_ms + 1
    live: list[int] = []
    for name, value in (await store.hgetall(key)).items():
        stamp = value if isinstance(value, int) else _stamp_of(name)
        if stamp is None or stamp < start:
            await store.hset(key, name, None)
        else:
            live.append(stamp)
    if limit.fixed_window:
        ends = start + window_ms
    elif len(live) >= limit.max_attempts:
        # the attempt that must leave the window before one more fits
        ends = sorted(live)[len(live) - limit.max_attempts] + window_ms
    else:
        ends = now
    return Count(attempts=len(live), retry_after=max(1, math.ceil((ends - now) / 1000)))


async def attempt_stamps(store: KVStore, limit: Limit, subject: str) -> list[int]:
    """When each attempt inside the window was made (epoch ms), after pruning the rest."""
    await count_attempts(store, limit, subject)
    values = await store.hgetall(attempts_key(limit.scope, subject))
    stamps = [v if isinstance(v, int) else _stamp_of(n) for n, v in values.items()]
    return [s for s in stamps if s is not None]


async def hit(store: KVStore, limit: Limit, subject: str) -> None:
    """Record an attempt, then refuse it with RateLimited if it is over the limit."""
    await record_attempt(store, limit, subject)
    count = await count_attempts(store, limit, subject)
    if count.attempts > limit.max_attempts:
        raise RateLimited(limit.message, retry_after=count.retry_after)


def _stamp_of(name: str) -> int | None:
    head = name.split(":", 1)[0]
    return int(head) if head.isdigit() else None
