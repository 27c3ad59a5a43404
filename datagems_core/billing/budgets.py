"""Spend budgets: a job's `maxTokens` / `maxCostUsd`, and the owner's monthly quota while it runs.

Each shard enforces its share of the job's budget (split as the records are), counting every
candidate's tokens as it is reported, starting from what its checkpoints already hold. When the
share is reached the shard sends no new candidate; those already in flight finish and are kept,
so a job never goes past its budget by more than the calls in flight when it was reached. The
shard then ends failed and the job says "budget reached: $4.12 of $4.00, 812 of 1000 accepted".
"""

from __future__ import annotations

from dataclasses import dataclass

from datagems_core.billing.pricing import Price, cost_usd, format_usd
from datagems_core.errors import BadRequest
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.models import Job, Shard

BUDGET_REACHED = "budget reached"
MAX_COST_USD = 1_000_000.0
MAX_TOKENS = 10**15


def check_budget(
    *, max_tokens: int | None, max_cost_usd: float | None, price: Price | None
) -> None:
    """A budget must be positive, and one in USD needs a price to count against (400)."""
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not 1 <= max_tokens <= MAX_TOKENS
    ):
        raise BadRequest(
            f"maxTokens must be a number of tokens from 1 to {MAX_TOKENS}, got {max_tokens!r}",
            details={"field": "maxTokens"},
        )
    if max_cost_usd is not None:
        if not 0 < max_cost_usd <= MAX_COST_USD:
            raise BadRequest(
                f"maxCostUsd must be more than 0 and at most {MAX_COST_USD:g} USD, "
                f"got {max_cost_usd!r}",
                details={"field": "maxCostUsd"},
            )
        if price is None:
            raise BadRequest(
                "maxCostUsd needs a price to count against: give the inference profile "
                "inputPricePerMTok and outputPricePerMTok (or set DATAGEMS_INFERENCE_*_PRICE_"
                "PER_MTOK), or budget in tokens with maxTokens",
                details={"field": "maxCostUsd"},
            )


@dataclass
class SpendGuard:
    """One shard's running spend against its share of the budget."""

    max_tokens: int | None
    max_cost_usd: float | None
    price: Price | None
    prompt: int = 0
    completion: int = 0
    by_quota: bool = False  # the owner's monthly quota is the tighter limit

    @classmethod
    def for_shard(cls, job: Job, shard: Shard, *, always: bool = False) -> SpendGuard | None:
        """The shard's share of the job's budget; None without one (unless `always`)."""
        if job.max_tokens is None and job.max_cost_usd is None and not always:
            return None
        share = shard_share(job, shard)
        return cls(
            max_tokens=None if job.max_tokens is None else max(1, int(job.max_tokens * share)),
            max_cost_usd=None if job.max_cost_usd is None else job.max_cost_usd * share,
            price=job.price,
            prompt=shard.tokens.prompt,
            completion=shard.tokens.completion,
        )

    def capped_by_quota(
        self, *, share: float, tokens_left: int | None, cost_left: float | None
    ) -> SpendGuard:
        """This guard, tightened to the shard's share of what the owner's month has left."""
        spent_tokens = self.prompt + self.completion
        spent_cost = cost_usd(prompt=self.prompt, completion=self.completion, price=self.price)
        max_tokens, max_cost, by_quota = self.max_tokens, self.max_cost_usd, False
        if tokens_left is not None:
            cap = spent_tokens + int(tokens_left * share)
            if max_tokens is None or cap < max_tokens:
                max_tokens, by_quota = cap, True
        if cost_left is not None and self.price is not None:
            cap_usd = (spent_cost or 0.0) + cost_left * share
            if max_cost is None or cap_usd < max_cost:
                max_cost, by_quota = cap_usd, True
        return SpendGuard(
            max_tokens=max_tokens,
            max_cost_usd=max_cost,
            price=self.price,
            prompt=self.prompt,
            completion=self.completion,
            by_quota=by_quota or self.by_quota,
        )

    def add(self, usage: TokenUsage) -> None:
        self.prompt += usage.prompt
        self.completion += usage.completion

    @property
    def is_reached(self) -> bool:
        if self.max_tokens is not None and self.prompt + self.completion >= self.max_tokens:
            return True
        if self.max_cost_usd is not None:
            spent = cost_usd(prompt=self.prompt, completion=self.completion, price=self.price)
            return spent is not None and spent >= self.max_cost_usd
        return False


def shard_share(job: Job, shard: Shard) -> float:
    return shard.assigned / job.total_records if job.total_records else 1.0


QUOTA_REACHED = "monthly quota reached"


def budget_reached_message(job: Job, tokens: TokenUsage, accepted: int) -> str:
    """`budget reached: $4.12 of $4.00, 812 of 1000 accepted` (or in tokens)."""
    parts = []
    if job.max_cost_usd is not None:
        spent = cost_usd(prompt=tokens.prompt, completion=tokens.completion, price=job.price)
        parts.append(f"{format_usd(spent)} of {format_usd(job.max_cost_usd)}")
    if job.max_tokens is not None:
        parts.append(f"{tokens.prompt + tokens.completion:,} of {job.max_tokens:,} tokens")
    return f"{BUDGET_REACHED}: {', '.join(parts)}, {accepted} of {job.total_records} accepted"
