"""A FlowRunner stand-in for unit-level API tests, and a way to run a job's records right here.

The API's own behaviour (validation, ownership, states, exports) is checked without Prefect;
the real boundary (Prefect server, runner, flow runs) is crossed in tests/e2e.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from api.flow_runner import get_flow_runner
from datagems_core.config.settings import Settings
from datagems_core.errors import ServiceUnavailable
from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.outcomes import job_outcome
from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.schedules import Schedule
from datagems_core.jobs.shard_run import run_shard
from datagems_core.jobs.transitions import mark_finished, mark_running
from datagems_core.store.base import KVStore
from datagems_core.store.files.local import LocalFileStore
from flows.schedules import PrefectSchedule
from tests.support.api_fixtures import ApiHarness, start_harness


@dataclass
class FakeFlowRunner:
    started: list[Job] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    unavailable: str | None = None

    def _check(self) -> None:
        if self.unavailable:
            raise ServiceUnavailable(self.unavailable)

    async def start_job(
        self, job: Job, *, tags: tuple[str, ...] = (), as_subflow: bool = False
    ) -> str:
        del tags, as_subflow
        self._check()
        self.started.append(job)
        return f"00000000-0000-4000-8000-{len(self.started):012d}"

    async def cancel_flow_run(self, flow_run_id: str) -> None:
        self._check()
        self.cancelled.append(flow_run_id)

    async def put_schedule(self, schedule: Schedule) -> str:
        self._check()
        self.schedules[schedule.id] = schedule
        return f"prefect-{schedule.id}"

    async def remove_schedule(self, schedule_id: str) -> None:
        self._check()
        self.removed.append(schedule_id)
        self.schedules.pop(schedule_id, None)

    async def read_schedule(self, schedule_id: str) -> PrefectSchedule | None:
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            return None
        return PrefectSchedule(
            id=f"prefect-{schedule.id}",
            cron=schedule.cron,
            timezone=schedule.timezone,
            active=schedule.active,
            parameters={"schedule_id": schedule.id},
        )


def start_jobs_harness(data_dir: Path, **overrides: object) -> tuple[ApiHarness, FakeFlowRunner]:
    """The REST part's harness (admin, alice, bob signed in) with the fake runner swapped in."""
    harness = start_harness(data_dir, users=("alice", "bob"), **overrides)
    runner = FakeFlowRunner()
    harness.app.dependency_overrides[get_flow_runner] = lambda: runner
    return harness, runner


async def _run_here(store: KVStore, settings: Settings, job_id: str) -> Job:
    files = LocalFileStore(root=settings.data_dir / "files")
    job = await mark_running(store, await read_job(store, job_id), flow_run_id=None)
    for shard in await read_shards(store, job_id):
        await run_shard(
            store=store, files=files, settings=settings, job_id=job_id, shard_key=shard.shard_key
        )
    shards = await read_shards(store, job_id)
    totals = sum_shards(shards)
    status, error = job_outcome(job, shards, totals)
    return await mark_finished(store, job, status=status, error=error, totals=totals)


def run_job_here(harness: ApiHarness, job_id: str, settings: Settings | None = None) -> Job:
    """Make the job's records in this process, as its generate-dataset run would."""
    return asyncio.run(_run_here(harness.store, settings or harness.settings, job_id))
