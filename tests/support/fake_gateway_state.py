"""The fake gateway's state: its settings, the faults it plays, its records and its counters."""

from __future__ import annotations

import copy
import json
import math
import time
import zlib
from collections import Counter, deque
from typing import Any

from aiohttp import web

from datagems_core.inference.mock import MockUnsupported, generate_record

DEFAULTS: dict[str, Any] = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "rate_429": 0.0,
    "rate_500": 0.0,
    "rate_hang": 0.0,
    "rate_garbage": 0.0,
    "rate_invalid": 0.0,
    "rate_non_json": 0.0,
    "rate_duplicate": 0.0,
    "unique_records": True,
    "numbered_records": False,
    "numbered_ids": {},
    "record_seed": 4242,
    "script": [],
    "retry_after": "0",
    "hang_seconds": 60.0,
    "reject_json_schema": False,
    "refuse_forms": [],
    "refusal": "llama_cpp",
    "api_key": None,
    "omit_usage": False,
}
_FAULTS = ("429", "500", "hang", "garbage", "invalid", "non_json", "duplicate")
_POOL = 32  # records made per schema, then served round-robin (keeps the fake cheap)


class FakeGateway:
    def __init__(self, config: dict[str, Any]) -> None:
        self.start_config = {**DEFAULTS, **config}
        self.numbered: dict[tuple[str, int], dict[str, Any]] = {}
        self.reset()

    def reset(self) -> None:
        self.config = copy.deepcopy(self.start_config)
        self.script: deque[str] = deque(self.config.pop("script") or [])
        self.pools: dict[str, list[dict[str, Any]]] = {}
        self.last_record: dict[str, Any] | None = None
        self.clear()

    def clear(self) -> None:
        """Zero the counters, keeping the settings."""
        self.counter = 0
        self.due: deque[str] = deque()
        self.by_path: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.by_format: Counter[str] = Counter()
        self.by_form: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()  # replies with usage, and the tokens they reported
        self.bodies: deque[Any] = deque(maxlen=50)
        self.answered = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._busy = 0.0  # integral of in_flight over time
        self._first: float | None = None  # first request since the clear
        self._done = 0.0  # last reply since the clear
        self._last = time.perf_counter()

    def configure(self, changes: dict[str, Any]) -> None:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise web.HTTPBadRequest(text=f"unknown fake settings: {sorted(unknown)}")
        if "script" in changes:
            self.script = deque(changes.pop("script") or [])
        self.config.update(changes)

    def tick(self, delta: int) -> None:
        """A request starts (+1) or ends (-1): keeps the in-flight figures."""
        now = time.perf_counter()
        self._busy += self.in_flight * (now - self._last)
        self._last = now
        if delta > 0 and self._first is None:
            self._first = now
        elif delta < 0:
            self._done = now
        self.in_flight += delta
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def outcome(self, n: int) -> str:
        if self.script:
            return self.script.popleft()
        for fault in _FAULTS:
            rate = float(self.config[f"rate_{fault}"])
            # Request n gets the fault when the running count of faults steps up: exact shares.
            # Faults that step up on the same request wait for the next ones, in turn.
            if rate > 0 and math.floor((n + 1) * rate) > math.floor(n * rate):
                self.due.append(fault)
        return self.due.popleft() if self.due else "ok"

    def stats(self) -> dict[str, Any]:
        self.tick(0)
        elapsed = max(self._done - (self._first or self._done), 1e-9)
        return {
            "requests": sum(self.by_path.values()),
            "answered": self.answered,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            # Between the first request and the last reply: how full the client kept the pipe.
            "mean_in_flight": round(self._busy / elapsed, 2) if self._first else 0.0,
            "by_path": dict(self.by_path),
            "by_outcome": dict(self.by_outcome),
            "by_format": dict(self.by_format),
            "by_form": dict(self.by_form),
            "usage": dict(self.usage),
            "bodies": list(self.bodies),
            "config": {**self.config, "script": list(self.script)},
        }

    def record_for(
        self, schema: dict[str, Any] | None, n: int, messages: Any = None
    ) -> dict[str, Any]:
        if not schema:
            return {"text": f"fake reply {n}"}
        if self.config["numbered_records"]:
            return copy.deepcopy(self._numbered_record(schema, n))
        if self.config["unique_records"]:
            index = zlib.crc32(json.dumps(messages, sort_keys=True).encode())
            try:
                return generate_record(schema, seed=4242, index=index)
            except MockUnsupported:
                return {}
        key = json.dumps(schema, sort_keys=True)
        pool = self.pools.get(key)
        if pool is None:
            pool = []
            for i in range(_POOL):
                try:
                    pool.append(generate_record(schema, seed=4242, index=i))
                except MockUnsupported:
                    continue
            self.pools[key] = pool
        return copy.deepcopy(pool[n % len(pool)]) if pool else {}

    def _numbered_record(self, schema: dict[str, Any], n: int) -> dict[str, Any]:
        key = (json.dumps(schema, sort_keys=True), n)
        record = self.numbered.get(key)
        if record is None:
            try:
                record = generate_record(schema, seed=int(self.config["record_seed"]), index=n)
            except MockUnsupported:
                record = {}
            for field, prefix in dict(self.config["numbered_ids"]).items():
                if field in record:
                    record[field] = f"{prefix}{n:07d}"
            self.numbered[key] = record
        return record
