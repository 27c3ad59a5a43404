"""Jobs and shards in the store: the key layout (the only code that knows it) and transitions.

Keys (seed names where the concept is the same):
    datagen:jobs                          hash  job id -> Job record          (creator, then the parent flow)
    datagen:user:{user}:jobs              hash  job id -> JobSummary          (same writer as the job)
    datagen:job:{id}:peers                hash  shard key -> Shard record     (creator, then that shard only)
    datagen:job:{id}:blocks:{shard}       hash  block seq -> Block entry      (that shard only)
    datagen:job:{id}:cancel               plain cancel request                (whoever cancels)
    datagen:job:{id}:claims               hash  fingerprint -> candidate index (gate_claims)

The job's details (instructions, schema, inference choice without any key) are an immutable JSON
file in the file store, referenced by `jobDetailsCid`. Totals are sums over the shard records,
each written by its own shard: nothing is read-modified-written across writers. The records'
shapes are in `datagems_core.job_models`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

from datagems_core.clock import now_iso, now_ms, parse_iso
from datagems_core.errors import BadRequest, Conflict, NotFound
from datagems_core.files.base import FileStore
from datagems_core.gate_config import GateConfig
from datagems_core.job_models import (
    UNFINISHED,
    IndexRange,
    InferenceChoice,
    Job,
    JobDetails,
    Shard,
    Totals,
    sum_shards,
)
from datagems_core.shards import plan_shards
from datagems_core.spending import record_job_usage
from datagems_core.store.base import JSONValue, KVStore

JOBS_HKEY = "datagen:jobs"


def user_jobs_hkey(username: str) -> str:
    return f"datagen:user:{username}:jobs"


def shards_hkey(job_id: str) -> str:
    return f"datagen:job:{job_id}:peers"


def blocks_hkey(job_id: str, shard_key: str) -> str:
    return f"datagen:job:{job_id}:blocks:{shard_key}"


def claims_hkey(job_id: str) -> str:
    return f"datagen:job:{job_id}:claims"


def cancel_key(job_id: str) -> str:
    return f"datagen:job:{job_id}:cancel"


def new_job_id() -> str:
    """`job_<epoch-ms>_<6 hex>`, as the seed makes them."""
    return f"job_{now_ms()}_{secrets.token_hex(3)}"


async def create_job(
    store: KVStore,
    files: FileStore,
    *,
    owner: str,
    title: str,
    description: str = "",
    instructions: str,
    schema: dict[str, Any],
    total_records: int,
    peers: list[str],
    dataset_mode: bool = False,
    seed: int | None = None,
    inference: InferenceChoice | None = None,
    schedule_id: str | None = None,
    version: int | None = None,
    meta: dict[str, Any] | None = None,
    gates: GateConfig | None = None,
    max_candidates: int | None = None,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
) -> Job:
    """Write a new job as `queued`: its details file, the job, the owner's index and its shards.

    The schema must already be sanitised and validated; `peers` are the shard keys (one shard per
    peer, contiguous ranges as the seed splits them).
    """
    if total_records < 0:
        raise ValueError("total_records must not be negative")
    if not peers:
        raise ValueError("a job needs at least one peer to run its shard")
    if max_candidates is not None and max_candidates < total_records:
        raise ValueError("max_candidates must be at least total_records")
    job_id = new_job_id()
    created = now_iso()
    details = JobDetails(
        id=job_id,
        owner=owner,
        title=title,
        description=description,
        instructions=instructions,
        schema=schema,
        dataset_mode=dataset_mode,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        inference=inference or InferenceChoice(),
        gates=gates or GateConfig(),
        created_at=created,
        meta=meta or {},
    )
    # Bytes, not put_json: R1FS' add_json sorts keys, which would lose the schema's property
    # order, and with it the column order users expect in their exports.
    details_json = json.dumps(details.to_record(), ensure_ascii=False)
    details_cid = await files.put_bytes(f"{job_id}_details.json", details_json.encode())
    job = Job(
        id=job_id,
        owner=owner,
        title=title,
        description=description,
        total_records=total_records,
        created_at=created,
        updated_at=created,
        dataset_mode=dataset_mode,
        schedule_id=schedule_id,
        version=version,
        job_details_cid=details_cid,
        peers=list(peers),
        peer_count=len(peers),
        price=details.inference.price,
        model=details.inference.billed_model or details.inference.model,
        max_candidates=max_candidates,
        max_tokens=max_tokens,
        max_cost_usd=max_cost_usd,
    )
    await write_job(store, job)
    for planned in plan_shards(total_records, peers):
        shard = Shard(
            shard_key=planned.key,
            peer_id=planned.key,
            assigned=planned.end - planned.start,
            range=IndexRange(start=planned.start, end=planned.end),
        )
        await write_shard(store, job_id, shard)
    return job


async def write_job(store: KVStore, job: Job) -> None:
    """Write the job and its summary in the owner's index (the job's single writer calls this)."""
    await store.hset(JOBS_HKEY, job.id, job.to_record())
    summary: dict[str, JSONValue] = {
        "id": job.id,
        "title": job.title,
        "status": job.status,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    }
    await store.hset(user_jobs_hkey(job.owner), job.id, summary)
    await record_job_usage(store, job)


async def write_shard(store: KVStore, job_id: str, shard: Shard) -> None:
    await store.hset(shards_hkey(job_id), shard.shard_key, shard.to_record())


async def read_job(store: KVStore, job_id: str) -> Job:
    value = await store.hget(JOBS_HKEY, job_id)
    if not isinstance(value, dict):
        raise NotFound(f"job {job_id} not found")
    return Job.model_validate(value)


# Details files are immutable under their id (a content hash or an R1FS CID), so a job page
# polled every few seconds need not fetch them again; bounded, oldest dropped first.
_DETAILS_CACHE: dict[tuple[str, str], JobDetails] = {}
_DETAILS_CACHE_SIZE = 256


async def read_details(files: FileStore, job: Job) -> JobDetails:
    key = (files.name, job.job_details_cid)
    cached = _DETAILS_CACHE.get(key)
    if cached is None:
        cached = JobDetails.model_validate(await files.get_json(job.job_details_cid))
        if len(_DETAILS_CACHE) >= _DETAILS_CACHE_SIZE:
            del _DETAILS_CACHE[next(iter(_DETAILS_CACHE))]
        _DETAILS_CACHE[key] = cached
    return cached.model_copy(deep=True)  # callers may change their copy


async def read_shards(store: KVStore, job_id: str) -> list[Shard]:
    """The job's shard records, in range order."""
    values = await store.hgetall(shards_hkey(job_id))
    shards = [Shard.model_validate(v) for v in values.values() if isinstance(v, dict)]
    return sorted(shards, key=lambda s: (s.range.start, s.shard_key))


async def read_shard(store: KVStore, job_id: str, shard_key: str) -> Shard:
    value = await store.hget(shards_hkey(job_id), shard_key)
    if not isinstance(value, dict):
        raise NotFound(f"shard {shard_key} of job {job_id} not found")
    return Shard.model_validate(value)


async def list_jobs_for_user(
    store: KVStore, username: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[Job], int]:
    """The user's jobs, newest first, from the user's own index; returns (page, total)."""
    texts, total = await list_job_texts_for_user(store, username, offset=offset, limit=limit)
    return [Job.model_validate_json(text) for text in texts], total


async def list_job_texts_for_user(
    store: KVStore, username: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[str], int]:
    """`list_jobs_for_user` as the stored JSON text of each job (what `Job.to_record` wrote),
    neither parsed nor validated: the API passes it on as it is.

    Newest first is descending id: ids begin with the creation time in epoch ms, 13 digits
    until the year 2286, so they sort as text. Two reads whatever the user's job count: the page
    of the index, then its jobs. A job deleted between the two is left out of the page.
    """
    ids, total = await store.hkeys_page(
        user_jobs_hkey(username), offset=offset, limit=limit, descending=True
    )
    found = await store.hget_many_json(JOBS_HKEY, ids)
    # Only write_job writes these, always an object; anything else is not a job.
    return [text for i in ids if (text := found.get(i, "")).lstrip().startswith("{")], total


async def list_unfinished_jobs(store: KVStore) -> list[Job]:
    """Jobs still `queued` or `running`, oldest first (for resuming them after a restart)."""
    values = await store.hgetall(JOBS_HKEY)
    jobs = [Job.model_validate(v) for v in values.values() if isinstance(v, dict)]
    return sorted((j for j in jobs if j.status in UNFINISHED), key=lambda j: j.created_at)


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
