"""How many requests a gateway gets at once: AIMD under a hard ceiling, plus an optional RPM cap.

The limit starts at the ceiling (the concurrency the user asked for). A 429, a timeout or a 503
halves it, once per round of requests: only a request sent after the last cut can cut again, as
TCP does once per round trip. Each window of successes as long as the limit raises it by one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveLimiter:
    """Admits requests up to an adaptive limit.

    >>> limiter = AdaptiveLimiter(ceiling=64)
    >>> ticket = await limiter.acquire()
    >>> limiter.release(ticket, overloaded=False)
    """

    def __init__(self, *, ceiling: int, rpm: int | None = None, floor: int = 1) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.ceiling = ceiling
        self.floor = max(1, min(floor, ceiling))
        self.limit = ceiling
        self.in_flight = 0
        self.cuts = 0
        self._round = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next_start = 0.0
        self._rpm_lock = asyncio.Lock() if rpm else None

    async def acquire(self) -> int:
        """Wait for a slot; returns the ticket to hand back to `release`."""
        if self.in_flight >= self.limit or self._waiters:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    self._give_back()  # we were handed a slot we will not use
                elif future in self._waiters:
                    self._waiters.remove(future)
                raise
        else:
            self.in_flight += 1
        if self._rpm_lock is not None:
            await self._pace()
        return self._round

    async def _pace(self) -> None:
        assert self._rpm_lock is not None
        async with self._rpm_lock:
            now = time.monotonic()
            wait = self._next_start - now
            self._next_start = max(now, self._next_start) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    def release(self, ticket: int, *, overloaded: bool) -> None:
        """Return a slot; `overloaded` says the gateway pushed back (429, timeout, 503)."""
        if overloaded:
            self._successes = 0
            if ticket == self._round:  # one cut per round of requests
                self._round += 1
                self.cuts += 1
                self.limit = max(self.floor, self.limit // 2)
        elif self.limit < self.ceiling:
            self._successes += 1
            if self._successes >= self.limit:
                self._successes = 0
                self.limit += 1
        self._give_back()

    def _give_back(self) -> None:
        # The slot passes straight to a waiter when the limit allows.
        self.in_flight -= 1
        while self._waiters and self.in_flight < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.in_flight += 1
                future.set_result(None)
