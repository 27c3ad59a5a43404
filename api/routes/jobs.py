"""Jobs over REST: create a job (a `generate-dataset` flow run), list, read, cancel, retry failed
records, delete. Drafting a schema, reading records and exporting have routers of their own
(`job_schema_drafts`, `job_records`, `job_exports`).

Users see their own jobs; another user's job answers 404. Admins may see, cancel and delete
every job (`GET /api/jobs?all=true` lists them all).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query

from api.deps import CurrentUser, FileStoreDep, KVStoreDep, SettingsDep
from api.flow_runner import FlowRunner, FlowRunnerDep
from api.job_access import read_visible_job
from api.job_checks import check_job_create
from api.job_schemas import (
    JobCreate,
    JobPublic,
    JobRetry,
    JobsPublic,
    JobView,
)
from api.json_body import JSONBody
from api.openapi import errors
from api.paging import Limit, Offset
from api.schemas import Ok
from datagems_core.billing.budgets import check_budget
from datagems_core.billing.estimate_samples import seed_job, take_sample
from datagems_core.errors import Forbidden, ServiceUnavailable
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import create_job, list_job_texts_for_user
from datagems_core.jobs.stored_files import delete_job_files, job_file_ids
from datagems_core.jobs.transitions import continue_job, delete_job, request_cancel
from datagems_core.jobs.views import describe_job, list_all_jobs
from flows.launch import launch_job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/jobs", tags=["jobs"])


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
    definition = checked.definition
    sample = None
    if body.estimate_id is not None:
        sample = await take_sample(
            store, estimate_id=body.estimate_id, owner=user.username, definition=definition
        )
        if definition.seed is None:
            # the sample's variation seed, so the job's own candidates go on where it stopped
            definition = definition.model_copy(update={"seed": sample.seed})
    job = await create_job(
        store,
        files,
        definition,
        owner=user.username,
        total_records=checked.total_records,
        peers=checked.sharding.keys,
        on_peers=checked.sharding.on_peers,
    )
    if sample is not None:
        job = await seed_job(store, files, settings, job, sample)
    job = await launch_job(store, runner, job)
    return JobPublic(job=job, warnings=checked.warnings)


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
