"""What `POST /api/jobs`, its estimate and the schedules routes check before any model call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.deps import Principal
from api.job_schemas import GateFields, JobCreate
from api.schemas import ApiRequest
from datagems_core.billing.quotas import check_job_fits
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DEFINITION_FIELDS, DatasetDefinition
from datagems_core.datasets.definitions import (
    CheckedDefinition,
    build_definition,
    check_total_records,
)
from datagems_core.datasets.drafts import read_optional_draft
from datagems_core.jobs.shards import Sharding, check_shards, sharding_for
from datagems_core.store.base import KVStore


@dataclass(frozen=True)
class CheckedJob:
    definition: DatasetDefinition
    warnings: list[str]
    total_records: int
    sharding: Sharding


def definition_changes(body: ApiRequest) -> dict[str, Any]:
    """The definition fields a request body gave, by their names in `DatasetDefinition`."""
    changes = {
        name: value
        for name in DEFINITION_FIELDS
        if (value := getattr(body, name, None)) is not None
    }
    inference = getattr(body, "inference", None)
    if inference is not None:
        changes["inference"] = inference.to_choice()
    if isinstance(body, GateFields):
        changes["gates"] = body.to_gates()
    return changes


async def check_definition(
    body: ApiRequest, user: Principal, settings: Settings, store: KVStore, total_records: int
) -> CheckedDefinition:
    """The body's definition: its draft (`draftToken`) with the fields it wrote out, checked."""
    token = getattr(body, "draft_token", None)
    draft = read_optional_draft(settings, token, username=user.username)
    return await build_definition(
        store,
        settings,
        user.username,
        base=draft,
        changes=definition_changes(body),
        total_records=total_records,
    )


async def check_job_create(
    body: JobCreate, user: Principal, settings: Settings, store: KVStore
) -> CheckedJob:
    """Everything `POST /api/jobs` (and its estimate) checks before any model call: 400s name the
    field, 403 the quota."""
    total = check_total_records(settings, body.total_records)
    sharding = sharding_for(settings, total, check_shards(body.shards, total))
    checked = await check_definition(body, user, settings, store, total)
    await check_job_fits(
        store,
        settings,
        user.username,
        total_records=total,
        max_tokens=body.max_tokens,
        max_cost_usd=body.max_cost_usd,
    )
    return CheckedJob(checked.definition, checked.warnings, total, sharding)
