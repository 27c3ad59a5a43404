"""The `build-recurring-dataset` flow: one run of a schedule makes the next version of its dataset.

A run reads the saved schedule, claims the next version number and creates that version's job
(under a Prefect global concurrency limit of one, so two builds never claim the same number),
then starts a `generate-dataset/default` run for the job, linked as a subflow, and returns at
once: the job runs, is cancelled and resumes like any other. A run retried by Prefect finds
the job it already made. A paused schedule's leftover automatic runs build nothing; runs
started by hand, or by a schedule declared in prefect.yaml (any slug but `datagems-*`), build
even while the saved schedule is paused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.concurrency.asyncio import concurrency
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from datagems_core.config.settings import get_settings
from datagems_core.jobs.models import Job
from datagems_core.jobs.schedules import (
    ORCHESTRATOR_SLUG_PREFIX,
    Schedule,
    create_version_job,
    read_schedule,
)
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store
from flows.launch import Launcher, launch_job

VERSION_LOCK = "datagems-schedule-versions"
LOCK_WAIT_SECONDS = 120


@asynccontextmanager
async def holding_version_lock() -> AsyncIterator[None]:
    """One version claim at a time, across every machine serving this deployment."""
    async with get_client() as client:
        try:
            await client.upsert_global_concurrency_limit_by_name(VERSION_LOCK, 1)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:  # 409: another build created it just now
                raise
    async with concurrency(
        VERSION_LOCK, occupy=1, strict=True, timeout_seconds=LOCK_WAIT_SECONDS, lease_duration=60
    ):
        yield


async def is_from_own_schedule(flow_run: FlowRun | None) -> bool:
    """Whether Prefect made this run from a schedule DataGems put there (or has since removed)."""
    if flow_run is None or not flow_run.auto_scheduled or flow_run.deployment_id is None:
        return False
    # Prefect keys automatic runs "scheduled <deployment id> <deployment schedule id> <time>".
    parts = (flow_run.idempotency_key or "").split(" ")
    if len(parts) < 3 or parts[0] != "scheduled":
        return False
    async with get_client() as client:
        schedules = await client.read_deployment_schedules(flow_run.deployment_id)
    source = next((s for s in schedules if str(s.id) == parts[2]), None)
    return source is None or (source.slug or "").startswith(ORCHESTRATOR_SLUG_PREFIX)


@task(name="create-version-job", cache_policy=NO_CACHE, persist_result=False)
async def create_version(
    store: KVStore, files: FileStore, schedule: Schedule, build_id: str
) -> Job:
    async with holding_version_lock():
        return await create_version_job(store, files, get_settings(), schedule, build_id=build_id)


@task(name="start-generate-dataset", cache_policy=NO_CACHE, persist_result=False)
async def start_generation(store: KVStore, job: Job, schedule_id: str) -> Job:
    """Start the job's `generate-dataset` run; the job fails with the reason if it cannot."""
    return await launch_job(
        store, Launcher(), job, tags=(f"schedule:{schedule_id}",), as_subflow=True
    )


@flow(name="build-recurring-dataset", log_prints=False, persist_result=False)
async def build_recurring_dataset(schedule_id: str) -> dict[str, Any]:
    """Build the next version of a schedule's dataset; returns the version's job record."""
    logger = get_run_logger()
    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    try:
        schedule = await read_schedule(store, schedule_id)
        context = FlowRunContext.get()
        flow_run = context.flow_run if context else None
        if not schedule.active and await is_from_own_schedule(flow_run):
            logger.info("schedule %s is paused: this automatic run builds nothing", schedule_id)
            return {"skipped": True, "scheduleId": schedule_id}
        build_id = str(flow_run.id) if flow_run is not None else f"local-{uuid4().hex}"
        job = await create_version(store, files, schedule, build_id)
        logger.info(
            "schedule %s: version %s is job %s (%d records)",
            schedule_id,
            job.version,
            job.id,
            job.total_records,
        )
        if job.status == "queued" and job.flow_run_id is None:
            job = await start_generation(store, job, schedule_id)
        return job.to_record()
    finally:
        await files.close()
        await store.close()
