"""Drafting a record schema over REST: one model call, the draft returned in a signed token."""

from __future__ import annotations

import time

from fastapi import APIRouter

from api.deps import CurrentUser, KVStoreDep, SettingsDep
from api.job_schemas import SchemaDraft, SchemaDraftRequest
from api.openapi import errors
from datagems_core.billing.ledger import record_draft_usage
from datagems_core.clock import iso_from_ms, now_iso
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.definitions import check_inference, gateway_for
from datagems_core.datasets.drafts import (
    DRAFT_TTL_SECONDS,
    Draft,
    issue_draft_token,
    refreshes_after,
)
from datagems_core.datasets.schema_drafts import draft_schema
from datagems_core.datasets.schemas import sanitize_schema

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.post("/schema", summary="Draft a record schema", responses=errors(502))
async def draft_job_schema(
    body: SchemaDraftRequest, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> SchemaDraft:
    """One model call drafts a record schema; the draft comes back inside a signed token."""
    choice = body.inference.to_choice() if body.inference else InferenceChoice()
    choice = await check_inference(store, settings, user.username, choice)
    gateway = await gateway_for(store, settings, user.username, choice)
    started = time.perf_counter()
    drafted, usage = await draft_schema(
        settings=settings,
        instructions=body.instructions,
        dataset_mode=body.dataset_mode,
        gateway=gateway,
        store=store,
    )
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    await record_draft_usage(
        store,
        owner=user.username,
        model=choice.billed_model or "default",
        prompt=usage.prompt,
        completion=usage.completion,
        estimated=usage.estimated,
        price=choice.price,
    )
    schema, warnings = sanitize_schema(drafted)
    draft = Draft(
        owner=user.username,
        title=body.title,
        description=body.description,
        instructions=body.instructions,
        schema=schema,
        dataset_mode=body.dataset_mode,
        schema_generated_at=now_iso(),
        schema_duration_ms=duration_ms,
        schema_refreshes=refreshes_after(
            settings, body.previous_draft_token, username=user.username
        ),
        inference=choice,
    )
    issued = time.time()
    return SchemaDraft(
        schema=schema,
        schema_generated_at=draft.schema_generated_at,
        schema_duration_ms=duration_ms,
        schema_refreshes=draft.schema_refreshes,
        draft_token=issue_draft_token(settings, draft, now=issued),
        draft_expires_at=iso_from_ms((int(issued) + DRAFT_TTL_SECONDS) * 1000),
        warnings=warnings,
        tokens=usage.to_json(),
    )
