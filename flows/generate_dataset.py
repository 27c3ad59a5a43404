"""The `generate-dataset` flow: run a job's shards, then finish the job and describe the dataset.

Without a work pool the shards run in this flow run (their records as its tasks). With several
shards and `generate-shard/default` on a pool (`datagems deploy`), each shard is a run of it:
a Ratio1 peer's shard on its peer's work queue (so each peer uses its own gateway), any other
shard on the `default` queue, for any `datagems worker`; this flow then watches the shard records
and takes over a shard whose run crashed (its worker died) in a new run. Either way the job's progress artifact and totals move as shards checkpoint, and only
this flow writes the job record while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import prefect
from prefect.logging import get_run_logger

from datagems_core.config.settings import Settings, get_settings
from datagems_core.jobs.models import Job, Shard, sum_shards
from datagems_core.jobs.outcomes import job_outcome
from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.shard_lease import ShardBusy, hold_lease, job_lease_key, shard_owner
from datagems_core.jobs.shard_run import describe_error
from datagems_core.jobs.starts import requeue_crashed
from datagems_core.jobs.transitions import (
    is_cancel_requested,
    mark_finished,
    mark_progress,
    mark_running,
)
from datagems_core.logs import configure_logging
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store
from flows.generate_shard import run_shard_tasks
from flows.interrupted_runs import record_stopped_run
from flows.job_outputs import store_dataset, summarise
from flows.pool_shards import run_on_pool, sends_to_pool
from flows.progress import (
    ProgressArtifact,
    artifact_key,
    current_flow_run_id,
    label_flow_run,
    linkable_flow_run_id,
)

JOB_WRITE_SECONDS = 1.0


class JobIncomplete(Exception):
    """The job ended without its N accepted records (its candidate budget was spent)."""


class _JobTracker:
    """Moves the job's progress and totals as its shards checkpoint (throttled job writes)."""

    def __init__(self, store: KVStore, job: Job, shards: list[Shard]) -> None:
        self.store, self.job = store, job
        self.shards = {s.shard_key: s for s in shards}
        self.progress = ProgressArtifact(
            key=artifact_key("progress", job.id),
            description=f"Records made for {job.title}",
            total=job.total_records,
        )
        self._written = 0.0

    @property
    def done(self) -> int:
        """Accepted records: what the job's N counts."""
        return sum(s.generated_ok for s in self.shards.values())

    async def observe(self, shard: Shard) -> None:
        self.shards[shard.shard_key] = shard
        self.progress.move(self.done)
        if time.monotonic() - self._written >= JOB_WRITE_SECONDS:
            self._written = time.monotonic()
            self.job = await mark_progress(
                self.store, self.job, sum_shards(list(self.shards.values()))
            )


async def run_job(*, store: KVStore, files: FileStore, settings: Settings, job_id: str) -> Job:
    """Run (or resume) the job to a final state; raises the reason when it fails."""
    logger = get_run_logger()
    job = await read_job(store, job_id)
    await label_flow_run(job)
    if job.is_finished:
        logger.info("job %s is %s already; nothing to run", job_id, job.status)
        return job
    job = await _count_resume(store, settings, job)
    if await is_cancel_requested(store, job_id):
        if not job.is_finished:
            totals = sum_shards(await read_shards(store, job_id))
            job = await mark_finished(store, job, status="cancelled", error=None, totals=totals)
        logger.info("job %s was cancelled before it ran", job_id)
        return job
    job = await mark_running(store, job, flow_run_id=linkable_flow_run_id())
    shards = await read_shards(store, job_id)
    tracker = _JobTracker(store, job, shards)
    await tracker.progress.start(tracker.done)
    logger.info("job %s: %d records over %d shard(s)", job_id, job.total_records, len(shards))
    try:
        if await sends_to_pool(shards):
            finished = await run_on_pool(store, settings, tracker.job, tracker.observe, shards)
        else:
            finished = await _run_here(store, files, settings, tracker, shards)
    except Exception as exc:
        totals = sum_shards(await read_shards(store, job_id))
        job = await mark_finished(
            store, tracker.job, status="failed", error=describe_error(exc), totals=totals
        )
        logger.error("job %s failed: %s", job_id, job.error)
        await summarise(store, files, job)
        raise
    totals = sum_shards(finished)
    status, error = job_outcome(tracker.job, finished, totals)
    dataset_cid = await store_dataset(store, files, tracker.job)
    job = await mark_finished(
        store,
        tracker.job,
        status=status,
        error=error,
        totals=totals,
        dataset_cid=dataset_cid,
        dataset_format="jsonl",
    )
    await tracker.progress.finish(totals.total_ok)
    await summarise(store, files, job)
    logger.info(
        "job %s %s: %d accepted of %d, %d candidates rejected",
        job_id,
        job.status,
        totals.total_ok,
        job.total_records,
        totals.total_failed,
    )
    if status == "failed":
        raise JobIncomplete(error)  # the run is Failed in Prefect, as the job is
    return job


async def _count_resume(store: KVStore, settings: Settings, job: Job) -> Job:
    """A job left `running` by another run (it crashed; `datagems deploy`'s automation started
    this one) is a resume: counted against DATAGEMS_JOB_MAX_RESUMES, then failed."""
    this_run = current_flow_run_id()
    if job.status != "running" or job.flow_run_id in (None, this_run):
        return job
    if job.resumes >= settings.job_max_resumes:
        reason = (
            f"its job run {job.flow_run_id} stopped {job.resumes + 1} times; resumed "
            f"{job.resumes} times, the most DATAGEMS_JOB_MAX_RESUMES allows"
        )
        totals = sum_shards(await read_shards(store, job.id))
        finished = await mark_finished(store, job, status="failed", error=reason, totals=totals)
        raise JobIncomplete(finished.error)
    get_run_logger().warning(
        "job %s: its run %s stopped; this run resumes it from its checkpoints (resume %d of %d)",
        job.id,
        job.flow_run_id,
        job.resumes + 1,
        settings.job_max_resumes,
    )
    return await requeue_crashed(store, job)


async def _run_here(
    store: KVStore, files: FileStore, settings: Settings, tracker: _JobTracker, shards: list[Shard]
) -> list[Shard]:
    runs = [
        run_shard_tasks(
            store=store,
            files=files,
            settings=settings,
            job=tracker.job,
            shard_key=shard.shard_key,
            on_checkpoint=tracker.observe,
        )
        for shard in shards
    ]
    if len(runs) == 1:
        return [await runs[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run) for run in runs]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [t.result() for t in tasks]


@prefect.flow(
    name="generate-dataset",
    log_prints=False,
    persist_result=False,
    on_cancellation=[record_stopped_run],
    on_crashed=[record_stopped_run],
)
async def generate_dataset(job_id: str) -> dict[str, Any]:
    """Generate (or resume) a job's dataset; returns the final job record."""
    settings = get_settings()
    configure_logging(settings)  # this process makes the calls: its logs are masked too
    store, files = open_store(settings), open_file_store(settings)
    try:
        async with contextlib.AsyncExitStack() as held:
            # One live job run per job: a crashed run is resumed both by its worker's hook and
            # by `datagems deploy`'s automation, and a paused one may wake up.
            try:
                await held.enter_async_context(
                    hold_lease(
                        store,
                        key=job_lease_key(job_id),
                        owner=shard_owner(current_flow_run_id()),
                        ttl_seconds=settings.shard_lease_seconds,
                    )
                )
            except ShardBusy as exc:
                get_run_logger().info("job %s has a live job run already: %s", job_id, exc)
                return (await read_job(store, job_id)).to_record()
            job = await run_job(store=store, files=files, settings=settings, job_id=job_id)
        return job.to_record()
    finally:
        await files.close()
        await store.close()
