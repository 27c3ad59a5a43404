"""An estimate's sample, kept for the job its user then creates from it.

    estimate_id = await keep_sample(store, owner=..., definition=..., run=run, ledger_field=f)
    sample = await take_sample(store, estimate_id=..., owner=..., definition=...)   # 400s
    job = await create_job(..., seed=sample.seed)
    await seed_job(store, files, settings, job, sample)   # the job's first candidates

The sample's candidates were made through the job's real path (gateway, re-ask, gates, judge)
and counted to the user as usage. A job created with `estimateId` starts with them as its first
candidates, at indices 0..k-1 and with the estimate's variation seed, so it does not pay for
them twice: their tokens move from the estimate's ledger line to the job's. An estimate is kept
`SAMPLE_TTL_SECONDS`, for its owner only, for the same definition only, and is used once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from datagems_core.billing.estimates import SampleRun, count_sample_usage
from datagems_core.billing.ledger import (
    drop_usage_entry,
    month_of,
    record_job_usage,
)
from datagems_core.clock import now_ms
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.datasets.record_maker import RecordResult
from datagems_core.errors import BadRequest
from datagems_core.jobs.candidates import CandidatePlan, shard_budget
from datagems_core.jobs.checkpoints import ShardProgress, commit_block
from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import read_shards
from datagems_core.jobs.transitions import mark_progress
from datagems_core.store.base import JSONValue, KVStore
from datagems_core.store.files.base import FileStore

SAMPLE_TTL_SECONDS = 3600
_ID_PREFIX = "est_"


def sample_key(estimate_id: str) -> str:
    return f"datagen:estimate:{estimate_id}"


def definition_fingerprint(definition: DatasetDefinition) -> str:
    """What the sample's candidates depend on: not the title or description."""
    value = {
        "instructions": definition.instructions,
        "schema": definition.json_schema,
        "datasetMode": definition.dataset_mode,
        "inference": definition.inference.model_dump(mode="json"),
        "gates": definition.gates.model_dump(mode="json"),
    }
    canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


@dataclass(frozen=True)
class KeptSample:
    seed: int
    results: list[RecordResult]
    ledger_month: str | None
    ledger_field: str | None


async def keep_sample(
    store: KVStore,
    *,
    owner: str,
    definition: DatasetDefinition,
    run: SampleRun,
    ledger_field: str | None,
) -> str:
    """Store the sample for `SAMPLE_TTL_SECONDS`; its estimate id."""
    estimate_id = _ID_PREFIX + secrets.token_hex(10)
    record: dict[str, JSONValue] = {
        "owner": owner,
        "fingerprint": definition_fingerprint(definition),
        "seed": run.seed,
        "expiresMs": now_ms() + SAMPLE_TTL_SECONDS * 1000,
        "ledgerMonth": month_of() if ledger_field else None,
        "ledgerField": ledger_field,
        "results": [r.to_json() for r in run.results],
    }
    await store.set(sample_key(estimate_id), record)
    return estimate_id


async def take_sample(
    store: KVStore, *, estimate_id: str, owner: str, definition: DatasetDefinition
) -> KeptSample:
    """The kept sample (used up: a second job cannot take it); a 400 naming `estimateId` when
    it is unknown, expired, another user's or made for another definition."""
    if not estimate_id.startswith(_ID_PREFIX) or not estimate_id[len(_ID_PREFIX) :].isalnum():
        raise BadRequest("estimateId: not an estimate id; use the one POST /api/jobs/estimate gave")
    key = sample_key(estimate_id)
    record = await store.get(key)
    if not isinstance(record, dict) or record.get("owner") != owner:
        raise BadRequest(
            f"estimateId: no estimate {estimate_id} of yours is kept (estimates are kept "
            f"{SAMPLE_TTL_SECONDS // 60} minutes and used once); estimate again or leave it out"
        )
    await store.set(key, None)
    if _int(record.get("expiresMs")) < now_ms():
        raise BadRequest(
            f"estimateId: estimate {estimate_id} expired (they are kept "
            f"{SAMPLE_TTL_SECONDS // 60} minutes); estimate again or leave it out"
        )
    if record.get("fingerprint") != definition_fingerprint(definition):
        raise BadRequest(
            "estimateId: the estimate was made for another definition (instructions, schema, "
            "dataset mode, inference or gates differ); estimate this one or leave estimateId out"
        )
    results = record.get("results")
    return KeptSample(
        seed=_int(record.get("seed")),
        results=[RecordResult.from_json(r) for r in results if isinstance(r, dict)]
        if isinstance(results, list)
        else [],
        ledger_month=_str(record.get("ledgerMonth")),
        ledger_field=_str(record.get("ledgerField")),
    )


async def seed_job(
    store: KVStore, files: FileStore, settings: Settings, job: Job, sample: KeptSample
) -> Job:
    """Commit the sample as the first candidates of the shard that starts at index 0 (as many
    as it plans, and no more accepted ones than it is assigned), move their tokens from the
    estimate's ledger line to the job's, and return the job with its totals."""
    shards = await read_shards(store, job.id)
    first = next((s for s in shards if s.range.start == 0 and s.assigned > 0), None)
    if first is None or not sample.results:
        return job
    plan = CandidatePlan(shard=first, job=job, budget=shard_budget(settings, job, first))
    planned = set(plan[: len(sample.results)])
    kept: list[RecordResult] = []
    accepted = 0
    for result in sorted(sample.results, key=lambda r: r.index):
        if result.index not in planned or (result.ok and accepted >= first.assigned):
            continue
        kept.append(result)
        accepted += result.ok
    if kept:
        progress = ShardProgress(shard=first, plan=plan)
        await commit_block(store, files, job_id=job.id, progress=progress, results=kept)
    if sample.ledger_field and sample.ledger_month:  # the job counts the kept ones now
        await drop_usage_entry(
            store, owner=job.owner, month=sample.ledger_month, field=sample.ledger_field
        )
        left = [r for r in sample.results if r not in kept]
        await count_sample_usage(
            store, owner=job.owner, model=job.model, price=job.price, results=left
        )
    job = await mark_progress(store, job, sum_shards(await read_shards(store, job.id)))
    await record_job_usage(store, job)
    return job


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
