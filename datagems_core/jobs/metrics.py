"""Dashboard and Prometheus metrics, summed from the job records (no shared counter document).

The TS seed kept one `datagen:metrics` document that every peer read, changed and wrote back, so
counts drifted. Here every number is derived from `datagen:jobs`, whose records each have one
writer, so the metrics are always consistent with the jobs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from datagems_core.billing.ledger import ModelUsage
from datagems_core.clock import parse_iso, to_iso
from datagems_core.store.base import JSONValue, KVStore

JOBS_KEY: Final = "datagen:jobs"
STATUSES: Final = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass
class JobMetrics:
    total_jobs: int = 0
    total_records_requested: int = 0
    total_records_generated: int = 0
    active_jobs: int = 0
    failed_jobs: int = 0
    last_job_at: datetime | None = None
    records_failed: int = 0
    tokens_used: int = 0
    shard_takeovers: int = 0
    jobs_by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    def to_json(self) -> dict[str, JSONValue]:
        """The seed's `metrics` object plus recordsFailed and tokensUsed."""
        return {
            "totalJobs": self.total_jobs,
            "totalRecordsRequested": self.total_records_requested,
            "totalRecordsGenerated": self.total_records_generated,
            "activeJobs": self.active_jobs,
            "failedJobs": self.failed_jobs,
            "lastJobAt": to_iso(self.last_job_at) if self.last_job_at else None,
            "recordsFailed": self.records_failed,
            "tokensUsed": self.tokens_used,
            "shardTakeovers": self.shard_takeovers,
        }


def _count(value: JSONValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def add_job(metrics: JobMetrics, job: dict[str, JSONValue]) -> None:
    status = str(job.get("status"))
    metrics.total_jobs += 1
    metrics.jobs_by_status[status] = metrics.jobs_by_status.get(status, 0) + 1
    metrics.total_records_requested += _count(job.get("totalRecords"))
    metrics.total_records_generated += _count(job.get("totalOk"))
    metrics.records_failed += _count(job.get("totalFailed"))
    metrics.shard_takeovers += _count(job.get("takeovers"))
    tokens = job.get("tokens")
    if isinstance(tokens, dict):
        metrics.tokens_used += _count(tokens.get("total"))
    if status == "running":  # the seed's activeJobs: jobs being generated now
        metrics.active_jobs += 1
    elif status == "failed":
        metrics.failed_jobs += 1
    for name in ("createdAt", "startedAt"):  # the seed stamps lastJobAt at both
        moment = parse_iso(str(job.get(name) or ""))
        if moment and (metrics.last_job_at is None or moment > metrics.last_job_at):
            metrics.last_job_at = moment


async def compute_metrics(store: KVStore, *, owner: str | None) -> JobMetrics:
    """Metrics over `owner`'s jobs, or over everyone's for None (admins)."""
    metrics = JobMetrics()
    for job in (await store.hgetall(JOBS_KEY)).values():
        if isinstance(job, dict) and (owner is None or job.get("owner") == owner):
            add_job(metrics, job)
    return metrics


def render_prometheus(
    metrics: JobMetrics,
    *,
    users: int,
    version: str,
    usage: list[tuple[str, ModelUsage]] | None = None,
) -> str:
    """Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    gauge("datagems_info", "DataGems build information.", [(f'{{version="{_label(version)}"}}', 1)])
    gauge(
        "datagems_jobs",
        "Jobs by status.",
        [(f'{{status="{_label(s)}"}}', n) for s, n in sorted(metrics.jobs_by_status.items())],
    )
    gauge("datagems_active_jobs", "Jobs running now.", [("", metrics.active_jobs)])
    gauge(
        "datagems_records_requested", "Records asked for.", [("", metrics.total_records_requested)]
    )
    gauge(
        "datagems_records_generated",
        "Records made and valid.",
        [("", metrics.total_records_generated)],
    )
    gauge("datagems_records_failed", "Records that failed.", [("", metrics.records_failed)])
    gauge("datagems_tokens_used", "Model tokens used.", [("", metrics.tokens_used)])
    gauge(
        "datagems_shard_takeovers",
        "Shard runs taken over from a worker that stopped renewing its lease (died or paused).",
        [("", metrics.shard_takeovers)],
    )
    last = metrics.last_job_at.timestamp() if metrics.last_job_at else 0
    gauge("datagems_last_job_timestamp_seconds", "Latest job start or creation.", [("", last)])
    gauge("datagems_users", "Accounts that can sign in.", [("", users)])
    _render_usage(lines, usage or [])
    return "\n".join(lines) + "\n"


def _render_usage(lines: list[str], usage: list[tuple[str, ModelUsage]]) -> None:
    """Counters per user and model, from the spending ledger (never decreasing)."""

    def counter(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} counter")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    def labels(user: str, model: str, **extra: str) -> str:
        pairs = {"user": user, "model": model, **extra}
        return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"

    counter(
        "datagems_usage_tokens_total",
        "Model tokens used, by user, model and kind (prompt or completion).",
        [
            sample
            for user, line in usage
            for sample in (
                (labels(user, line.model, kind="prompt"), line.prompt_tokens),
                (labels(user, line.model, kind="completion"), line.completion_tokens),
            )
        ],
    )
    counter(
        "datagems_usage_estimated_tokens_total",
        "Of those tokens, the ones counted from sizes (the gateway reported no usage).",
        [(labels(u, line.model), line.estimated_tokens) for u, line in usage],
    )
    counter(
        "datagems_usage_cost_usd_total",
        "Cost in USD of the priced tokens, by user and model.",
        [(labels(u, line.model), line.cost_usd or 0.0) for u, line in usage],
    )
    counter(
        "datagems_usage_accepted_records_total",
        "Accepted records, by user and model.",
        [(labels(u, line.model), line.accepted_records) for u, line in usage],
    )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
