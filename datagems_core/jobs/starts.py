"""Starting a job's run from outside it (the API, a recurring build, a crashed run's hook): queue
the job for the run, note the flow run it got, or fail the job with the reason when no run could
be started, so nothing waits `queued` for ever.
"""

from __future__ import annotations

from datagems_core.clock import now_iso
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.repository import read_job, write_job
from datagems_core.jobs.transitions import mark_finished
from datagems_core.store.base import KVStore


async def note_flow_run(store: KVStore, job_id: str, flow_run_id: str) -> Job:
    """Put the id of the run just started for the job on the job while it is still queued."""
    current = await read_job(store, job_id)
    if current.status != "queued" or current.flow_run_id == flow_run_id:
        return current  # the run already started and keeps the job record itself
    # The run was created a moment ago and starts only after a runner polls for it and spawns
    # its process (seconds), so this write does not overtake it; and the flow writes the job
    # from its own copy at every checkpoint, which would put `running` back anyway.
    updated = current.model_copy(update={"flow_run_id": flow_run_id})
    await write_job(store, updated)
    return updated


async def fail_unstarted(store: KVStore, job: Job, reason: str) -> Job:
    """Mark the job failed because its run could not be started."""
    return await mark_finished(
        store, job, status="failed", error=f"could not start its flow run: {reason}"
    )


def is_pass_unfinished(job: Job, shards: list[Shard]) -> bool:
    """Whether some shard has records of the job's current pass still to make."""
    return any(s.status != "succeeded" or s.retry_pass < job.retry_pass for s in shards)


async def requeue_crashed(store: KVStore, job: Job) -> Job:
    """Queue a job whose run crashed to resume its current pass in a new run (counted)."""
    updated = job.model_copy(
        update={
            "status": "queued",
            "error": None,
            "finished_at": None,
            "resumes": job.resumes + 1,
            "updated_at": now_iso(),
        }
    )
    await write_job(store, updated)
    return updated
