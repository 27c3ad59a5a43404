"""Make one record: the contract between the generation engine and inference.

    async with open_record_maker(settings=settings, spec=spec, gateway=gateway) as maker:
        result = await maker.make_record(index)

One model call per record plus at most one re-ask when the reply fails validation. A record
that cannot be made comes back as `ok=False` with its reason; only a gateway that cannot work
at all (unreachable, or rejecting every request) raises, which fails the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from datagems_core.config.settings import Settings
from datagems_core.datasets.prompts import record_messages, variation_prompt
from datagems_core.datasets.schemas import (
    RecordValidator,
    record_validator,
    validate_record,
    validate_schema,
)
from datagems_core.datasets.size_limits import SizeLimits
from datagems_core.datasets.variation import VariationPlan
from datagems_core.inference.client import InferenceClient, open_inference_client
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.inference.mock import MockUnsupported, generate_record
from datagems_core.inference.structured import ask_for_object
from datagems_core.inference.usage import TokenUsage
from datagems_core.inference.wire import BodyTemplate, encode_message
from datagems_core.store.base import KVStore

logger = logging.getLogger("datagems.inference")

__all__ = [
    "RecordMaker",
    "RecordResult",
    "RecordSpec",
    "TokenUsage",
    "open_record_maker",
]


NOT_MADE = "not_made"  # the gate of a candidate given up before its call


@dataclass(frozen=True)
class RecordSpec:
    """What every record of a job shares."""

    instructions: str
    schema: dict[str, Any]
    dataset_mode: bool = False
    seed: int = 0


@dataclass
class RecordResult:
    """The outcome of one record; `data` is set when ok, `error` when not."""

    index: int
    ok: bool
    data: dict[str, Any] | None
    error: str | None
    attempts: int
    variation: dict[str, Any] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)
    duration_ms: float = 0.0
    # What rejected the candidate: invalid (unparseable or schema), gateway (no reply at all),
    # lint, unique, duplicate, near_duplicate or judge; None when accepted.
    gate: str | None = None
    verdict: dict[str, Any] | None = None  # the judge's {score, reasons}, when there is one

    @classmethod
    def not_made(cls, index: int) -> RecordResult:
        """A candidate given up before its call (a spend budget was reached): never stored."""
        return cls(index, ok=False, data=None, error="not made", attempts=0, gate=NOT_MADE)

    def to_json(self) -> dict[str, Any]:
        """A JSON object (a dict, not a string) with camelCase keys."""
        value: dict[str, Any] = {
            "index": self.index,
            "ok": self.ok,
            "data": self.data,
            "error": self.error,
            "attempts": self.attempts,
            "variation": self.variation,
            "usage": self.usage.to_json(),
            "durationMs": round(self.duration_ms, 3),
        }
        if self.gate is not None:  # only on rejected candidates: blocks stay small
            value["gate"] = self.gate
        if self.verdict is not None:
            value["verdict"] = self.verdict
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any] | str | bytes) -> RecordResult:
        """Read what `to_json` wrote; a JSON string is accepted too."""
        obj = json.loads(value) if isinstance(value, str | bytes) else value
        return cls(
            index=int(obj["index"]),
            ok=bool(obj["ok"]),
            data=obj.get("data"),
            error=obj.get("error"),
            attempts=int(obj.get("attempts", 0)),
            variation=dict(obj.get("variation") or {}),
            usage=TokenUsage.from_json(obj.get("usage")),
            duration_ms=float(obj.get("durationMs", 0.0)),
            gate=obj.get("gate"),
            verdict=obj.get("verdict"),
        )


class RecordMaker(Protocol):
    async def make_record(self, index: int) -> RecordResult: ...

    @property
    def structured_output(self) -> str | None:
        """The structured-output form the gateway answered in; None before that or for the mock."""
        ...


class MockRecordMaker:
    """Records from the built-in mock gateway: no network, deterministic per (seed, index)."""

    def __init__(self, *, spec: RecordSpec, validator: RecordValidator, latency_ms: float):
        self.spec = spec
        self.validator = validator
        self.limits = validator.limits
        self.latency = latency_ms / 1000
        self.variations = VariationPlan(spec.schema, seed=spec.seed, dataset_mode=spec.dataset_mode)

    @property
    def structured_output(self) -> str | None:
        return None

    async def make_record(self, index: int) -> RecordResult:
        started = time.perf_counter()
        spec = self.spec
        variation = self.variations.sample(index)
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            made = generate_record(spec.schema, seed=spec.seed, index=index, limits=self.limits)
            data = {**made, **variation}
        except MockUnsupported as exc:
            return _failed(index, f"mock gateway: {exc}", 1, variation, started)
        errors = validate_record(self.validator, data)
        if errors:
            return _failed(
                index, "mock record invalid: " + "; ".join(errors), 1, variation, started
            )
        return RecordResult(
            index=index,
            ok=True,
            data=data,
            error=None,
            attempts=1,
            variation=variation,
            duration_ms=(time.perf_counter() - started) * 1000,
        )


class ModelRecordMaker:
    """Records from a model gateway: one call per record, plus at most one re-ask."""

    def __init__(
        self, *, spec: RecordSpec, validator: RecordValidator, client: InferenceClient
    ) -> None:
        self.spec = spec
        self.validator = validator
        self.client = client
        gateway = client.gateway
        self.template = BodyTemplate(
            messages=record_messages(
                instructions=spec.instructions, schema=spec.schema, dataset_mode=spec.dataset_mode
            ),
            model=gateway.model,
            parameters=gateway.parameters,
            schema=spec.schema,
        )
        properties = spec.schema.get("properties") or {}
        self._schema_keys_are_fields = bool({"properties", "$schema"} & properties.keys())
        self.variations = VariationPlan(spec.schema, seed=spec.seed, dataset_mode=spec.dataset_mode)

    @property
    def structured_output(self) -> str | None:
        return self.client.negotiation.confirmed_form

    async def make_record(self, index: int) -> RecordResult:
        started = time.perf_counter()
        variation = self.variations.sample(index)
        line = encode_message("user", variation_prompt(index, variation))
        answer = await ask_for_object(self.client, self.template, [line], self._check)
        return RecordResult(
            index=index,
            ok=answer.value is not None,
            data=answer.value,
            error=answer.error,
            attempts=answer.attempts,
            variation=variation,
            usage=answer.usage,
            duration_ms=(time.perf_counter() - started) * 1000,
            gate=None
            if answer.value is not None
            else "gateway"
            if answer.is_systemic
            else "invalid",
        )

    def _check(self, value: dict[str, Any]) -> list[str]:
        if not self._schema_keys_are_fields and _looks_like_schema(value):
            return ["$: the reply is a JSON Schema, not a record; return one record object"]
        return validate_record(self.validator, value)


def _looks_like_schema(value: dict[str, Any]) -> bool:
    return "$schema" in value or (
        isinstance(value.get("properties"), dict) and value.get("type") == "object"
    )


def _failed(
    index: int, reason: str, attempts: int, variation: dict[str, Any], started: float
) -> RecordResult:
    return RecordResult(
        index=index,
        ok=False,
        data=None,
        error=reason,
        attempts=attempts,
        variation=variation,
        duration_ms=(time.perf_counter() - started) * 1000,
        gate="invalid",
    )


@asynccontextmanager
async def open_record_maker(
    *,
    settings: Settings,
    spec: RecordSpec,
    gateway: GatewayConfig | None,
    store: KVStore | None = None,
) -> AsyncIterator[RecordMaker]:
    """A record maker for `spec`; `gateway=None` means the built-in mock gateway. The `store`
    shares the gateway's structured-output form between workers."""
    limits = SizeLimits.from_settings(settings)
    validate_schema(spec.schema, limits)  # again here: a stored job may not have come via the API
    validator = record_validator(spec.schema, limits)
    if gateway is None:
        yield MockRecordMaker(spec=spec, validator=validator, latency_ms=settings.mock_latency_ms)
        return
    async with open_inference_client(settings=settings, gateway=gateway, store=store) as client:
        yield ModelRecordMaker(spec=spec, validator=validator, client=client)
