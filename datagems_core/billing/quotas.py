"""Monthly quotas per user: tokens, cost in USD and accepted records.

    datagems:quotas   hash  user -> Quota   (admins write it)

A user without a stored quota has the defaults from the settings (`DATAGEMS_QUOTA_MONTHLY_*`);
a limit of None means no limit. Usage comes from the spending ledger of the current month, so a
quota resets on the first day of each month (UTC).
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from datagems_core.billing.budgets import SpendGuard, shard_share
from datagems_core.billing.ledger import UsageReport, month_of, read_usage
from datagems_core.billing.pricing import format_usd
from datagems_core.config.settings import Settings
from datagems_core.errors import Forbidden
from datagems_core.jobs.models import Job, Shard
from datagems_core.store.base import KVStore
from datagems_core.stored_model import StoredModel

QUOTAS_HKEY: Final = "datagems:quotas"


class Quota(StoredModel):
    tokens: int | None = Field(None, ge=0)
    cost_usd: float | None = Field(None, ge=0)
    records: int | None = Field(None, ge=0)
    is_default: bool = True


class QuotaStatus(StoredModel):
    """A user's quota next to what the month has used and what remains (None = no limit)."""

    user: str
    month: str
    quota: Quota
    used_tokens: int
    used_cost_usd: float | None
    used_records: int
    remaining_tokens: int | None
    remaining_cost_usd: float | None
    remaining_records: int | None


async def read_quota(store: KVStore, defaults: Settings, user: str) -> Quota:
    stored = await store.hget(QUOTAS_HKEY, user)
    if isinstance(stored, dict):
        return Quota.model_validate({**stored, "isDefault": False})
    return Quota(
        tokens=defaults.quota_monthly_tokens,
        cost_usd=defaults.quota_monthly_cost_usd,
        records=defaults.quota_monthly_records,
    )


async def write_quota(store: KVStore, user: str, quota: Quota | None) -> None:
    """Set `user`'s quota; None goes back to the defaults."""
    await store.hset(QUOTAS_HKEY, user, None if quota is None else quota.to_record())


async def quota_status(store: KVStore, defaults: Settings, user: str) -> QuotaStatus:
    quota = await read_quota(store, defaults, user)
    month = month_of()
    usage: UsageReport = await read_usage(store, user=user, month=month)
    used = usage.totals
    spent = used.cost_usd or 0.0
    return QuotaStatus(
        user=user,
        month=month,
        quota=quota,
        used_tokens=used.total_tokens,
        used_cost_usd=used.cost_usd,
        used_records=used.accepted_records,
        remaining_tokens=None if quota.tokens is None else max(quota.tokens - used.total_tokens, 0),
        remaining_cost_usd=None
        if quota.cost_usd is None
        else round(max(quota.cost_usd - spent, 0.0), 6),
        remaining_records=None
        if quota.records is None
        else max(quota.records - used.accepted_records, 0),
    )


async def check_job_fits(
    store: KVStore,
    defaults: Settings,
    user: str,
    *,
    total_records: int,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
) -> QuotaStatus:
    """Refuse (403, naming the quota and what remains) a job that cannot fit `user`'s month."""
    status = await quota_status(store, defaults, user)
    quota = status.quota
    if status.remaining_tokens is not None:
        if status.remaining_tokens <= 0 or (
            max_tokens is not None and max_tokens > status.remaining_tokens
        ):
            raise _refused(
                "token",
                f"{status.remaining_tokens:,} of {quota.tokens:,} tokens remain this month",
                wanted=None if max_tokens is None else f"maxTokens {max_tokens:,}",
                field="maxTokens",
            )
    if status.remaining_cost_usd is not None:
        if status.remaining_cost_usd <= 0 or (
            max_cost_usd is not None and max_cost_usd > status.remaining_cost_usd
        ):
            raise _refused(
                "cost",
                f"{format_usd(status.remaining_cost_usd)} of {format_usd(quota.cost_usd)} "
                "remain this month",
                wanted=None if max_cost_usd is None else f"maxCostUsd {format_usd(max_cost_usd)}",
                field="maxCostUsd",
            )
    if status.remaining_records is not None and total_records > status.remaining_records:
        raise _refused(
            "record",
            f"{status.remaining_records:,} of {quota.records:,} accepted records remain this month",
            wanted=f"totalRecords {total_records:,}",
            field="totalRecords",
        )
    return status


def _refused(kind: str, remains: str, *, wanted: str | None, field: str) -> Forbidden:
    asked = f"; this job asks for {wanted}" if wanted else ""
    return Forbidden(
        f"monthly {kind} quota: {remains}{asked}. Ask an admin to raise your quota, or wait for "
        "next month",
        details={"field": field, "quota": kind},
    )


async def shard_spend_guard(
    store: KVStore, settings: Settings, job: Job, shard: Shard
) -> SpendGuard | None:
    """The shard's spend limit: its share of the job's budget, tightened to its share of what
    the owner's monthly quota has left (a running job stops at the quota as at a budget)."""
    guard = SpendGuard.for_shard(job, shard)
    status = await quota_status(store, settings, job.owner)
    cost_left = status.remaining_cost_usd if job.price is not None else None
    if status.remaining_tokens is None and cost_left is None:
        return guard
    base = guard or SpendGuard.for_shard(job, shard, always=True)
    assert base is not None
    return base.capped_by_quota(
        share=shard_share(job, shard), tokens_left=status.remaining_tokens, cost_left=cost_left
    )
