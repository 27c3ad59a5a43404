"""What the REST API shows of jobs: pages of jobs, one job in full, pages of its records.

Progress and totals are summed from the shard records (each written by its shard as it
checkpoints), so they are live while the job record itself is written only now and then.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from datagems_core.billing.pricing import cost_usd, format_usd
from datagems_core.clock import parse_iso
from datagems_core.errors import FileStoreError, NotFound
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import JOBS_HKEY, read_details, read_shards
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore


async def list_all_jobs(
    store: KVStore, *, offset: int = 0, limit: int = 50
) -> tuple[list[Job], int]:
    """Every user's jobs, newest first; returns (page, total)."""
    values = await store.hgetall(JOBS_HKEY)
    jobs = [Job.model_validate(v) for v in values.values() if isinstance(v, dict)]
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return jobs[offset : offset + limit], len(jobs)


def _elapsed_ms(start: str | None, end: str | None) -> float | None:
    begin, finish = parse_iso(start or ""), parse_iso(end or "")
    if begin is None or finish is None:
        return None
    return round((finish - begin).total_seconds() * 1000, 3)


async def describe_job(store: KVStore, files: FileStore, job: Job) -> dict[str, Any]:
    """The job with its shards, progress, timings, failure reasons, tokens and details."""
    shards = await read_shards(store, job.id)
    totals = sum_shards(shards) if shards else None
    ok = totals.total_ok if totals else job.total_ok
    failed = totals.total_failed if totals else job.total_failed
    done = ok  # N counts accepted records; rejected candidates were replaced
    total = job.total_records
    try:
        details: dict[str, Any] = (await read_details(files, job)).to_record()
    except (FileStoreError, NotFound):
        details = {"error": "Unable to load job details"}
    return {
        "job": {
            **job.to_record(),
            "structuredOutput": (totals.structured_output if totals else None)
            or job.structured_output,
        },
        "shards": [shard.to_record() for shard in shards],
        "progress": {
            "done": done,
            "ok": ok,
            "failed": failed,
            "candidates": ok + failed,
            "total": total,
            "percent": 100.0 if total == 0 else round(min(done, total) * 100 / total, 2),
            "retryPass": job.retry_pass,
        },
        "timings": {
            "createdAt": job.created_at,
            "startedAt": job.started_at,
            "finishedAt": job.finished_at,
            "updatedAt": job.updated_at,
            "queuedMs": _elapsed_ms(job.created_at, job.started_at),
            "recordsDurationMs": job.records_duration_ms,
        },
        "failureReasons": totals.failure_reasons if totals else job.failure_reasons,
        "rejected": totals.rejected if totals else job.rejected,
        "tokens": (totals.tokens if totals else job.tokens).to_record(),
        "cost": describe_cost(job, totals.tokens if totals else job.tokens, ok=ok),
        "details": details,
    }


def describe_cost(job: Job, tokens: TokenUsage, *, ok: int) -> dict[str, Any]:
    """What the job cost so far at the price it was created with; None values = unknown."""
    spent = cost_usd(prompt=tokens.prompt, completion=tokens.completion, price=job.price)
    if (tokens.total == 0 and ok) or tokens.estimated:  # no usage reported: unknown, not free
        spent = None
    per_record = round(spent / ok, 8) if spent is not None and ok else None
    projected = None
    if per_record is not None and not job.is_finished:
        projected = round(per_record * job.total_records, 6)
    return {
        "usd": spent,
        "known": spent is not None,
        "usageReported": (tokens.total > 0 or ok == 0) and not tokens.estimated,
        "tokensEstimated": tokens.estimated,
        "perAcceptedRecordUsd": per_record,
        "projectedUsd": projected,
        "price": job.price.to_record() if job.price else None,
        "model": job.model,
    }


def cost_line(job: Job, tokens: TokenUsage, *, accepted: int) -> str:
    """`cost $0.0123 ($0.00062 per accepted record)`, or why it is unknown, for people to read."""
    cost = describe_cost(job, tokens, ok=accepted)
    if cost["usd"] is None:
        why = "no price for its gateway" if job.price is None else "the gateway reported no usage"
        if job.price is not None and tokens.estimated:
            why += f"; {tokens.estimated:,} tokens estimated from sizes"
        return f"cost unknown ({why})"
    per = cost["perAcceptedRecordUsd"]
    each = f" ({format_usd(per)} per accepted record)" if per is not None else ""
    return f"cost {format_usd(cost['usd'])}{each}"


def _public_record(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored RecordResult with its provenance: attempts, error, variation, tokens."""
    return {
        "index": stored.get("index"),
        "ok": bool(stored.get("ok")),
        "data": stored.get("data"),
        "error": stored.get("error"),
        "attempts": stored.get("attempts", 0),
        "variation": stored.get("variation") or {},
        "tokens": stored.get("usage") or {"prompt": 0, "completion": 0, "total": 0},
        "durationMs": stored.get("durationMs"),
        "gate": stored.get("gate"),
        "verdict": stored.get("verdict"),
    }


async def read_record_page(
    store: KVStore,
    files: FileStore,
    job: Job,
    *,
    offset: int,
    limit: int,
    status: Literal["accepted", "rejected"] | None = None,
    max_bytes: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Stored candidates in index order from `offset` (rejected ones too, or only those of
    `status`); returns (page, how many there are so far).

    With `max_bytes` the page also stops before its JSON passes that size (it always holds at
    least one record), so a page of large records stays bounded.
    """
    shards = await read_shards(store, job.id)
    ok = sum(s.generated_ok for s in shards)
    failed = sum(s.generated_failed for s in shards)
    made = ok if status == "accepted" else failed if status == "rejected" else ok + failed
    page: list[dict[str, Any]] = []
    size = 0
    seen = 0
    full = False
    async for chunk in iter_result_chunks(store, files, job.id, shards=shards):
        if status is not None:
            wanted = status == "accepted"
            chunk = [r for r in chunk if bool(r.get("ok")) == wanted]
        if seen + len(chunk) <= offset:
            seen += len(chunk)
            continue
        start = max(offset - seen, 0)
        for stored in chunk[start : start + limit - len(page)]:
            record = _public_record(stored)
            if max_bytes is not None:
                size += len(json.dumps(record, ensure_ascii=False, default=str)) + 1
                if page and size > max_bytes:
                    full = True
                    break
            page.append(record)
        seen += len(chunk)
        if full or len(page) >= limit:
            break
    return page, max(made, seen)
