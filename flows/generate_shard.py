"""The `generate-shard` flow: one shard of a job, as Prefect tasks over the core shard loop.

Jobs up to `DATAGEMS_RECORD_TASKS_MAX` records run one task per record; larger ones one task per
checkpoint batch of K records, the records inside concurrent. Both call the same record function.
Task options stay cheap (no result persistence, no cache key, ints as the only parameters, no
per-task INFO line): Prefect's engine still costs about 2.4 ms of client CPU a task run here,
and async tasks are awaited directly (no `.submit()`).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from datagems_core.config.settings import Settings, get_settings
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.repository import read_job, read_shard, write_shard
from datagems_core.jobs.shard_lease import FencedStore, hold_shard, shard_owner
from datagems_core.jobs.shard_run import (
    CheckpointHook,
    RecordFn,
    ResultSink,
    UnitRunner,
    run_records,
    run_shard,
)
from datagems_core.logs import configure_logging
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store
from flows.progress import (
    ProgressArtifact,
    artifact_key,
    current_flow_run_id,
    label_flow_run,
    linkable_flow_run_id,
)

_CHEAP: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "persist_result": False,
    "log_prints": False,
    "retries": 0,
}


@dataclass(frozen=True)
class _Unit:
    make: RecordFn
    indices: list[int]
    report: ResultSink


# The unit a task works on. Tasks take only indices as parameters: Prefect walks every
# parameter of every task run, and a function or a list of K indices costs it on each call.
# Each unit runs in its own asyncio task, so each sees its own value.
_current_unit: ContextVar[_Unit] = ContextVar("datagems_current_unit")


@task(name="make-record", task_run_name="record-{index}", **_CHEAP)
async def make_record(index: int) -> None:
    unit = _current_unit.get()
    unit.report(await unit.make(index))


@task(name="make-record-batch", task_run_name="records-{first}-{last}", **_CHEAP)
async def make_record_batch(first: int, last: int) -> None:
    del first, last  # only name the task run
    unit = _current_unit.get()
    await run_records(unit.make, unit.indices, unit.report)


async def record_task_runner(make: RecordFn, indices: list[int], report: ResultSink) -> None:
    _current_unit.set(_Unit(make, indices, report))
    for index in indices:
        await make_record(index)


async def batch_task_runner(make: RecordFn, indices: list[int], report: ResultSink) -> None:
    _current_unit.set(_Unit(make, indices, report))
    await make_record_batch(indices[0], indices[-1])


def choose_runner(settings: Settings, job: Job) -> tuple[UnitRunner, int]:
    """Task per candidate up to `record_tasks_max` records in the job, else task per batch."""
    if job.total_records <= settings.record_tasks_max:
        return record_task_runner, 1
    return batch_task_runner, settings.update_every_k


async def run_shard_tasks(
    *,
    store: KVStore,
    files: FileStore,
    settings: Settings,
    job: Job,
    shard_key: str,
    on_checkpoint: CheckpointHook | None = None,
) -> Shard:
    """The core shard loop with its records as Prefect tasks of the current flow run."""
    runner, unit_size = choose_runner(settings, job)
    # Prefect logs "Finished in state Completed()" at INFO for every task run, to the console
    # and the API: a line per record or batch. Failed task runs still log, at ERROR.
    logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)
    # One writer per shard: every write goes through the lease's fence (shard_lease.py).
    owner = shard_owner(current_flow_run_id())
    lease_seconds = settings.shard_lease_seconds
    async with hold_shard(
        store, job_id=job.id, shard_key=shard_key, owner=owner, ttl_seconds=lease_seconds
    ) as fenced:
        if isinstance(fenced, FencedStore):
            await _note_lease(fenced, job.id, shard_key)
        return await run_shard(
            store=fenced,
            files=files,
            settings=settings,
            job_id=job.id,
            shard_key=shard_key,
            runner=runner,
            unit_size=unit_size,
            on_checkpoint=on_checkpoint,
            flow_run_id=linkable_flow_run_id(),
        )


async def _note_lease(fenced: FencedStore, job_id: str, shard_key: str) -> None:
    """Show the lease holder on the shard record, and a takeover of a dead writer's lease."""
    lease = fenced.lease
    shard = await read_shard(fenced, job_id, shard_key)
    update: dict[str, Any] = {"lease_owner": lease.owner}
    if lease.taken_from is not None:
        update |= {"takeovers": shard.takeovers + 1, "taken_over_from": lease.taken_from}
        logging.getLogger(__name__).warning(
            "shard %s of job %s taken over from %s (its lease expired); resuming from its "
            "checkpoint at %d accepted",
            shard_key,
            job_id,
            lease.taken_from,
            shard.generated_ok,
        )
    await write_shard(fenced, job_id, shard.model_copy(update=update))


@flow(name="generate-shard", log_prints=False, persist_result=False)
async def generate_shard(job_id: str, shard_key: str) -> dict[str, Any]:
    """Make one shard of a job on this machine (a peer's share of the records)."""
    settings = get_settings()
    configure_logging(settings)  # this process makes the calls: its logs are masked too
    store, files = open_store(settings), open_file_store(settings)
    try:
        job = await read_job(store, job_id)
        await label_flow_run(job, suffix=f" shard {shard_key}")
        before = await read_shard(store, job_id, shard_key)
        progress = ProgressArtifact(
            key=artifact_key(f"progress-{shard_key}", job_id),
            description=f"Records of shard {shard_key} of {job.title}",
            total=before.assigned,
        )

        async def on_checkpoint(shard: Shard) -> None:
            progress.move(shard.generated_ok)

        await progress.start(before.generated_ok)
        shard = await run_shard_tasks(
            store=store,
            files=files,
            settings=settings,
            job=job,
            shard_key=shard_key,
            on_checkpoint=on_checkpoint,
        )
        await progress.finish(shard.generated_ok)
        return shard.to_record()
    finally:
        await files.close()
        await store.close()
