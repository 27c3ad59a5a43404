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
shapes are in `datagems_core.jobs.models`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from datagems_core.billing.ledger import record_job_usage
from datagems_core.clock import now_iso, now_ms
from datagems_core.datasets.definition import DatasetDefinition, definition_of
from datagems_core.errors import NotFound
from datagems_core.jobs.models import (
    UNFINISHED,
    IndexRange,
    Job,
    JobDetails,
    Shard,
)
from datagems_core.jobs.shards import ANY_PEER, plan_shards
from datagems_core.store.base import JSONValue, KVStore
from datagems_core.store.files.base import FileStore

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
    definition: DatasetDefinition,
    *,
    owner: str,
    total_records: int,
    peers: list[str],
    on_peers: bool = True,
    schedule_id: str | None = None,
    version: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Job:
    """Write a new job as `queued`: its details file, the job, the owner's index and its shards.

    The definition must already be checked (`datasets.definitions.build_definition`); `peers`
    are the shard keys (contiguous ranges as the seed splits them): with `on_peers` each is the
    peer that runs it, else the shards are bound to no peer and any worker runs them
    (`shards.sharding_for`). A definition without a seed gets one drawn here.
    """
    if total_records < 0:
        raise ValueError("total_records must not be negative")
    if not peers:
        raise ValueError("a job needs at least one peer to run its shard")
    if definition.max_candidates is not None and definition.max_candidates < total_records:
        raise ValueError("max_candidates must be at least total_records")
    job_id = new_job_id()
    created = now_iso()
    seed = definition.seed if definition.seed is not None else secrets.randbelow(2**31)
    details = JobDetails(
        **dict(definition_of(definition).model_copy(update={"seed": seed})),
        id=job_id,
        owner=owner,
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
        title=details.title,
        description=details.description,
        total_records=total_records,
        created_at=created,
        updated_at=created,
        dataset_mode=details.dataset_mode,
        schedule_id=schedule_id,
        version=version,
        job_details_cid=details_cid,
        peers=list(peers),
        peer_count=len(peers),
        price=details.inference.price,
        model=details.inference.billed_model or details.inference.model,
        max_candidates=details.max_candidates,
        max_tokens=details.max_tokens,
        max_cost_usd=details.max_cost_usd,
    )
    await write_job(store, job)
    for planned in plan_shards(total_records, peers):
        shard = Shard(
            shard_key=planned.key,
            peer_id=planned.key if on_peers else ANY_PEER,
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
