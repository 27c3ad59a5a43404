"""Time as DataGems writes it: UTC, ISO-8601 with milliseconds and `Z`, like JS `toISOString()`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def to_iso(moment: datetime) -> str:
    """`2026-11-21T23:09:14.690Z` for an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return to_iso(now())


def iso_from_ms(epoch_ms: int) -> str:
    return to_iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def parse_iso(text: str) -> datetime | None:
    """An aware datetime from an ISO-8601 string (`Z` or an offset), or None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
