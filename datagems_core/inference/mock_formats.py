"""Sample strings for JSON Schema formats, from reserved ranges (example.com, 192.0.2.0/24)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_NAMES = "amber harbor lantern meadow copper river orchard canyon summit maple willow cedar".split()


def _moment(rng: random.Random) -> datetime:
    return _EPOCH + timedelta(seconds=rng.randint(0, 730 * 86400))


FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date": lambda rng: _moment(rng).date().isoformat(),
    "date-time": lambda rng: _moment(rng).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "time": lambda rng: _moment(rng).strftime("%H:%M:%SZ"),
    "email": lambda rng: f"{rng.choice(_NAMES)}.{rng.randint(1, 9999)}@example.com",
    "idn-email": lambda rng: f"{rng.choice(_NAMES)}.{rng.randint(1, 9999)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_NAMES)}/{rng.randint(1, 99999)}",
    "url": lambda rng: f"https://example.com/{rng.choice(_NAMES)}/{rng.randint(1, 99999)}",
    "uri-reference": lambda rng: f"/{rng.choice(_NAMES)}/{rng.randint(1, 99999)}",
    "hostname": lambda rng: f"{rng.choice(_NAMES)}{rng.randint(1, 99)}.example.com",
    "idn-hostname": lambda rng: f"{rng.choice(_NAMES)}{rng.randint(1, 99)}.example.com",
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng: f"2001:db8::{rng.randint(1, 65535):x}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}
