"""How many requests a gateway gets at once: AIMD under a hard ceiling, plus an optional RPM cap.

The limit starts at the ceiling (the concurrency the user asked for). It comes down only when
the gateway is overloaded, not when it turns away the odd request: a cut needs overload signals
(429, timeout, 503) in at least `OVERLOAD_SHARE` of the recent window of completions (the last
`limit` of them, at least `MIN_WINDOW`). A cut multiplies the limit by `DECREASE`, and only
requests sent after it count towards the next one, as TCP cuts once per round trip. A rejected
request still waits out its own Retry-After (`retry.backoff_delay`). Every `limit` successes
raise the limit by one, isolated rejections in between or not, so it always climbs back.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

OVERLOAD_SHARE = 0.2
DECREASE = 0.7
MIN_WINDOW = 8


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
        # Outcomes (True: overloaded) of this round's completions, newest last.
        self._recent: deque[bool] = deque()
        self._recent_overloads = 0
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
        if ticket == self._round:  # requests sent before the last cut do not cut again
            self._observe(overloaded)
        if not overloaded and self.limit < self.ceiling:
            self._successes += 1
            if self._successes >= self.limit:
                self._successes = 0
                self.limit += 1
        self._give_back()

    def _observe(self, overloaded: bool) -> None:
        window = max(self.limit, MIN_WINDOW)
        self._recent.append(overloaded)
        self._recent_overloads += overloaded
        while len(self._recent) > window:
            self._recent_overloads -= self._recent.popleft()
        if overloaded and self._recent_overloads >= math.ceil(OVERLOAD_SHARE * window):
            self._cut()

    def _cut(self) -> None:
        self._round += 1
        self.cuts += 1
        self.limit = max(self.floor, min(self.limit - 1, int(self.limit * DECREASE)))
        self._successes = 0
        self._recent.clear()
        self._recent_overloads = 0

    def _give_back(self) -> None:
        # The slot passes straight to a waiter when the limit allows.
        self.in_flight -= 1
        while self._waiters and self.in_flight < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.in_flight += 1
                future.set_result(None)
