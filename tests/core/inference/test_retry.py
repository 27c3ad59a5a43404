"""Backoff with full jitter, and Retry-After in both of its forms."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from datagems_core.inference.retry import (
    MAX_RETRY_AFTER_SECONDS,
    backoff_delay,
    parse_retry_after,
)


def test_backoff_delay_grows_exponentially_within_the_cap():
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, base=0.5, cap=10.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # full jitter spreads over the whole range


def test_backoff_delay_honours_retry_after_as_a_floor():
    rng = random.Random(2)
    assert all(backoff_delay(1, base=0.5, cap=10, retry_after=7, rng=rng) >= 7 for _ in range(50))
    assert backoff_delay(1, base=0, cap=0, retry_after=10_000) == MAX_RETRY_AFTER_SECONDS


def test_parse_retry_after_seconds_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
