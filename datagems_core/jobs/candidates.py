"""Candidates: the records a shard tries until it has accepted its share of N, within a budget.

A job asks for N accepted records. Each shard accepts exactly its share (`Shard.assigned`) and
may try at most its share of the job's candidate budget. Candidate positions 0, 1, 2, ... of a
shard map to record indices that no other shard uses: the first `assigned` are the shard's own
range (as before exact N), the rest `N + slot + j * S` for the shard's slot among S shards. The
mapping is ascending, so index order is position order, and a candidate's variation (drawn from
its index) is new for every replacement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from datagems_core.config.settings import Settings
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.shards import plan_shards


def default_max_candidates(settings: Settings, total_records: int) -> int:
    """The budget a job gets when its definition names none: `factor * N`, at least N."""
    return max(total_records, int(settings.max_candidates_factor * total_records))


def job_budget(settings: Settings, job: Job) -> int:
    if job.max_candidates is not None:
        return job.max_candidates
    return default_max_candidates(settings, job.total_records)


def shard_budget(settings: Settings, job: Job, shard: Shard) -> int:
    """The shard's share of the job's budget, split over the peers as the records are."""
    total = job_budget(settings, job)
    for planned in plan_shards(total, job.peers or [shard.shard_key]):
        if planned.key == shard.shard_key:
            return max(planned.size, shard.assigned)
    return max(total, shard.assigned)


class CandidatePlan(Sequence[int]):
    """The record index of each candidate position of one shard, up to its budget."""

    def __init__(self, *, shard: Shard, job: Job, budget: int) -> None:
        self.start, self.end = shard.range.start, shard.range.end
        self.total = job.total_records
        peers = job.peers or [shard.shard_key]
        self.slot = peers.index(shard.shard_key) if shard.shard_key in peers else 0
        self.stride = max(len(peers), 1)
        self.budget = budget

    def index_at(self, position: int) -> int:
        """The index of `position`, also past the budget (where a larger budget goes on)."""
        own = self.end - self.start
        if position < own:
            return self.start + position
        return self.total + self.slot + (position - own) * self.stride

    def position_of(self, index: int) -> int:
        if self.start <= index < self.end:
            return index - self.start
        extra, rest = divmod(index - self.total - self.slot, self.stride)
        if index < self.total or rest != 0 or extra < 0:
            raise ValueError(f"index {index} is not a candidate of this shard")
        return self.end - self.start + extra

    def __len__(self) -> int:
        return self.budget

    @overload
    def __getitem__(self, position: int) -> int: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[int]: ...

    def __getitem__(self, position: int | slice) -> int | Sequence[int]:
        if isinstance(position, slice):
            return [self.index_at(p) for p in range(*position.indices(self.budget))]
        if not 0 <= position < self.budget:
            raise IndexError(position)
        return self.index_at(position)


def budget_message(accepted: int, total: int, rejected: dict[str, int]) -> str:
    """`candidate budget spent: 940 of 1000 accepted; rejected: 31 invalid, 22 duplicate`."""
    parts = [f"{count} {gate}" for gate, count in sorted(rejected.items(), key=lambda kv: -kv[1])]
    tail = f"; rejected: {', '.join(parts)}" if parts else ""
    return f"candidate budget spent: {accepted} of {total} accepted{tail}"
