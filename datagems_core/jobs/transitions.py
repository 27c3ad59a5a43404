"""A job's transitions after it is made: running, progress, finished, cancel, continue, delete.

The job's single writer (the parent flow, or the API for cancel/continue/delete of a stopped job)
calls these; the key layout is `repository`'s.
"""

from __future__ import annotations

from typing import Any, Literal

from datagems_core.billing.ledger import record_job_usage
from datagems_core.clock import now_iso, parse_iso
from datagems_core.errors import BadRequest, Conflict
from datagems_core.jobs.models import (
    Job,
    Totals,
    sum_shards,
)
from datagems_core.jobs.repository import (
    JOBS_HKEY,
    blocks_hkey,
    cancel_key,
    claims_hkey,
    read_job,
    read_shards,
    shards_hkey,
    user_jobs_hkey,
    write_job,
)
from datagems_core.store.base import KVStore


async def request_cancel(store: KVStore, job_id: str, *, by: str) -> Job:
    """Ask a job to stop; shards see it at their next checkpoint and keep what they made.

    A job that has not started yet is cancelled at once. A finished job cannot be cancelled.
    """
    job = await read_job(store, job_id)
    if job.is_finished:
        raise Conflict(f"job {job_id} is already {job.status}")
    await store.set(cancel_key(job_id), {"requestedAt": now_iso(), "by": by})
    if job.status == "queued":
        job = await mark_finished(store, job, status="cancelled", error=None)
    return job


async def is_cancel_requested(store: KVStore, job_id: str) -> bool:
    return isinstance(await store.get(cancel_key(job_id)), dict)


async def clear_cancel(store: KVStore, job_id: str) -> None:
    await store.set(cancel_key(job_id), None)


async def mark_running(store: KVStore, job: Job, *, flow_run_id: str | None) -> Job:
    """Start (or restart) the job: clears any previous error and finish time."""
    stamp = now_iso()
    updated = job.model_copy(
        update={
            "status": "running",
            "started_at": job.started_at or stamp,
            "finished_at": None,
            "error": None,
            "updated_at": stamp,
            "flow_run_id": flow_run_id or job.flow_run_id,
        }
    )
    await write_job(store, updated)
    return updated


async def mark_progress(store: KVStore, job: Job, totals: Totals) -> Job:
    updated = _with_totals(job, totals).model_copy(update={"updated_at": now_iso()})
    await write_job(store, updated)
    return updated


async def mark_finished(
    store: KVStore,
    job: Job,
    *,
    status: Literal["succeeded", "failed", "cancelled"],
    error: str | None,
    totals: Totals | None = None,
    dataset_cid: str | None = None,
    dataset_format: str | None = None,
) -> Job:
    stamp = now_iso()
    update: dict[str, Any] = {
        "status": status,
        "error": error,
        "finished_at": stamp,
        "updated_at": stamp,
        "dataset_cid": dataset_cid or job.dataset_cid,
        "dataset_format": dataset_format or job.dataset_format,
    }
    if job.started_at:
        started, finished = parse_iso(job.started_at), parse_iso(stamp)
        if started and finished:
            update["records_duration_ms"] = (finished - started).total_seconds() * 1000
    base = _with_totals(job, totals) if totals is not None else job
    updated = base.model_copy(update=update)
    await write_job(store, updated)
    return updated


def _with_totals(job: Job, totals: Totals) -> Job:
    return job.model_copy(
        update={
            "total_ok": totals.total_ok,
            "total_failed": totals.total_failed,
            "total_generated": totals.done,
            "failure_reasons": totals.failure_reasons,
            "rejected": totals.rejected,
            "tokens": totals.tokens,
            "takeovers": totals.takeovers,
            "structured_output": totals.structured_output or job.structured_output,
        }
    )


async def continue_job(
    store: KVStore,
    job_id: str,
    *,
    max_candidates: int | None,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
) -> Job:
    """Queue a failed or cancelled job to go on until it has its N accepted records.

    `max_candidates` raises the candidate budget (above the one the job had and the candidates
    it made); without it the job goes on within its budget (after a systemic failure or a
    cancel), and a job that spent its budget is refused (BadRequest naming maxCandidates).
    `max_tokens` / `max_cost_usd` replace the job's spend budget (they must be larger).
    """
    job = await read_job(store, job_id)
    if not job.is_finished:
        raise Conflict(f"job {job_id} is {job.status}; continue a finished job")
    if job.status == "succeeded":
        raise Conflict(f"job {job_id} already has its {job.total_records} accepted records")
    update: dict[str, Any] = {
        "status": "queued",
        "retry_pass": job.retry_pass + 1,
        "error": None,
        "finished_at": None,
        "resumes": 0,  # a person chose to go on: the crash-resume count starts again
        "updated_at": now_iso(),
    }
    made = job.total_ok + job.total_failed
    if max_candidates is None and (job.error or "").startswith("candidate budget spent"):
        raise BadRequest(
            f"maxCandidates: job {job_id} spent its candidate budget ({made} candidates for "
            f"{job.total_ok} of {job.total_records} records); give a larger one to continue",
            details={"field": "maxCandidates"},
        )
    if max_candidates is not None:
        floor = max(made, job.max_candidates or 0, job.total_records - 1)
        if max_candidates <= floor:
            raise BadRequest(
                f"maxCandidates must be larger than the job's budget and the {made} candidates "
                f"it made (more than {floor}), got {max_candidates}",
                details={"field": "maxCandidates"},
            )
        if max_candidates > job.total_records * 100:
            raise BadRequest(
                f"maxCandidates must be at most {job.total_records * 100} (100 x totalRecords), "
                f"got {max_candidates}",
                details={"field": "maxCandidates"},
            )
        update["max_candidates"] = max_candidates
    for field, name, value in (
        ("max_tokens", "maxTokens", max_tokens),
        ("max_cost_usd", "maxCostUsd", max_cost_usd),
    ):
        old = getattr(job, field)
        if value is not None:
            if old is not None and value <= old:
                raise BadRequest(
                    f"{name} must be larger than the job's budget of {old:g}, got {value:g}",
                    details={"field": name},
                )
            update[field] = value
    await clear_cancel(store, job_id)
    updated = job.model_copy(update=update)
    await write_job(store, updated)
    return updated


async def delete_job(store: KVStore, job_id: str) -> None:
    """Remove the job, its index entry, shard and block records; refuses a running job."""
    job = await read_job(store, job_id)
    if job.status == "running":
        raise Conflict(f"job {job_id} is running; cancel it before deleting it")
    shards = await read_shards(store, job_id)
    if shards:  # the usage ledger keeps what the job spent, up to its last checkpoint
        await record_job_usage(store, _with_totals(job, sum_shards(shards)))
    for shard_key in (await store.hgetall(shards_hkey(job_id))).keys():
        blocks = blocks_hkey(job_id, shard_key)
        for seq in (await store.hgetall(blocks)).keys():
            await store.hset(blocks, seq, None)
        await store.hset(shards_hkey(job_id), shard_key, None)
    await store.set(cancel_key(job_id), None)
    claims = claims_hkey(job_id)
    for field in (await store.hgetall(claims)).keys():
        await store.hset(claims, field, None)
    await store.hset(user_jobs_hkey(job.owner), job_id, None)
    await store.hset(JOBS_HKEY, job_id, None)
