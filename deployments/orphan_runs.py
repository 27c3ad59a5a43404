"""The flow runs a stopped local runner left in progress.

Stopping `datagems up` (or a machine that stops) ends the local runner and its flow-run processes
without telling Prefect (a graceful runner stop would cancel the runs, and cancelling a job is the
user's call): their runs stay Running and their jobs `running`. `datagems up` marks those runs
Crashed when it stops and again when it starts, before its runner polls; the jobs are then
resumed from their checkpoints (`flows.launch.resume_unfinished_jobs`).

Only runs of runner-served deployments (no work pool) are taken for orphans: a run on the work
pool belongs to a worker, possibly on another machine, that may still be running it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound, PrefectException
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY
from prefect.states import Crashed

from datagems_core.errors import ServiceUnavailable
from flows.launch import DEPLOYMENTS

log = logging.getLogger("datagems.resume")

ORPHAN_MESSAGE: Final = (
    "DataGems stopped while this run was in progress; `datagems up` resumes its job from the "
    "last checkpoint"
)
_IN_PROGRESS = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
_PREFECT_ERRORS = (httpx.HTTPError, PrefectException, OSError)


@asynccontextmanager
async def prefect_client(
    api_url: str, auth_string: str | None = None
) -> AsyncIterator[PrefectClient]:
    """A client of the server at `api_url` (`auth_string` defaults to PREFECT_API_AUTH_STRING)."""
    try:
        async with PrefectClient(
            api_url,
            api_key=PREFECT_API_KEY.value(),
            auth_string=auth_string or PREFECT_API_AUTH_STRING.value(),
        ) as client:
            yield client
    except _PREFECT_ERRORS as exc:
        raise ServiceUnavailable(
            f"the Prefect server at {api_url} failed a call ({type(exc).__name__}: {exc})"
        ) from exc


async def crash_orphaned_runs(api_url: str, auth_string: str | None = None) -> list[UUID]:
    """Mark Crashed the in-progress runs of runner-served deployments (and their subflows).

    Call it only while no local runner is running. Returns the ids marked.
    """
    async with prefect_client(api_url, auth_string) as client:
        served: list[UUID] = []
        for name in DEPLOYMENTS:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if deployment.work_pool_name is None:
                served.append(deployment.id)
        if not served:
            return []
        orphans = await _in_progress(
            client, FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=served))
        )
        if orphans:
            orphans += await _in_progress(
                client,
                FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in orphans])
                ),
            )
        for run in orphans:
            await client.set_flow_run_state(run.id, Crashed(message=ORPHAN_MESSAGE), force=True)
            log.info("flow run %s (%s) was left %s: marked Crashed", run.id, run.name, _state(run))
        return [run.id for run in orphans]


async def _in_progress(client: PrefectClient, flow_run_filter: FlowRunFilter) -> list[FlowRun]:
    flow_run_filter.state = FlowRunFilterState(type=FlowRunFilterStateType(any_=_IN_PROGRESS))
    return await client.read_flow_runs(flow_run_filter=flow_run_filter, limit=200)


def _state(run: FlowRun) -> str:
    return run.state_name or "in progress"
