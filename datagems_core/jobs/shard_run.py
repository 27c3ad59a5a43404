"""A shard's run: candidates until its share of N is accepted, within its budget; resume, cancel.

    shard = await run_shard(store=store, files=files, settings=settings, job_id=job_id,
                            shard_key="local")

The job, shard and details are read once into a `ShardPlan` that the rest of the run is given.
Candidates run through a `UnitRunner` (the flows wrap units in Prefect tasks: one candidate per
task, or one checkpoint batch per task) and pass the job's gates (`candidate_gates`) before they
count. A shard whose budget is spent before its share is accepted ends `failed` with the budget
message and keeps what it accepted; an unreachable or rejecting gateway, a judge that stays
down, a systemic failure or a store that stays down fails the shard by raising, after committing
what was made.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from datagems_core.billing.budgets import (
    BUDGET_REACHED,
    QUOTA_REACHED,
    SpendGuard,
    budget_reached_message,
)
from datagems_core.billing.quotas import shard_spend_guard
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.datasets.record_maker import (
    RecordMaker,
    RecordResult,
    RecordSpec,
)
from datagems_core.errors import DatagemsError
from datagems_core.inference.choice import resolve_gateway
from datagems_core.jobs.candidates import CandidatePlan, budget_message, shard_budget
from datagems_core.jobs.checkpoints import ShardProgress, save_shard
from datagems_core.jobs.models import Job, JobDetails, Shard
from datagems_core.jobs.repository import read_details, read_job, read_shard
from datagems_core.jobs.shard_loop import (
    CheckpointHook,
    RecordFn,
    ResultSink,
    ShardLoop,
    SystemicFailure,
    UnitRunner,
)
from datagems_core.quality.screen import open_screened_maker
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

__all__ = [
    "CheckpointHook",
    "RecordFn",
    "ResultSink",
    "ShardPlan",
    "SystemicFailure",
    "UnitRunner",
    "describe_error",
    "run_records",
    "run_shard",
]


async def run_records(make: RecordFn, indices: list[int], report: ResultSink) -> None:
    """The plain runner: the unit's candidates concurrently, each reported as it finishes."""
    if len(indices) == 1:
        report(await make(indices[0]))
        return

    async def one(index: int) -> None:
        report(await make(index))

    async with asyncio.TaskGroup() as group:
        for index in indices:
            group.create_task(one(index))


def describe_error(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, DatagemsError) else str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass(frozen=True)
class ShardPlan:
    """What one shard's run needs, read once: the job, its shard, details and candidate plan."""

    job: Job
    shard: Shard
    details: JobDetails
    candidates: CandidatePlan

    @classmethod
    async def read(
        cls, store: KVStore, files: FileStore, settings: Settings, job_id: str, shard_key: str
    ) -> ShardPlan:
        job = await read_job(store, job_id)
        shard = await read_shard(store, job_id, shard_key)
        details = await read_details(files, job)
        budget = shard_budget(settings, job, shard)
        return cls(job, shard, details, CandidatePlan(shard=shard, job=job, budget=budget))


async def run_shard(
    *,
    store: KVStore,
    files: FileStore,
    settings: Settings,
    job_id: str,
    shard_key: str,
    runner: UnitRunner = run_records,
    unit_size: int = 1,
    on_checkpoint: CheckpointHook | None = None,
    flow_run_id: str | None = None,
    plan: ShardPlan | None = None,
) -> Shard:
    """Make (or finish) the shard's accepted records; returns the final shard record.

    Raises the unrecoverable error after storing it as the shard's `error`.
    """
    plan = plan or await ShardPlan.read(store, files, settings, job_id, shard_key)
    shard = plan.shard
    if shard.status == "succeeded" and shard.generated_ok >= shard.assigned:
        return shard
    progress = ShardProgress(
        shard=shard.model_copy(
            update={
                "status": "running",
                "retry_pass": plan.job.retry_pass,
                "started_at": shard.started_at or now_iso(),
                "finished_at": None,
                "error": None,
                "flow_run_id": flow_run_id or shard.flow_run_id,
                "last_update_at": now_iso(),
            }
        ),
        plan=plan.candidates,
    )
    await save_shard(store, job_id, progress.shard)
    if progress.is_complete:
        return await _finish_complete(store, plan.job, progress, None)
    spend = await shard_spend_guard(store, settings, plan.job, progress.shard)
    try:
        cancelled = await _run_candidates(
            store, files, settings, plan, progress, runner, unit_size, on_checkpoint, spend
        )
    except Exception as exc:
        await _finish(store, job_id, progress, "failed", describe_error(exc))
        raise
    if cancelled:
        return await _finish(store, job_id, progress, "cancelled", None)
    return await _finish_complete(store, plan.job, progress, spend)


async def _run_candidates(
    store: KVStore,
    files: FileStore,
    settings: Settings,
    plan: ShardPlan,
    progress: ShardProgress,
    runner: UnitRunner,
    unit_size: int,
    on_checkpoint: CheckpointHook | None,
    spend: SpendGuard | None,
) -> bool:
    details = plan.details
    gateway = await resolve_gateway(store, settings, details)
    spec = RecordSpec(
        instructions=details.instructions,
        schema=details.json_schema,
        dataset_mode=details.dataset_mode,
        seed=details.seed,
    )
    ceiling = gateway.ceiling if gateway else _mock_ceiling(settings, details.inference)
    async with AsyncExitStack() as stack:
        maker, screen = await open_screened_maker(
            stack,
            store=store,
            settings=settings,
            job=plan.job,
            details=details,
            spec=spec,
            gateway=gateway,
        )
        await screen.rebuild(files)

        make_noted = _noting_form(maker, progress)

        async def make(index: int) -> RecordResult:
            # Checked when the call would start (after the concurrency gate): past a reached
            # spend budget no call is made, so only the calls already in flight overshoot it.
            if spend is not None and spend.is_reached:
                return RecordResult.not_made(index)
            return await screen.screen(await make_noted(index))

        loop = ShardLoop(
            store=store,
            files=files,
            job_id=plan.job.id,
            progress=progress,
            make=_limited(make, ceiling),
            runner=runner,
            unit_size=max(1, unit_size),
            window=ceiling + settings.update_every_k,
            every_k=settings.update_every_k,
            systemic_limit=settings.systemic_failure_limit,
            on_checkpoint=on_checkpoint,
            spend=spend,
        )
        return await loop.run()


def _noting_form(maker: RecordMaker, progress: ShardProgress) -> RecordFn:
    """`maker.make_record`, noting on the shard the structured-output form the gateway took."""

    async def make(index: int) -> RecordResult:
        result = await maker.make_record(index)
        form = maker.structured_output
        if form is not None and form != progress.shard.structured_output:
            progress.shard = progress.shard.model_copy(update={"structured_output": form})
        return result

    return make


def _mock_ceiling(settings: Settings, choice: InferenceChoice) -> int:
    return min(
        choice.concurrency or settings.inference_concurrency, settings.inference_max_concurrency
    )


def _limited(make: RecordFn, ceiling: int) -> RecordFn:
    gate = asyncio.Semaphore(ceiling)

    async def make_limited(index: int) -> RecordResult:
        async with gate:
            return await make(index)

    return make_limited


async def _finish_complete(
    store: KVStore, job: Job, progress: ShardProgress, spend: SpendGuard | None
) -> Shard:
    """Succeeded with its share accepted; failed with the budget message when the plan ran out."""
    shard, job_id = progress.shard, job.id
    if shard.generated_ok >= shard.assigned:
        return await _finish(store, job_id, progress, "succeeded", None)
    if spend is not None and spend.is_reached:
        message = budget_reached_message(job, shard.tokens, shard.generated_ok)
        if spend.by_quota:
            message = message.replace(BUDGET_REACHED, QUOTA_REACHED, 1)
    else:
        message = budget_message(shard.generated_ok, shard.assigned, shard.rejected)
    return await _finish(store, job_id, progress, "failed", message)


async def _finish(
    store: KVStore, job_id: str, progress: ShardProgress, status: str, error: str | None
) -> Shard:
    stamp = now_iso()
    shard = progress.shard.model_copy(
        update={"status": status, "error": error, "finished_at": stamp, "last_update_at": stamp}
    )
    progress.shard = shard
    await save_shard(store, job_id, shard)
    return shard
