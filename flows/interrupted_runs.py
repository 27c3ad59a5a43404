"""What happens to a job when Prefect stops its `generate-dataset` run from outside.

A cancel ends the job `cancelled`, keeping what it made. A crash (the run's process died: kill -9,
the out-of-memory killer) resumes the job from its checkpoints in a new run of the deployment,
started through the launcher, up to DATAGEMS_JOB_MAX_RESUMES times; then the job fails with the
reason. Prefect runs these hooks (the flow's `on_cancellation` / `on_crashed`) where it saw the
run end: for a crash, in the runner or worker that started the process, once it exited non-zero.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger

from datagems_core.config.settings import get_settings
from datagems_core.errors import ServiceUnavailable
from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.starts import requeue_crashed
from datagems_core.jobs.transitions import mark_finished
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from flows.launch import Launcher, launch_job


async def record_stopped_run(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Prefect stopped the run: a cancel ends the job `cancelled`, keeping its data; a crash
    (the run's process died: kill -9, out of memory) resumes the job from its checkpoints in a
    new run of the deployment, up to DATAGEMS_JOB_MAX_RESUMES times, then fails it with the
    reason. A crashed run outside any deployment (`datagems generate`) leaves the job failed for
    `datagems resume`.

    Prefect runs this hook where it saw the run end: in the runner or worker that started the
    process, when that process exits with a non-zero code.
    """
    del flow
    job_id = str(flow_run.parameters.get("job_id", ""))
    settings = get_settings()
    store = open_store(settings)
    try:
        job = await read_job(store, job_id)
        if job.is_finished:
            return
        totals = sum_shards(await read_shards(store, job_id))
        if state.is_cancelled() or state.is_cancelling():
            await mark_finished(store, job, status="cancelled", error=None, totals=totals)
            return
        reason = state.message or f"the flow run ended {state.type.value.lower()}"
        if flow_run.deployment_id is not None and job.resumes < settings.job_max_resumes:
            await _resume_crashed(store, job, flow_run, reason)
            return
        if job.resumes:
            reason = (
                f"{reason} (the run crashed {job.resumes + 1} times; resumed {job.resumes} "
                f"times, the most DATAGEMS_JOB_MAX_RESUMES allows)"
            )
        await mark_finished(store, job, status="failed", error=reason, totals=totals)
    finally:
        await store.close()


async def _resume_crashed(store: KVStore, job: Job, flow_run: FlowRun, reason: str) -> None:
    logger = flow_run_logger(flow_run)
    queued = await requeue_crashed(store, job)
    try:
        resumed = await launch_job(store, Launcher(), queued, tags=("resumed",))
    except ServiceUnavailable as exc:  # launch_job failed the job with the reason
        logger.error("job %s crashed (%s) and could not be resumed: %s", job.id, reason, exc)
        return
    logger.warning(
        "job %s crashed (%s): resumed from its checkpoints in flow run %s (resume %d of %d)",
        job.id,
        reason,
        resumed.flow_run_id,
        queued.resumes,
        get_settings().job_max_resumes,
    )
