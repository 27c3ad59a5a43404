"""The CLI's live progress bar: accepted of N, rejected, records/s, ETA and the running cost,
from the shard records."""

from __future__ import annotations

import asyncio
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from datagems_core.billing.pricing import Price, cost_usd, format_usd
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import read_shards
from datagems_core.store.base import KVStore

POLL_SECONDS = 0.5


def spend_text(tokens: TokenUsage, price: Price | None) -> str:
    """`12,345 tokens $0.0031`, or `cost unknown` without a price; `~12,345 tokens` when some
    were counted from sizes because the gateway reported no usage (their cost is unknown)."""
    cost = cost_usd(prompt=tokens.prompt, completion=tokens.completion, price=price)
    shown = format_usd(cost) if cost is not None and not tokens.estimated else "cost unknown"
    about = "~" if tokens.estimated else ""
    return f"{about}{tokens.prompt + tokens.completion:,} tokens {shown}"


class ProgressBar:
    """Follows a job while its flow runs (in this process or elsewhere)."""

    def __init__(self, job: Job, *, console: Console) -> None:
        self.job_id = job.id
        self.price = job.price
        self.total = job.total_records
        self.start_done: int | None = None
        self.started = time.monotonic()
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:>.0f}/{task.total:.0f}"),
            TextColumn("accepted {task.fields[ok]}  rejected {task.fields[failed]}"),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[spend]}"),
            console=console,
            transient=False,
        )
        self.task: TaskID = self.bar.add_task(
            job.title,
            total=self.total,
            ok=0,
            failed=0,
            rate="-",
            spend=spend_text(job.tokens, job.price),
        )
        self.bar.start()

    async def follow(self, store: KVStore) -> None:
        while True:
            await self.refresh(store)
            await asyncio.sleep(POLL_SECONDS)

    async def refresh(self, store: KVStore) -> None:
        totals = sum_shards(await read_shards(store, self.job_id))
        done = totals.total_ok  # N counts accepted records; rejected ones were replaced
        if self.start_done is None:
            self.start_done = done
        elapsed = time.monotonic() - self.started
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        self.bar.update(
            self.task,
            completed=done,
            ok=totals.total_ok,
            failed=totals.total_failed,
            rate=f"{rate:.1f}" if rate else "-",
            spend=spend_text(totals.tokens, self.price),
        )

    def stop(self) -> None:
        self.bar.stop()
