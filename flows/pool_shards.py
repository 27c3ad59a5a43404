"""A job's shards as `generate-shard` runs on the work pool, watched by the job run.

A Ratio1 peer's shard goes to its peer's work queue, a shard bound to no peer to the `default`
queue that every `datagems worker` polls. A shard whose run ends without finishing it (its worker
died and `datagems deploy`'s heartbeat automation marked the run Crashed) is taken over by a new
run, tagged `takeover`, up to DATAGEMS_SHARD_MAX_TAKEOVERS times: it claims the shard's lease
once the dead writer's lease expired and goes on from the shard's checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger

from datagems_core.config.settings import Settings
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.repository import read_shards
from datagems_core.jobs.transitions import is_cancel_requested
from datagems_core.store.base import KVStore
from flows.launch import GENERATE_SHARD, Launcher
from flows.progress import current_flow_run_id

WATCH_SECONDS = 2.0


class ShardRunFailed(Exception):
    """A shard's flow run ended without succeeding (and is not taken over again)."""


async def sends_to_pool(shards: list[Shard]) -> bool:
    """Whether the shards go to the work pool as `generate-shard` runs, rather than run here.

    Only when the job has several shards and `generate-shard/default` is on a work pool: a
    peer's shard goes to its peer's queue, a shard bound to no peer to the `default` queue any
    `datagems worker` polls. A deployment a local runner serves (`datagems up`) has no pool, and
    Prefect refuses a run sent to a queue of it; with no deployment at all (`datagems generate`
    in-process) there is nothing to send to. Then the shards run here, concurrently.
    """
    if len(shards) < 2:
        return False
    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(GENERATE_SHARD)
        except ObjectNotFound:
            deployment = None
    if deployment is None or deployment.work_pool_name is None:
        get_run_logger().info(
            "%s is not on a work pool (no `datagems deploy`), so this run makes all %d shards",
            GENERATE_SHARD,
            len(shards),
        )
        return False
    return True


async def run_on_pool(
    store: KVStore,
    settings: Settings,
    job: Job,
    observe: Callable[[Shard], Awaitable[None]],
    shards: list[Shard],
) -> list[Shard]:
    """Send each unfinished shard to the pool and watch them; take over a shard whose run
    ended without finishing it (its worker died: Crashed), up to DATAGEMS_SHARD_MAX_TAKEOVERS."""
    parent = current_flow_run_id() or job.id
    launcher = Launcher()
    runs: dict[str, FlowRun] = {}
    async with get_client() as client:
        for shard in shards:
            if shard.status == "succeeded" and shard.generated_ok >= shard.assigned:
                continue
            # A resumed job run watches the shard runs its crashed predecessor left running.
            live = await _live_run(client, shard.flow_run_id)
            runs[shard.shard_key] = live or await launcher.start_shard(job, shard, parent=parent)
    queue_of = {shard.shard_key: shard.peer_id for shard in shards}
    takeovers = {shard.shard_key: shard.takeovers for shard in shards}
    waiting_told: set[str] = set()
    async with get_client() as client:
        while True:
            states: dict[str, State[Any] | None] = {}
            for key, run in runs.items():
                states[key] = (await client.read_flow_run(run.id)).state
                if _is_late(states[key]) and key not in waiting_told:
                    waiting_told.add(key)
                    get_run_logger().warning(
                        "shard %s has waited past its start time on work queue %s: is "
                        "`datagems worker` running there, with a free slot?",
                        key,
                        queue_of[key],
                    )
            latest = {s.shard_key: s for s in await read_shards(store, job.id)}
            for shard in latest.values():
                await observe(shard)
            for key, state in states.items():
                if not _needs_takeover(state, latest[key]) or await is_cancel_requested(
                    store, job.id
                ):
                    continue
                if takeovers[key] >= settings.shard_max_takeovers:
                    raise ShardRunFailed(
                        f"shard {key} ended {state.name if state else 'unknown'} again after "
                        f"{takeovers[key]} takeover(s) (DATAGEMS_SHARD_MAX_TAKEOVERS): "
                        f"{(state.message if state else None) or 'no reason given'}"
                    )
                takeovers[key] += 1
                get_run_logger().warning(
                    "shard %s: its run %s ended %s (%s) with the shard unfinished; a new run "
                    "takes it over from its checkpoint (takeover %d of at most %d)",
                    key,
                    runs[key].id,
                    state.name if state else "unknown",
                    (state.message if state else None) or "no reason given",
                    takeovers[key],
                    settings.shard_max_takeovers,
                )
                runs[key] = await launcher.start_shard(
                    job, latest[key], parent=parent, takeover=takeovers[key]
                )
                states[key] = None  # not final: watch the new run
            if all(state is not None and state.is_final() for state in states.values()):
                break
            await asyncio.sleep(WATCH_SECONDS)
    final = await read_shards(store, job.id)
    by_key = {s.shard_key: s for s in final}
    for key, state in states.items():
        if state is None or not state.is_completed():
            shard_error = by_key[key].error if key in by_key else None
            message = shard_error or (state.message if state else None) or "no reason given"
            raise ShardRunFailed(
                f"shard {key} ended {state.name if state else 'unknown'}: {message}"
            )
    return final


async def _live_run(client: PrefectClient, flow_run_id: str | None) -> FlowRun | None:
    if not flow_run_id:
        return None
    try:
        run = await client.read_flow_run(UUID(flow_run_id))
    except (ObjectNotFound, ValueError):
        return None
    return run if run.state is not None and not run.state.is_final() else None


def _needs_takeover(state: State[Any] | None, shard: Shard) -> bool:
    """The run ended but not by itself: Crashed, or Failed with the shard record unfinished
    (a shard that fails for a reason of its own writes `failed` with it; a cancelled one is left)."""
    if state is None or not state.is_final() or state.is_completed() or state.is_cancelled():
        return False
    return state.is_crashed() or not shard.is_finished


def _is_late(state: State[Any] | None) -> bool:
    # Prefect marks a scheduled run Late when no worker has taken it well after its start time.
    return state is not None and state.is_scheduled() and state.name == "Late"
