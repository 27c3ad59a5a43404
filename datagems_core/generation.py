"""The shard loop: make a shard's records concurrently, checkpoint every K, resume, cancel, fail.

    shard = await run_shard(store=store, files=files, settings=settings, job_id=job_id,
                            shard_key="local")

Records run through a `UnitRunner` (the flows wrap units in Prefect tasks: one record per task, or
one checkpoint batch per task); the loop keeps at most `ceiling + K` records dispatched, so memory
stays flat however large the shard. Checkpoints (blocks of half of K) commit in the background
while records keep flowing, and never more than K finished records are uncommitted (what a kill
can lose). A failed record is counted with its reason; an unreachable or rejecting gateway, or a
store that stays down, fails the shard with that reason after committing what was made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from datagems_core.checkpoints import ShardProgress, commit_block, save_shard
from datagems_core.clock import now_iso
from datagems_core.errors import DatagemsError
from datagems_core.files.base import FileStore
from datagems_core.inference.gateway import GatewayConfig
from datagems_core.job_gateway import resolve_gateway
from datagems_core.job_models import InferenceChoice, Job, JobDetails, Shard
from datagems_core.jobs import is_cancel_requested, read_details, read_job, read_shard
from datagems_core.records import RecordMaker, RecordResult, RecordSpec, open_record_maker
from datagems_core.settings import Settings
from datagems_core.store.base import KVStore
from datagems_core.stored_records import failed_results

RecordFn = Callable[[int], Awaitable[RecordResult]]
ResultSink = Callable[[RecordResult], None]
CheckpointHook = Callable[[Shard], Awaitable[None]]
GatewayResolver = Callable[[JobDetails], Awaitable[GatewayConfig | None]]


class UnitRunner(Protocol):
    """Runs the records of one unit (a record, or a checkpoint batch) and reports each result."""

    async def __call__(self, make: RecordFn, indices: list[int], report: ResultSink) -> None: ...


async def run_records(make: RecordFn, indices: list[int], report: ResultSink) -> None:
    """The plain runner: the unit's records concurrently, each reported as it finishes."""
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
    gateway_resolver: GatewayResolver | None = None,
    flow_run_id: str | None = None,
) -> Shard:
    """Make (or finish) the shard's records for the job's current pass; returns the final record.

    Raises the unrecoverable error after storing it as the shard's `error`.
    """
    job = await read_job(store, job_id)
    shard = await read_shard(store, job_id, shard_key)
    if shard.status == "succeeded" and shard.retry_pass >= job.retry_pass:
        return shard
    details = await read_details(files, job)
    progress = await _progress_for(store, files, job, shard)
    shard = progress.shard.model_copy(
        update={
            "status": "running",
            "started_at": shard.started_at or now_iso(),
            "finished_at": None,
            "error": None,
            "flow_run_id": flow_run_id or shard.flow_run_id,
            "last_update_at": now_iso(),
        }
    )
    progress.shard = shard
    await save_shard(store, job_id, shard)
    if progress.is_complete:
        return await _finish(store, job_id, progress, "succeeded", None)
    try:
        if gateway_resolver is not None:
            gateway = await gateway_resolver(details)
        else:
            gateway = await resolve_gateway(store, settings, details)
        spec = RecordSpec(
            instructions=details.instructions,
            schema=details.json_schema,
            dataset_mode=details.dataset_mode,
            seed=details.seed,
        )
        ceiling = gateway.ceiling if gateway else _mock_ceiling(settings, details.inference)
        async with open_record_maker(
            settings=settings, spec=spec, gateway=gateway, store=store
        ) as maker:
            loop = _ShardLoop(
                store=store,
                files=files,
                job_id=job_id,
                progress=progress,
                make=_limited(_noting_form(maker, progress), ceiling),
                runner=runner,
                unit_size=max(1, unit_size),
                window=ceiling + settings.update_every_k,
                every_k=settings.update_every_k,
                on_checkpoint=on_checkpoint,
            )
            cancelled = await loop.run()
    except Exception as exc:
        await _finish(store, job_id, progress, "failed", describe_error(exc))
        raise
    return await _finish(store, job_id, progress, "cancelled" if cancelled else "succeeded", None)


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


async def _progress_for(store: KVStore, files: FileStore, job: Job, shard: Shard) -> ShardProgress:
    """The plan for the job's current pass, resuming the shard's checkpoint when it is that pass."""
    target = job.retry_pass
    if target == 0:
        return ShardProgress(shard=shard, plan=range(shard.range.start, shard.range.end))
    failed = await failed_results(store, files, job.id, shard, below_pass=target)
    plan = sorted(failed)
    if shard.retry_pass != target:  # a new retry pass starts from its first failed index
        shard = shard.model_copy(update={"retry_pass": target, "next_index": 0, "done_above": []})
    progress = ShardProgress(shard=shard, plan=plan)
    pending = progress.pending_positions()
    progress.previous_errors = {plan[p]: failed[plan[p]] for p in pending}
    return progress


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


class _UnitFailed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _ShardLoop:
    def __init__(
        self,
        *,
        store: KVStore,
        files: FileStore,
        job_id: str,
        progress: ShardProgress,
        make: RecordFn,
        runner: UnitRunner,
        unit_size: int,
        window: int,
        every_k: int,
        on_checkpoint: CheckpointHook | None,
    ) -> None:
        self.store, self.files, self.job_id = store, files, job_id
        self.progress, self.make, self.runner = progress, make, runner
        self.unit_size, self.window, self.every_k = unit_size, window, every_k
        self.on_checkpoint = on_checkpoint
        self.queue: asyncio.Queue[RecordResult | _UnitFailed] = asyncio.Queue()
        self.units: set[asyncio.Task[None]] = set()
        self.buffer: list[RecordResult] = []
        self.commit_task: asyncio.Task[None] | None = None
        self.committing = 0  # records in the commit under way
        # Blocks of half of K, so one can commit while the next fills and still no more than
        # K finished records are ever uncommitted: what a kill can lose.
        self.flush_at = (every_k + 1) // 2
        self.cancel_seen = False

    async def run(self) -> bool:
        """Run to the end of the plan, a cancel request or a failure; True when cancelled."""
        positions = iter(self.progress.pending_positions())
        plan = self.progress.plan
        dispatched = 0  # records dispatched and not yet reported
        exhausted = False
        failure: BaseException | None = None
        try:
            while failure is None and not self.cancel_seen:
                # Finished records not yet committed hold places in the window too, so when a
                # slow store makes the loop wait, at most `ceiling` more replies pile up.
                while not exhausted and dispatched + self._held() < self.window:
                    unit = [plan[p] for _, p in zip(range(self.unit_size), positions, strict=False)]
                    if not unit:
                        exhausted = True
                        break
                    dispatched += len(unit)
                    self._start_unit(unit)
                if dispatched == 0:
                    break
                item = await self.queue.get()
                if isinstance(item, _UnitFailed):
                    failure = item.error
                    break
                dispatched -= 1
                self.buffer.append(item)
                await self._maybe_checkpoint()
        finally:
            if failure is None and not self.cancel_seen and dispatched == 0:
                await self._finish_units()  # all reported: let the units end on their own
            else:
                await self._stop_units()
        while not self.queue.empty():  # records that finished while stopping are kept
            item = self.queue.get_nowait()
            if isinstance(item, RecordResult):
                self.buffer.append(item)
        await self._checkpoint()
        await self._wait_for_commit()
        if failure is not None:
            raise failure
        return self.cancel_seen

    def _start_unit(self, indices: list[int]) -> None:
        task = asyncio.create_task(self._run_unit(indices))
        self.units.add(task)
        task.add_done_callback(self.units.discard)

    async def _run_unit(self, indices: list[int]) -> None:
        reported = 0

        def report(result: RecordResult) -> None:
            nonlocal reported
            reported += 1
            self.queue.put_nowait(result)

        try:
            await self.runner(self.make, indices, report)
            if reported != len(indices):
                raise RuntimeError(f"a unit of {len(indices)} records reported {reported}")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the loop, which re-raises it
            self.queue.put_nowait(_UnitFailed(_unwrap(exc)))

    async def _finish_units(self) -> None:
        if self.units:
            await asyncio.gather(*self.units, return_exceptions=True)

    async def _stop_units(self) -> None:
        for task in list(self.units):
            task.cancel()
        if self.units:
            await asyncio.gather(*self.units, return_exceptions=True)

    def _held(self) -> int:
        return self.committing + len(self.buffer)

    async def _maybe_checkpoint(self) -> None:
        """Commit the buffer once it holds half of K, in the background while records flow;
        wait for the commit under way only when it and the buffer together reach K."""
        if self.commit_task is not None and self.commit_task.done():
            await self._wait_for_commit()  # raises what the commit raised
        if self.commit_task is None:
            if len(self.buffer) >= self.flush_at:
                await self._checkpoint()
        elif self._held() >= self.every_k:
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Commit the buffer in the background; waits only for the previous commit."""
        await self._wait_for_commit()  # one commit at a time keeps progress records in order
        if not self.buffer:
            return
        results, self.buffer = self.buffer, []
        self.committing = len(results)
        self.commit_task = asyncio.create_task(self._commit(results))

    async def _wait_for_commit(self) -> None:
        if self.commit_task is not None:
            # A failed commit raises here every time: nothing is committed after it, as its
            # records may already count as done in `progress`.
            await self.commit_task
            self.commit_task = None
            self.committing = 0

    async def _commit(self, results: Sequence[RecordResult]) -> None:
        shard = await commit_block(
            self.store, self.files, job_id=self.job_id, progress=self.progress, results=results
        )
        if await is_cancel_requested(self.store, self.job_id):
            self.cancel_seen = True
        if self.on_checkpoint is not None:
            await self.on_checkpoint(shard)


def _unwrap(exc: BaseException) -> BaseException:
    """The first real error inside task-group wrappers."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
