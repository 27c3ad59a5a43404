"""What each user spent, per calendar month and model: tokens, cost, accepted records.

A ledger that outlives the jobs (deleting a job does not give its tokens back):

    datagems:usage:{user}:{YYYY-MM}   hash  entry -> UsageEntry   (one writer per entry)
    datagems:usage-users:{YYYY-MM}    hash  user -> true          (who has usage that month)
    datagems:usage-months             hash  YYYY-MM -> true       (months with any usage)

A job's entry (`job:{id}`) holds the job's cumulative totals, rewritten whole by the job's single
writer whenever it writes the job. Those totals are sums over the shard records, which only count
calls whose records were checkpointed, so a resume, a retry or a second worker never counts a call
twice and a call lost in a crash counts at most once. A job's usage belongs to the month the job
was created in. A schema draft's entry (`draft:{id}`) is written once by the request that made it.

Tokens a gateway did not report are counted from sizes (`inference/usage.py`) and kept in
`estimatedTokens`: they count against quotas, but their cost stays unknown.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import Field

from datagems_core.billing.pricing import Price, cost_usd
from datagems_core.clock import now_iso, parse_iso
from datagems_core.jobs.models import Job
from datagems_core.store.base import KVStore
from datagems_core.stored_model import StoredModel

MONTH_FORMAT: Final = "%Y-%m"


def usage_hkey(user: str, month: str) -> str:
    return f"datagems:usage:{user}:{month}"


def usage_users_hkey(month: str) -> str:
    return f"datagems:usage-users:{month}"


USAGE_MONTHS_HKEY: Final = "datagems:usage-months"


def month_of(moment: str | None = None) -> str:
    """`YYYY-MM` (UTC) of an ISO timestamp, or of now."""
    parsed = parse_iso(moment or "") if moment else None
    return (parsed or datetime.now(UTC)).strftime(MONTH_FORMAT)


def check_month(value: str) -> str:
    """`value` if it is a `YYYY-MM` month; ValueError otherwise."""
    datetime.strptime(value, MONTH_FORMAT)
    if len(value) != 7:
        raise ValueError(value)
    return value


class UsageEntry(StoredModel):
    """One job's or one draft's usage so far."""

    kind: Literal["job", "draft", "estimate"]
    ref: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0  # counted from sizes: the gateway reported no usage
    accepted_records: int = 0
    cost_usd: float | None = None  # None: no price known, or the tokens are estimated
    updated_at: str = Field(default_factory=now_iso)


class ModelUsage(StoredModel):
    """Sums over one model's entries; `unpricedTokens` are tokens no price covered."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated_tokens: int = 0
    accepted_records: int = 0
    cost_usd: float | None = None
    unpriced_tokens: int = 0
    jobs: int = 0
    drafts: int = 0
    estimates: int = 0

    def add(self, entry: UsageEntry) -> None:
        tokens = entry.prompt_tokens + entry.completion_tokens
        self.prompt_tokens += entry.prompt_tokens
        self.completion_tokens += entry.completion_tokens
        self.total_tokens += tokens
        self.estimated_tokens += entry.estimated_tokens
        self.accepted_records += entry.accepted_records
        if entry.cost_usd is None:
            self.unpriced_tokens += tokens
        else:
            self.cost_usd = round((self.cost_usd or 0.0) + entry.cost_usd, 6)
        if entry.kind == "job":
            self.jobs += 1
        elif entry.kind == "draft":
            self.drafts += 1
        else:
            self.estimates += 1


class UsageReport(StoredModel):
    """A user's month: one line per model and the totals over them."""

    user: str
    month: str
    models: list[ModelUsage]
    totals: ModelUsage


def job_entry(job: Job) -> UsageEntry:
    prompt, completion = job.tokens.prompt, job.tokens.completion
    return UsageEntry(
        kind="job",
        ref=job.id,
        model=job.model or "default",
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated_tokens=job.tokens.estimated,
        accepted_records=job.total_ok,
        # records made with no usage reported: the cost is unknown, not zero
        cost_usd=None
        if prompt + completion == 0 or job.tokens.estimated
        else cost_usd(prompt=prompt, completion=completion, price=job.price),
    )


async def record_job_usage(store: KVStore, job: Job) -> None:
    """Write `job`'s cumulative usage under its creation month (its writer calls this)."""
    if job.tokens.total <= 0 and job.total_ok <= 0 and job.total_failed <= 0:
        return
    month = month_of(job.created_at)
    await store.hset(usage_hkey(job.owner, month), f"job:{job.id}", job_entry(job).to_record())
    await _index(store, job.owner, month)


async def record_draft_usage(
    store: KVStore,
    *,
    owner: str,
    model: str,
    prompt: int,
    completion: int,
    price: Price | None,
    estimated: int = 0,
    kind: Literal["draft", "estimate"] = "draft",
) -> str | None:
    """Count a schema draft's (or an estimate's) model calls to the user who asked for it; the
    ledger field it wrote (None: nothing to count)."""
    if prompt + completion <= 0:
        return None
    entry = UsageEntry(
        kind=kind,
        ref=secrets.token_hex(8),
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated_tokens=estimated,
        cost_usd=None if estimated else cost_usd(prompt=prompt, completion=completion, price=price),
    )
    month = month_of()
    field = f"{kind}:{entry.ref}"
    await store.hset(usage_hkey(owner, month), field, entry.to_record())
    await _index(store, owner, month)
    return field


async def drop_usage_entry(store: KVStore, *, owner: str, month: str, field: str) -> None:
    """Remove one ledger line (an estimate whose calls a job now counts as its own)."""
    await store.hset(usage_hkey(owner, month), field, None)


async def read_usage(store: KVStore, *, user: str, month: str) -> UsageReport:
    by_model: dict[str, ModelUsage] = {}
    totals = ModelUsage(model="*")
    for value in (await store.hgetall(usage_hkey(user, month))).values():
        if not isinstance(value, dict):
            continue
        entry = UsageEntry.model_validate(value)
        by_model.setdefault(entry.model, ModelUsage(model=entry.model)).add(entry)
        totals.add(entry)
    models = sorted(by_model.values(), key=lambda m: m.model)
    return UsageReport(user=user, month=month, models=models, totals=totals)


async def users_with_usage(store: KVStore, month: str) -> list[str]:
    return sorted((await store.hgetall(usage_users_hkey(month))).keys())


async def usage_by_user_and_model(store: KVStore) -> list[tuple[str, ModelUsage]]:
    """Every user's usage per model over all months (for Prometheus counters)."""
    sums: dict[tuple[str, str], ModelUsage] = {}
    for month in sorted((await store.hgetall(USAGE_MONTHS_HKEY)).keys()):
        for user in await users_with_usage(store, month):
            report = await read_usage(store, user=user, month=month)
            for line in report.models:
                total = sums.setdefault((user, line.model), ModelUsage(model=line.model))
                total.prompt_tokens += line.prompt_tokens
                total.completion_tokens += line.completion_tokens
                total.total_tokens += line.total_tokens
                total.estimated_tokens += line.estimated_tokens
                total.accepted_records += line.accepted_records
                total.unpriced_tokens += line.unpriced_tokens
                if line.cost_usd is not None:
                    total.cost_usd = round((total.cost_usd or 0.0) + line.cost_usd, 6)
    return [(user, usage) for (user, _), usage in sorted(sums.items())]


async def _index(store: KVStore, user: str, month: str) -> None:
    if await store.hget(usage_users_hkey(month), user) is None:
        await store.hset(usage_users_hkey(month), user, True)
        await store.hset(USAGE_MONTHS_HKEY, month, True)
