"""The loop that makes one shard's candidates until it has accepted its share, checkpointing as
it goes.

At most `ceiling + K` candidates are dispatched or held uncommitted at once, so memory stays flat
however large the shard; and never more candidates are in flight than the shard still needs
accepted, so a shard never accepts more than its share, however the in-flight ones turn out.
Checkpoints (blocks of half of K) commit in the background while candidates keep flowing, and
never more than K finished candidates are uncommitted (what a kill can lose). When the first
candidates of a run keep failing at the gateway (no reply at all after their retries), the loop
stops after `systemic_limit` of them in a row with the gateway's reason instead of spending the
budget.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from datagems_core.billing.budgets import SpendGuard
from datagems_core.datasets.record_maker import NOT_MADE, RecordResult
from datagems_core.errors import InferenceError
from datagems_core.jobs.checkpoints import ShardProgress, commit_block, reason_of
from datagems_core.jobs.models import Shard
from datagems_core.jobs.transitions import is_cancel_requested
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

RecordFn = Callable[[int], Awaitable[RecordResult]]
ResultSink = Callable[[RecordResult], None]
CheckpointHook = Callable[[Shard], Awaitable[None]]


class UnitRunner(Protocol):
    """Runs the candidates of one unit (one, or a checkpoint batch) and reports each result."""

    async def __call__(self, make: RecordFn, indices: list[int], report: ResultSink) -> None: ...


class SystemicFailure(InferenceError):
    """Candidates keep failing for a reason outside any record (the gateway's)."""


class _UnitFailed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ShardLoop:
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
        systemic_limit: int,
        on_checkpoint: CheckpointHook | None,
        spend: SpendGuard | None = None,
    ) -> None:
        self.store, self.files, self.job_id = store, files, job_id
        self.progress, self.make, self.runner = progress, make, runner
        self.unit_size, self.window, self.every_k = unit_size, window, every_k
        self.systemic_limit = systemic_limit
        self.on_checkpoint = on_checkpoint
        self.spend = spend  # the shard's share of the job's spend budget, if it has one
        self.queue: asyncio.Queue[RecordResult | _UnitFailed] = asyncio.Queue()
        self.units: set[asyncio.Task[None]] = set()
        self.buffer: list[RecordResult] = []
        self.commit_task: asyncio.Task[None] | None = None
        self.committing = 0  # candidates in the commit under way
        # Blocks of half of K, so one can commit while the next fills and still no more than
        # K finished candidates are ever uncommitted: what a kill can lose.
        self.flush_at = (every_k + 1) // 2
        self.cancel_seen = False
        self.accepted = progress.accepted  # committed, held or being committed
        self.target = progress.shard.assigned
        self.systemic: Counter[str] = Counter()  # reasons of the current run of gateway failures
        self.has_reply = False

    async def run(self) -> bool:
        """Run until the shard has its share, the plan is spent, a cancel or a failure;
        True when cancelled."""
        positions = iter(self.progress.pending_positions())
        plan = self.progress.plan
        dispatched = 0  # candidates dispatched and not yet reported
        exhausted = False
        failure: BaseException | None = None
        try:
            while failure is None and not self.cancel_seen:
                # Finished candidates not yet committed hold places in the window too, so when a
                # slow store makes the loop wait, at most `ceiling` more replies pile up.
                # Until a candidate has got a reply, only `systemic_limit` go out at once: a
                # gateway that answers nothing costs a few dozen calls, not the window's worth.
                window = self.window if self.has_reply else min(self.window, self.systemic_limit)
                # A reached spend budget sends no new candidate; those in flight finish.
                while (
                    not exhausted and not self.is_over_budget and dispatched + self._held() < window
                ):
                    wanted = min(self.unit_size, self.target - self.accepted - dispatched)
                    if wanted <= 0:
                        break
                    unit = [plan[p] for _, p in zip(range(wanted), positions, strict=False)]
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
                if item.gate == NOT_MADE:  # no call was made: the position stays pending
                    continue
                self.buffer.append(item)
                failure = self._observe(item)
                await self._maybe_checkpoint()
        finally:
            if failure is None and not self.cancel_seen and dispatched == 0:
                await self._finish_units()  # all reported: let the units end on their own
            else:
                await self._stop_units()
        while not self.queue.empty():  # candidates that finished while stopping are kept
            item = self.queue.get_nowait()
            if isinstance(item, RecordResult) and item.gate != NOT_MADE:
                self.buffer.append(item)
                self.accepted += item.ok
        await self._checkpoint()
        await self._wait_for_commit()
        if failure is not None:
            raise failure
        return self.cancel_seen

    @property
    def is_over_budget(self) -> bool:
        return self.spend is not None and self.spend.is_reached

    def _observe(self, result: RecordResult) -> SystemicFailure | None:
        self.accepted += result.ok
        if self.spend is not None:
            self.spend.add(result.usage)
        if result.gate != "gateway":
            self.systemic.clear()
            self.has_reply = True
            return None
        self.systemic[reason_of(result.error)] += 1
        if self.systemic.total() < self.systemic_limit:
            return None
        reason, _ = self.systemic.most_common(1)[0]
        return SystemicFailure(
            f"{self.systemic.total()} candidates in a row got no reply from the gateway "
            f"after their retries: {reason}"
        )

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
                raise RuntimeError(f"a unit of {len(indices)} candidates reported {reported}")
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
        """Commit the buffer once it holds half of K, in the background while candidates flow;
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
            # candidates may already count as done in `progress`.
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
