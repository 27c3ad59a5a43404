"""The job and shard records as stored (camelCase JSON), their states, and totals over shards.

Where they are stored is `datagems_core.jobs.repository`' business; this module knows only their shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from datagems_core.billing.pricing import Price
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.inference.usage import TokenUsage
from datagems_core.stored_model import StoredModel

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
UNFINISHED: frozenset[str] = frozenset({"queued", "running"})


class IndexRange(StoredModel):
    start: int
    end: int


class JobDetails(DatasetDefinition):
    """The definition a job was created from, immutable, in the file store (`jobDetailsCid`)."""

    id: str
    owner: str
    seed: int = 0  # resolved when the job is created
    created_at: str
    meta: dict[str, Any] = Field(default_factory=dict)


class Job(StoredModel):
    id: str
    owner: str
    title: str
    description: str = ""
    status: JobStatus = "queued"
    total_records: int
    total_ok: int = 0
    total_failed: int = 0
    total_generated: int = 0
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    rejected: dict[str, int] = Field(default_factory=dict)  # candidates rejected, by gate
    max_tokens: int | None = None  # spend budget in tokens (maxTokens)
    max_cost_usd: float | None = None  # spend budget in USD at the job's price (maxCostUsd)
    max_candidates: int | None = None  # None: DATAGEMS_MAX_CANDIDATES_FACTOR * total_records
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str
    records_duration_ms: float | None = None
    flow_run_id: str | None = None
    error: str | None = None
    dataset_mode: bool = False
    schedule_id: str | None = None
    version: int | None = None
    job_details_cid: str
    peers: list[str] = Field(default_factory=list)
    peer_count: int = 0
    retry_pass: int = 0
    resumes: int = 0  # automatic resumes after a crashed run, in the current pass
    takeovers: int = 0  # shard runs taken over from a worker that stopped renewing its lease
    dataset_cid: str | None = None
    dataset_format: str | None = None
    # The structured-output form the gateway answered in (negotiation), from the shards.
    structured_output: str | None = None
    price: Price | None = None
    model: str | None = None  # the model usage is counted under (GET /api/usage)

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL

    def run_name(self, suffix: str = "") -> str:
        """The name of this job's Prefect flow runs, so the UI lists them by title and id."""
        return f"{self.title} ({self.id}){suffix}"

    def run_tags(self, *extra: str) -> list[str]:
        """The tags of this job's flow runs: who owns it and which job it is."""
        return [f"owner:{self.owner}", f"job:{self.id}", *extra]


class Shard(StoredModel):
    """One shard's progress record. After creation only that shard writes it."""

    shard_key: str
    peer_id: str
    assigned: int
    range: IndexRange
    status: JobStatus = "queued"
    generated_ok: int = 0
    generated_failed: int = 0  # candidates rejected
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    rejected: dict[str, int] = Field(default_factory=dict)  # candidates rejected, by gate
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    attempts: int = 0
    retry_pass: int = 0
    next_index: int = 0  # every plan position below it is committed
    done_above: list[int] = Field(default_factory=list)  # committed positions above next_index
    block_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    last_update_at: str | None = None
    error: str | None = None
    flow_run_id: str | None = None
    structured_output: str | None = None
    # Who holds the shard's lease ("host:pid:run"), and how often a new run took the shard
    # over from a writer that stopped renewing it (a dead or paused worker), from whom last.
    lease_owner: str | None = None
    takeovers: int = 0
    taken_over_from: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


class Totals(StoredModel):
    total_ok: int = 0
    total_failed: int = 0
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    rejected: dict[str, int] = Field(default_factory=dict)
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    attempts: int = 0
    structured_output: str | None = None
    takeovers: int = 0

    @property
    def done(self) -> int:
        return self.total_ok + self.total_failed


def sum_shards(shards: list[Shard]) -> Totals:
    """Job totals as sums over the single-writer shard records."""
    reasons: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for shard in shards:
        for reason, count in shard.failure_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        for gate, count in shard.rejected.items():
            rejected[gate] = rejected.get(gate, 0) + count
    return Totals(
        rejected=dict(sorted(rejected.items(), key=lambda kv: -kv[1])),
        total_ok=sum(s.generated_ok for s in shards),
        total_failed=sum(s.generated_failed for s in shards),
        failure_reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        tokens=sum((s.tokens for s in shards), TokenUsage()),
        attempts=sum(s.attempts for s in shards),
        takeovers=sum(s.takeovers for s in shards),
        structured_output=next((s.structured_output for s in shards if s.structured_output), None),
    )
