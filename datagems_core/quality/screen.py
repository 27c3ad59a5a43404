"""Screen each schema-valid candidate through the job's gates before it is accepted.

    screen = CandidateScreen(store=store, job=job, gates=details.gates, schema=schema, judge=j)
    await screen.rebuild(store, files)        # what the job (and earlier versions) accepted
    result = await screen.screen(result)      # accepted, or rejected with its gate and reason

Order: lint, then duplicates (exact, unique fields, near) against what is accepted, then the
judge (the costly call, only for candidates that could still be accepted), then duplicates once
more and the claim, with no await between the last check and adding to the index, so two
candidates of one process never both pass. Jobs with several shards also claim fingerprints,
unique values and MinHash bands in the store (`quality.claims`) so shards running elsewhere
cannot accept the same record, nor one nearly the same.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack
from typing import Any

from datagems_core.config.settings import Settings
from datagems_core.datasets.record_maker import (
    RecordMaker,
    RecordResult,
    RecordSpec,
    open_record_maker,
)
from datagems_core.inference.choice import resolve_judge_gateway
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.jobs.models import Job, JobDetails
from datagems_core.jobs.schedules import list_version_jobs
from datagems_core.jobs.stored_records import iter_ok_records
from datagems_core.quality.claims import claim
from datagems_core.quality.gate_config import GateConfig
from datagems_core.quality.gates import GateIndex, Rejection
from datagems_core.quality.judge import Judge, open_judge
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore


class CandidateScreen:
    def __init__(
        self,
        *,
        store: KVStore,
        job: Job,
        gates: GateConfig,
        schema: dict[str, Any],
        judge: Judge | None,
        min_score: int = 1,
    ) -> None:
        self.store, self.job = store, job
        self.index = GateIndex(gates, schema)
        self.judge, self.min_score = judge, min_score
        self.is_shared = len(job.peers) > 1

    async def rebuild(self, files: FileStore) -> int:
        """Index the records this job and its schedule's earlier versions accepted; returns
        how many. Called when a shard starts, so a resume holds what was committed before."""
        count = 0
        jobs = [self.job]
        if self.job.schedule_id:
            earlier = await list_version_jobs(self.store, self.job.schedule_id)
            jobs += [
                j
                for j in earlier
                if j.id != self.job.id and (j.version or 0) < (self.job.version or 0)
            ]
        for job in jobs:
            async for _, data in iter_ok_records(self.store, files, job.id):
                self.index.add_record(data)
                count += 1
        return count

    async def screen(self, result: RecordResult) -> RecordResult:
        if not result.ok or result.data is None:
            return result
        data = result.data
        rejection = self.index.lint(data)
        if rejection is not None:
            return _rejected(result, rejection)
        prints = self.index.fingerprint(data)
        rejection = self.index.find_duplicate(prints)
        if rejection is not None:
            return _rejected(result, rejection)
        if self.judge is not None:
            verdict = await self.judge.judge(data)
            result = dataclasses.replace(
                result, verdict=verdict.to_json(), usage=result.usage + verdict.usage
            )
            why = "; ".join(verdict.reasons) or "no reasons given"
            if verdict.score is None:
                return _rejected(result, Rejection("judge", f"the judge gave {why}"))
            if verdict.score < self.min_score:
                return _rejected(
                    result,
                    Rejection("judge", f"judge score {verdict.score} < {self.min_score}: {why}"),
                )
        rejection = self.index.find_duplicate(prints)  # another candidate may have passed meanwhile
        if rejection is not None:
            return _rejected(result, rejection)
        self.index.add(prints)
        if self.is_shared:
            rejection = await claim(
                self.store,
                self.job.id,
                result.index,
                prints,
                near_threshold=self.index.gates.near_duplicate_threshold,
            )
            if rejection is not None:
                return _rejected(result, rejection)
        return result


def _rejected(result: RecordResult, rejection: Rejection) -> RecordResult:
    """The candidate rejected; its data stays with it (the quality report shows examples), and
    only accepted records are ever exported."""
    return dataclasses.replace(
        result, ok=False, error=f"{rejection.gate}: {rejection.reason}", gate=rejection.gate
    )


async def open_screened_maker(
    stack: AsyncExitStack,
    *,
    store: KVStore,
    settings: Settings,
    job: Job,
    details: JobDetails,
    spec: RecordSpec,
    gateway: GatewayConfig | None,
) -> tuple[RecordMaker, CandidateScreen]:
    """A record maker for `spec` and the screen of `details`' gates (with its judge, when it has
    one), both closed with `stack`: how a shard and an estimate make candidates alike."""
    maker = await stack.enter_async_context(
        open_record_maker(settings=settings, spec=spec, gateway=gateway, store=store)
    )
    judge_config = details.gates.judge
    judge = None
    if judge_config is not None:
        judge_gateway = await resolve_judge_gateway(store, settings, details, judge_config)
        judge = await stack.enter_async_context(
            open_judge(
                settings=settings,
                config=judge_config,
                gateway=judge_gateway,
                instructions=details.instructions,
            )
        )
    screen = CandidateScreen(
        store=store,
        job=job,
        gates=details.gates,
        schema=details.json_schema,
        judge=judge,
        min_score=judge_config.min_score if judge_config else 1,
    )
    return maker, screen
