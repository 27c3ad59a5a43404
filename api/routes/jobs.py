"""Jobs over REST: draft a schema, create a job (a `generate-dataset` flow run), watch, cancel,
retry failed records, delete, export.

Users see their own jobs; another user's job answers 404. Admins may see, cancel and delete
every job (`GET /api/jobs?all=true` lists them all).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, FileStoreDep, KVStoreDep, Principal, SettingsDep
from api.flow_runner import FlowRunner, FlowRunnerDep
from api.job_schemas import (
    JobCreate,
    JobPublic,
    JobRetry,
    JobsPublic,
    JobView,
    RecordsPublic,
    SchemaDraft,
    SchemaDraftRequest,
)
from api.json_body import JSONBody
from api.openapi import errors
from api.schemas import Ok
from datagems_core.billing.budgets import check_budget
from datagems_core.billing.ledger import record_draft_usage
from datagems_core.billing.quotas import check_job_fits
from datagems_core.clock import iso_from_ms, now_iso
from datagems_core.config.settings import Settings
from datagems_core.datasets.definitions import (
    DatasetDefinition,
    build_definition,
    check_inference,
    check_max_candidates,
    check_total_records,
    gateway_for,
)
from datagems_core.datasets.drafts import (
    DRAFT_TTL_SECONDS,
    Draft,
    issue_draft_token,
    read_optional_draft,
    refreshes_after,
)
from datagems_core.datasets.record_maker import draft_schema
from datagems_core.datasets.schemas import sanitize_schema
from datagems_core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from datagems_core.jobs.models import InferenceChoice, Job
from datagems_core.jobs.repository import create_job, list_job_texts_for_user, read_job
from datagems_core.jobs.shards import Sharding, check_shards, sharding_for
from datagems_core.jobs.stored_files import delete_job_files, job_file_ids
from datagems_core.jobs.transitions import continue_job, delete_job, request_cancel
from datagems_core.jobs.views import describe_job, list_all_jobs, read_record_page
from datagems_core.output.exports import MEDIA_TYPES, ExportSummary, iter_export_bytes, parse_format
from datagems_core.output.file_names import content_disposition, file_name_for
from datagems_core.quality.report import quality_report
from datagems_core.store.base import KVStore
from flows.launch import launch_job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/jobs", tags=["jobs"])

# The stores take 64-bit offsets; no list is near a billion entries.
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Query(ge=1, le=500)]


EXPORT_ANSWER: dict[str, Any] = {
    "description": "The valid records in the asked format, streamed",
    "content": {
        MEDIA_TYPES["json"]: {"schema": {"type": "array", "items": {"type": "object"}}},
        **{
            MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}
            for fmt in ("jsonl", "csv", "parquet")
        },
    },
    "headers": {
        name: {"description": text, "schema": {"type": kind}}
        for name, text, kind in (
            ("X-DataGems-Partial", "true unless the job succeeded", "string"),
            ("X-DataGems-Job-Status", "The job's status", "string"),
            ("X-DataGems-Records-Total", "Records the job was asked for", "integer"),
            ("X-DataGems-Records-Ok", "Valid records made", "integer"),
            ("X-DataGems-Records-Failed", "Records that failed", "integer"),
        )
    },
}


async def read_visible_job(store: KVStore, user: Principal, job_id: str) -> Job:
    """The job if `user` owns it or is an admin; NotFound otherwise (as if it did not exist)."""
    job = await read_job(store, job_id)
    if job.owner != user.username and not user.is_admin:
        raise NotFound(f"job {job_id} not found")
    return job


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


@router.post("", status_code=201, summary="Create a job", responses=errors(403, 503))
async def create_job_route(
    body: JobCreate,
    user: CurrentUser,
    settings: SettingsDep,
    store: KVStoreDep,
    files: FileStoreDep,
    runner: FlowRunnerDep,
) -> JobPublic:
    """Save the job `queued` and start its flow run; answers at once."""
    checked = await check_job_create(body, user, settings, store)
    definition, total = checked.definition, checked.total_records
    job = await create_job(
        store,
        files,
        owner=user.username,
        title=definition.title,
        description=definition.description,
        instructions=definition.instructions,
        schema=definition.schema,
        total_records=total,
        peers=checked.sharding.keys,
        on_peers=checked.sharding.on_peers,
        dataset_mode=definition.dataset_mode,
        seed=body.seed,
        inference=definition.inference,
        gates=definition.gates,
        max_candidates=checked.max_candidates,
        max_tokens=body.max_tokens,
        max_cost_usd=body.max_cost_usd,
    )
    job = await launch_job(store, runner, job)
    return JobPublic(job=job, warnings=definition.warnings)


@router.get("", response_model=JobsPublic, summary="List jobs", responses=errors(403))
async def list_jobs(
    user: CurrentUser,
    store: KVStoreDep,
    offset: Offset = 0,
    limit: Limit = 50,
    everyone: Annotated[bool, Query(alias="all")] = False,
) -> JSONBody:
    """The caller's jobs, newest first (`all=true`: everyone's, for admins)."""
    if everyone and not user.is_admin:
        raise Forbidden("Admin access required to list all jobs")
    records: list[Any]
    if everyone:
        jobs, count = await list_all_jobs(store, offset=offset, limit=limit)
        records = [j.to_record() for j in jobs]
    else:
        texts, count = await list_job_texts_for_user(
            store, user.username, offset=offset, limit=limit
        )
        records = [orjson.Fragment(text) for text in texts]  # the stored JSON, as it is
    return JSONBody({"jobs": records, "count": count, "offset": offset, "limit": limit})


@router.get("/{job_id}", response_model=JobView, summary="Read a job", responses=errors(404))
async def read_job_route(
    job_id: str, user: CurrentUser, settings: SettingsDep, store: KVStoreDep, files: FileStoreDep
) -> JSONBody:
    """The job with shards, progress, timings, failure reasons, tokens and its Prefect run."""
    job = await read_visible_job(store, user, job_id)
    view = await describe_job(store, files, job)
    view["flowRunId"] = job.flow_run_id
    view["prefectUrl"] = (
        f"{settings.prefect_ui_url}/runs/flow-run/{job.flow_run_id}" if job.flow_run_id else None
    )
    return JSONBody(view)  # polled by the job page: orjson, not a pydantic round trip


@router.get(
    "/{job_id}/records",
    response_model=RecordsPublic,
    summary="Read a job's records",
    responses=errors(404),
)
async def read_job_records(
    job_id: str,
    user: CurrentUser,
    store: KVStoreDep,
    files: FileStoreDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 100,
    status: Literal["accepted", "rejected"] | None = None,
) -> JSONBody:
    """Candidates made so far, in index order, with attempts, error, gate, variation and
    tokens; `status=rejected` lists only rejected ones (with the gate and reason). A page holds
    at most `limit` records and about DATAGEMS_MAX_RECORDS_PAGE_BYTES of JSON."""
    job = await read_visible_job(store, user, job_id)
    records, count = await read_record_page(
        store,
        files,
        job,
        offset=offset,
        limit=limit,
        status=status,
        max_bytes=settings.max_records_page_bytes,
    )
    after = offset + len(records)
    next_offset = after if records and after < count else None
    return JSONBody(
        {
            "records": records,
            "count": count,
            "offset": offset,
            "limit": limit,
            "nextOffset": next_offset,
        }
    )


@router.get("/{job_id}/quality", summary="Read a job's quality report", responses=errors(404))
async def read_job_quality(
    job_id: str, user: CurrentUser, store: KVStoreDep, files: FileStoreDep
) -> dict[str, Any]:
    """Candidates, accepted, rejected by gate (with reasons and examples), duplicates,
    distinct-2, per-field distributions, judge scores and tokens."""
    job = await read_visible_job(store, user, job_id)
    return await quality_report(store, files, job)


@router.post("/{job_id}/cancel", summary="Cancel a job", responses=errors(404, 409))
async def cancel_job(
    job_id: str, user: CurrentUser, store: KVStoreDep, runner: FlowRunnerDep
) -> JobPublic:
    """Stop the job; what it made so far is kept (and exportable)."""
    job = await read_visible_job(store, user, job_id)
    job = await request_cancel(store, job.id, by=user.username)
    problem = await _stop_run(runner, job) if job.flow_run_id else None
    warnings = [f"{problem}; the job stops at its next checkpoint"] if problem else []
    return JobPublic(job=job, warnings=warnings)


async def _stop_run(runner: FlowRunner, job: Job) -> str | None:
    """Tell Prefect to stop the job's run; what went wrong, if it could not (the job's own cancel
    request or deletion still stops the run when it next looks)."""
    try:
        await runner.cancel_flow_run(str(job.flow_run_id))
    except ServiceUnavailable as exc:
        log.warning("job %s: could not cancel flow run %s: %s", job.id, job.flow_run_id, exc)
        return f"the flow run could not be told to stop ({exc.message})"
    return None


@router.post(
    "/{job_id}/retry", summary="Retry a job's failed records", responses=errors(404, 409, 503)
)
async def retry_job(
    job_id: str,
    user: CurrentUser,
    store: KVStoreDep,
    runner: FlowRunnerDep,
    body: JobRetry | None = None,
) -> JobPublic:
    """Continue a failed or cancelled job until it has its N accepted records, in a new flow
    run; `maxCandidates` raises its candidate budget, `maxTokens` / `maxCostUsd` its spend
    budget."""
    found = await read_visible_job(store, user, job_id)
    body = body or JobRetry()
    check_budget(max_tokens=body.max_tokens, max_cost_usd=body.max_cost_usd, price=found.price)
    job = await continue_job(
        store,
        job_id,
        max_candidates=body.max_candidates,
        max_tokens=body.max_tokens,
        max_cost_usd=body.max_cost_usd,
    )
    job = await launch_job(store, runner, job)
    return JobPublic(job=job)


@router.delete("/{job_id}", summary="Delete a job", responses=errors(404, 409))
async def delete_job_route(
    job_id: str, user: CurrentUser, store: KVStoreDep, files: FileStoreDep, runner: FlowRunnerDep
) -> Ok:
    """Remove a job that is not running (cancel it first) and its files; a queued job's run is
    called off."""
    job = await read_visible_job(store, user, job_id)
    file_ids = await job_file_ids(store, job)
    await delete_job(store, job_id)
    await delete_job_files(store, files, job, file_ids)
    if job.status == "queued" and job.flow_run_id:
        await _stop_run(runner, job)
    return Ok()


@router.get(
    "/{job_id}/export",
    summary="Export a job's records",
    response_class=StreamingResponse,
    responses={200: EXPORT_ANSWER, **errors(404, 409)},
)
async def export_job(
    job_id: str,
    user: CurrentUser,
    store: KVStoreDep,
    files: FileStoreDep,
    format_name: Annotated[
        str,
        Query(
            alias="format",
            max_length=16,
            json_schema_extra={"enum": ["json", "jsonl", "csv", "parquet"]},
        ),
    ] = "json",
) -> StreamingResponse:
    """The valid records as json, jsonl, csv or parquet, streamed. Cancelled and failed jobs
    export what they made, marked `X-DataGems-Partial: true`."""
    fmt = parse_format(format_name)
    job = await read_visible_job(store, user, job_id)
    if not job.is_finished:
        raise Conflict(
            f"job {job_id} is {job.status}: export it when it has finished (or cancel it first)",
            details={"status": job.status},
        )
    stream = iter_export_bytes(store, files, job.id, fmt=fmt, summary=ExportSummary(format=fmt))
    first = await anext(stream, b"")  # a store failure answers an error, not a cut-off body
    headers = {
        "Content-Disposition": content_disposition(file_name_for(job.title, job.id, fmt)),
        "X-DataGems-Partial": "false" if job.status == "succeeded" else "true",
        "X-DataGems-Job-Status": job.status,
        "X-DataGems-Records-Total": str(job.total_records),
        "X-DataGems-Records-Ok": str(job.total_ok),
        "X-DataGems-Records-Failed": str(job.total_failed),
    }
    return StreamingResponse(_prepend(first, stream), media_type=MEDIA_TYPES[fmt], headers=headers)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for block in rest:
        yield block
