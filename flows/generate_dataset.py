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
import time
from typing import Any

import prefect
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger

from datagems_core.config.settings import Settings, get_settings
from datagems_core.files.base import FileStore
from datagems_core.files.factory import open_file_store
from datagems_core.jobs.models import Job, Shard, sum_shards
from datagems_core.jobs.outcomes import job_outcome
from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.shard_run import describe_error
from datagems_core.jobs.transitions import (
    is_cancel_requested,
    mark_finished,
    mark_progress,
    mark_running,
)
from datagems_core.logs import configure_logging
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from flows.generate_shard import run_shard_tasks
from flows.interrupted_runs import record_stopped_run
from flows.job_outputs import store_dataset, summarise
from flows.launch import GENERATE_SHARD, Launcher
from flows.progress import (
    ProgressArtifact,
    artifact_key,
    current_flow_run_id,
    label_flow_run,
    linkable_flow_run_id,
)

WATCH_SECONDS = 2.0
JOB_WRITE_SECONDS = 1.0


class JobIncomplete(Exception):
    """The job ended without its N accepted records (its candidate budget was spent)."""


class ShardRunFailed(Exception):
    """A shard's flow run on a peer ended without succeeding."""


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
        if await _sends_to_pool(shards):
            finished = await _run_on_pool(store, settings, tracker, shards)
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


async def _sends_to_pool(shards: list[Shard]) -> bool:
    """Whether the shards go to the work pool as `generate-shard` runs, rather than run here.

    Only when the job has several shards and `generate-shard/default` is on a work pool: a
    peer's shard goes to its peer's queue, a shard bound to no peer to the `default` queue any
    `datagems worker` polls. A deployment a local runner serves (`datagems up`) has no pool, and
    Prefect refuses a run sent to a queue of it; with no deployment at all (`datagems generate`
    in-process) there is nothing to send to. Then the shards run here, concurrently.
    """
    if len(shards) < 2:
        return False
    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(GENERATE_SHARD)
        except ObjectNotFound:
            deployment = None
    if deployment is None or deployment.work_pool_name is None:
        get_run_logger().info(
            "%s is not on a work pool (no `datagems deploy`), so this run makes all %d shards",
            GENERATE_SHARD,
            len(shards),
        )
        return False
    return True


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


async def _run_on_pool(
    store: KVStore, settings: Settings, tracker: _JobTracker, shards: list[Shard]
) -> list[Shard]:
    """Send each unfinished shard to the pool and watch them; take over a shard whose run
    ended without finishing it (its worker died: Crashed), up to DATAGEMS_SHARD_MAX_TAKEOVERS."""
    job = tracker.job
    parent = current_flow_run_id() or job.id
    launcher = Launcher()
    runs: dict[str, FlowRun] = {}
    for shard in shards:
        if shard.status == "succeeded" and shard.generated_ok >= shard.assigned:
            continue
        runs[shard.shard_key] = await launcher.start_shard(job, shard, parent=parent)
    queue_of = {shard.shard_key: shard.peer_id for shard in shards}
    takeovers = {shard.shard_key: shard.takeovers for shard in shards}
    waiting_told: set[str] = set()
    async with get_client() as client:
        while True:
            states: dict[str, State[Any] | None] = {}
            for key, run in runs.items():
                states[key] = (await client.read_flow_run(run.id)).state
                if _is_late(states[key]) and key not in waiting_told:
                    waiting_told.add(key)
                    get_run_logger().warning(
                        "shard %s has waited past its start time on work queue %s: is "
                        "`datagems worker` running there, with a free slot?",
                        key,
                        queue_of[key],
                    )
            latest = {s.shard_key: s for s in await read_shards(store, job.id)}
            for shard in latest.values():
                await tracker.observe(shard)
            for key, state in states.items():
                if not _needs_takeover(state, latest[key]) or await is_cancel_requested(
                    store, job.id
                ):
                    continue
                if takeovers[key] >= settings.shard_max_takeovers:
                    raise ShardRunFailed(
                        f"shard {key} ended {state.name if state else 'unknown'} again after "
                        f"{takeovers[key]} takeover(s) (DATAGEMS_SHARD_MAX_TAKEOVERS): "
                        f"{(state.message if state else None) or 'no reason given'}"
                    )
                takeovers[key] += 1
                get_run_logger().warning(
                    "shard %s: its run %s ended %s (%s) with the shard unfinished; a new run "
                    "takes it over from its checkpoint (takeover %d of at most %d)",
                    key,
                    runs[key].id,
                    state.name if state else "unknown",
                    (state.message if state else None) or "no reason given",
                    takeovers[key],
                    settings.shard_max_takeovers,
                )
                runs[key] = await launcher.start_shard(
                    job, latest[key], parent=parent, takeover=takeovers[key]
                )
                states[key] = None  # not final: watch the new run
            if all(state is not None and state.is_final() for state in states.values()):
                break
            await asyncio.sleep(WATCH_SECONDS)
    final = await read_shards(store, job.id)
    by_key = {s.shard_key: s for s in final}
    for key, state in states.items():
        if state is None or not state.is_completed():
            shard_error = by_key[key].error if key in by_key else None
            message = shard_error or (state.message if state else None) or "no reason given"
            raise ShardRunFailed(
                f"shard {key} ended {state.name if state else 'unknown'}: {message}"
            )
    return final


def _needs_takeover(state: State[Any] | None, shard: Shard) -> bool:
    """The run ended but not by itself: Crashed, or Failed with the shard record unfinished
    (a shard that fails for a reason of its own writes `failed` with it; a cancelled one is left)."""
    if state is None or not state.is_final() or state.is_completed() or state.is_cancelled():
        return False
    return state.is_crashed() or not shard.is_finished


def _is_late(state: State[Any] | None) -> bool:
    # Prefect marks a scheduled run Late when no worker has taken it well after its start time.
    return state is not None and state.is_scheduled() and state.name == "Late"


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
        job = await run_job(store=store, files=files, settings=settings, job_id=job_id)
        return job.to_record()
    finally:
        await files.close()
        await store.close()
