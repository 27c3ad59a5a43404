"""What `POST /api/jobs` and its estimate check before any model call."""

from __future__ import annotations

from dataclasses import dataclass

from api.deps import Principal
from api.job_schemas import JobCreate
from datagems_core.billing.budgets import check_budget
from datagems_core.billing.quotas import check_job_fits
from datagems_core.config.settings import Settings
from datagems_core.datasets.definitions import (
    DatasetDefinition,
    build_definition,
    check_max_candidates,
    check_total_records,
)
from datagems_core.datasets.drafts import read_optional_draft
from datagems_core.jobs.shards import Sharding, check_shards, sharding_for
from datagems_core.store.base import KVStore


@dataclass(frozen=True)
class CheckedJob:
    definition: DatasetDefinition
    total_records: int
    max_candidates: int | None
    sharding: Sharding


async def check_job_create(
    body: JobCreate, user: Principal, settings: Settings, store: KVStore
) -> CheckedJob:
    """Everything `POST /api/jobs` (and its estimate) checks before any model call: 400s name the
    field, 403 the quota."""
    total = check_total_records(settings, body.total_records)
    max_candidates = check_max_candidates(settings, total, body.max_candidates)
    sharding = sharding_for(settings, total, check_shards(body.shards, total))
    draft = read_optional_draft(settings, body.draft_token, username=user.username)
    definition = await build_definition(
        store,
        settings,
        user.username,
        draft=draft,
        title=body.title,
        description=body.description,
        instructions=body.instructions,
        schema=body.json_schema,
        dataset_mode=body.dataset_mode,
        inference=body.inference.to_choice() if body.inference else None,
        gates=body.to_gates(),
    )
    check_budget(
        max_tokens=body.max_tokens, max_cost_usd=body.max_cost_usd, price=definition.inference.price
    )
    await check_job_fits(
        store,
        settings,
        user.username,
        total_records=total,
        max_tokens=body.max_tokens,
        max_cost_usd=body.max_cost_usd,
    )
    return CheckedJob(definition, total, max_candidates, sharding)
