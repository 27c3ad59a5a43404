"""How a job ends once its shards have: succeeded with its N accepted records, cancelled, or failed
with the reason (its candidate budget spent, its spend budget or the owner's quota reached)."""

from __future__ import annotations

from typing import Literal

from datagems_core.billing.budgets import BUDGET_REACHED, QUOTA_REACHED, budget_reached_message
from datagems_core.jobs.candidates import budget_message
from datagems_core.jobs.models import Job, Shard, Totals

Outcome = Literal["succeeded", "failed", "cancelled"]


def job_outcome(job: Job, shards: list[Shard], totals: Totals) -> tuple[Outcome, str | None]:
    """(status, error) of a job whose shards have all finished."""
    if any(s.status == "cancelled" for s in shards):
        return "cancelled", None
    if totals.total_ok >= job.total_records:
        return "succeeded", None
    for kind in (QUOTA_REACHED, BUDGET_REACHED):
        if any((s.error or "").startswith(kind) for s in shards):
            message = budget_reached_message(job, totals.tokens, totals.total_ok)
            return "failed", message.replace(BUDGET_REACHED, kind, 1)
    return "failed", budget_message(totals.total_ok, job.total_records, totals.rejected)
