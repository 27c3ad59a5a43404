"""Checks on a dataset definition (`datasets.definition`) before it becomes a job or a schedule.

`build_definition` is the one way in for the API (jobs, estimates, schedules) and the CLI: a
draft or a stored schedule as the base, the fields given as changes, all checked together. Each
check raises a BadRequest naming the field and what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datagems_core.billing.budgets import check_budget
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import (
    DEFINITION_FIELDS,
    DatasetDefinition,
    InferenceChoice,
    definition_of,
)
from datagems_core.datasets.schemas import record_validator, sanitize_schema, validate_schema
from datagems_core.datasets.size_limits import SizeLimits
from datagems_core.errors import BadRequest, NotFound, SchemaError
from datagems_core.inference.choice import bill_choice, gateway_for_choice
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.quality.gate_config import GateConfig, check_gate_config
from datagems_core.store.base import KVStore


def check_total_records(settings: Settings, total_records: int) -> int:
    limit = settings.max_records_per_job
    if not 1 <= total_records <= limit:
        raise BadRequest(
            f"totalRecords must be between 1 and {limit} (DATAGEN_MAX_RECORDS_PER_JOB), "
            f"got {total_records}",
            details={"field": "totalRecords", "max": limit},
        )
    return total_records


def check_record_schema(
    schema: Any, limits: SizeLimits | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The schema repaired as the seed did (with one warning per repair), checked against
    draft 2020-12 and the input guards, and compiled into the validator the job will use; a
    SchemaError (400) gives the JSON path (and keyword and limit) of the first problem."""
    try:
        repaired, warnings = sanitize_schema(schema)
        validate_schema(repaired, limits)
        record_validator(repaired, limits)
    except SchemaError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        path = details.get("path") or exc.message.split(":", 1)[0]
        extra = {k: details[k] for k in ("keyword", "limit") if k in details}
        raise SchemaError(
            f"Invalid schema: {exc.message}", details={"field": "schema", "path": path, **extra}
        ) from None
    return repaired, warnings


async def check_inference(
    store: KVStore, settings: Settings, owner: str, choice: InferenceChoice
) -> InferenceChoice:
    """The choice, once its concurrency is in bounds and its profile (if any) is usable."""
    ceiling = settings.inference_max_concurrency
    if choice.concurrency is not None and not 1 <= choice.concurrency <= ceiling:
        raise BadRequest(
            f"inference.concurrency must be between 1 and {ceiling} "
            f"(DATAGEMS_INFERENCE_MAX_CONCURRENCY), got {choice.concurrency}",
            details={"field": "inference.concurrency", "max": ceiling},
        )
    if choice.profile_id:
        await gateway_for(store, settings, owner, choice)
    return await bill_choice(store, settings, owner, choice)


async def gateway_for(
    store: KVStore, settings: Settings, owner: str, choice: InferenceChoice
) -> GatewayConfig | None:
    """The gateway `owner`'s choice points at (for drafting a schema), key included; None for
    the built-in mock. Jobs resolve theirs the same way when they run."""
    try:
        return await gateway_for_choice(store, settings, owner, choice)
    except NotFound:
        raise BadRequest(
            f"inference.profileId: no inference profile {choice.profile_id!r}; "
            "pick one of your saved profiles (GET /api/user/settings)",
            details={"field": "inference.profileId"},
        ) from None


def check_max_candidates(
    settings: Settings, total_records: int, max_candidates: int | None
) -> int | None:
    """The candidate budget, between N and `100 * N` (None: the settings' default applies)."""
    if max_candidates is None:
        return None
    ceiling = total_records * 100
    if not total_records <= max_candidates <= ceiling:
        raise BadRequest(
            f"maxCandidates must be between totalRecords ({total_records}) and {ceiling}, "
            f"got {max_candidates}; left out it is {settings.max_candidates_factor:g} x "
            "totalRecords (DATAGEMS_MAX_CANDIDATES_FACTOR)",
            details={"field": "maxCandidates"},
        )
    return max_candidates


async def check_gates(
    store: KVStore, settings: Settings, owner: str, gates: GateConfig, schema: dict[str, Any]
) -> GateConfig:
    """The gates once they can work with the schema and the judge's profile is the owner's."""
    checked = check_gate_config(gates, schema)
    judge = checked.judge
    if judge is not None and judge.profile_id:
        try:
            await gateway_for_choice(
                store, settings, owner, InferenceChoice(profile_id=judge.profile_id)
            )
        except NotFound:
            raise BadRequest(
                f"judge.profileId: no inference profile {judge.profile_id!r}; "
                "pick one of your saved profiles (GET /api/user/settings)",
                details={"field": "judge.profileId"},
            ) from None
    return checked


@dataclass(frozen=True)
class CheckedDefinition:
    """A definition ready for `create_job` or a schedule, and the repairs made to its schema."""

    definition: DatasetDefinition
    warnings: list[str] = field(default_factory=list)


def merge_inference(base: InferenceChoice, change: InferenceChoice | None) -> InferenceChoice:
    """`base` with the fields `change` sets (a new parameters object replaces the old one)."""
    if change is None:
        return base
    return base.model_copy(update=change.model_dump(exclude_unset=True, exclude_none=True))


async def build_definition(
    store: KVStore,
    settings: Settings,
    owner: str,
    *,
    base: DatasetDefinition | None,
    changes: Mapping[str, Any],
    total_records: int,
) -> CheckedDefinition:
    """Check a definition: `base` (a draft, or the schedule being changed) with `changes` (the
    fields a request or the CLI gave, by their names in `DatasetDefinition`), or the changes
    alone. Each problem is a BadRequest naming the field; a budget is checked against
    `total_records` and the gateway's price."""
    fields: dict[str, Any] = dict(definition_of(base)) if base is not None else {}
    given = {name: value for name, value in changes.items() if value is not None}
    unknown = set(given) - DEFINITION_FIELDS
    if unknown:
        raise ValueError(f"not fields of a dataset definition: {sorted(unknown)}")
    inference = merge_inference(fields.get("inference", InferenceChoice()), given.get("inference"))
    fields.update(given)
    if any(fields.get(name) is None for name in ("title", "instructions", "json_schema")):
        raise BadRequest(
            "give a draftToken from POST /api/jobs/schema, or title, instructions and schema",
            details={"field": "draftToken"},
        )
    schema, warnings = check_record_schema(
        fields["json_schema"], SizeLimits.from_settings(settings)
    )
    choice = await check_inference(store, settings, owner, inference)
    max_tokens, max_cost_usd = fields.get("max_tokens"), fields.get("max_cost_usd")
    check_budget(max_tokens=max_tokens, max_cost_usd=max_cost_usd, price=choice.price)
    fields.update(
        json_schema=schema,
        inference=choice,
        gates=await check_gates(
            store, settings, owner, fields.get("gates") or GateConfig(), schema
        ),
        max_candidates=check_max_candidates(settings, total_records, fields.get("max_candidates")),
    )
    return CheckedDefinition(DatasetDefinition.model_validate(fields), warnings)
