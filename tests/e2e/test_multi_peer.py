"""The multi-machine path: a job's shards split over two peers, each run on its peer's queue.

Two `datagems worker` processes stand in for Ratio1 peers `0xai_A` and `0xai_B`: same Prefect
server, same CStore + R1FS (the stand-in), each its own gateway. `generate-dataset/default` runs on
whichever worker takes it from the `default` queue and sends each shard as a `generate-shard/default`
run to its peer's queue; each shard must then reach its own peer's gateway. Without a work pool
(`datagems up`'s local runner, or `datagems generate`), the same job runs every shard on this
machine instead.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound

from datagems_core.config.settings import get_settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.repository import create_job, read_job, read_shards
from datagems_core.jobs.stored_records import iter_ok_records
from datagems_core.quality.gate_config import GateConfig
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store
from flows.generate_dataset import generate_dataset
from flows.launch import GENERATE_DATASET, GENERATE_SHARD
from tests.e2e.peer_fixtures import PEERS, PeerCluster, wait_until
from tests.flows.helpers import create_stored_job
from tests.support.schemas import PEOPLE_SCHEMA

T = TypeVar("T")
JOB_DEPLOYMENT = GENERATE_DATASET
CHAT_PATH = "/v1/chat/completions"
A, B = PEERS


def _with_state(cluster: PeerCluster, call: Callable[[KVStore, FileStore], Awaitable[T]]) -> T:
    """Run `await call(store, files)` against the state both peers share."""

    async def run() -> T:
        store, files = open_store(cluster.settings), open_file_store(cluster.settings)
        try:
            return await call(store, files)
        finally:
            await files.close()
            await store.close()

    return asyncio.run(run())


def _run_job(cluster: PeerCluster, total_records: int) -> tuple[Job, FlowRun]:
    """Create a job over both peers, start its flow run as the API does, wait for it to end."""
    job = _with_state(
        cluster,
        lambda store, files: create_job(
            store,
            files,
            DatasetDefinition(
                title=f"People x{total_records}",
                instructions="Fictional customers of a software shop",
                schema=PEOPLE_SCHEMA,
                # the fake gateways' records share their words: no near-duplicate replacements
                gates=GateConfig(near_duplicate_threshold=None),
            ),
            owner="erin",
            total_records=total_records,
            peers=list(PEERS),
        ),
    )
    parent = cluster.ask_prefect(
        lambda client: arun_deployment(
            JOB_DEPLOYMENT, parameters={"job_id": job.id}, timeout=0, client=client
        )
    )

    def finished() -> Job | None:
        current = _with_state(cluster, lambda store, _: read_job(store, job.id))
        return current if current.is_finished else None

    job = wait_until(finished, timeout=90, what=f"job {job.id} to finish", log=cluster.logs)
    parent = wait_until(
        lambda: _final_run(cluster, parent.id),
        timeout=30,
        what="the generate-dataset run to end",
        log=cluster.logs,
    )
    return job, parent


def _final_run(cluster: PeerCluster, flow_run_id: UUID) -> FlowRun | None:
    flow_run: FlowRun = cluster.ask_prefect(lambda client: client.read_flow_run(flow_run_id))
    return flow_run if flow_run.state is not None and flow_run.state.is_final() else None


def _shard_runs(cluster: PeerCluster, job_id: str) -> list[FlowRun]:
    async def read(client: PrefectClient) -> list[FlowRun]:
        return await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["generate-shard"])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"job:{job_id}"])),
        )

    runs: list[FlowRun] = cluster.ask_prefect(read)
    return runs


def _record_numbers(stats: dict[str, Any]) -> set[int]:
    """The record numbers (`#n`, 1-based) named in the prompts a gateway received."""
    numbers: set[int] = set()
    for body in stats["bodies"]:
        for message in body["messages"]:
            numbers.update(
                int(n) for n in re.findall(r"This is record #(\d+);", message["content"])
            )
    return numbers


def _by_key(shards: list[Shard]) -> dict[str, Shard]:
    return {shard.shard_key: shard for shard in shards}


def test_job_over_two_peers_runs_each_shard_on_its_peer_queue_with_its_own_gateway(
    peer_cluster: PeerCluster,
):
    cluster = peer_cluster
    cluster.reset_gateways()

    job, parent = _run_job(cluster, total_records=10)

    assert job.status == "succeeded", (job.error, cluster.logs())
    assert (job.total_ok, job.total_failed) == (10, 0)
    assert parent.state is not None and parent.state.is_completed()
    assert parent.work_queue_name == "default"
    assert job.dataset_cid
    records = _with_state(
        cluster, lambda store, files: _collect(iter_ok_records(store, files, job.id))
    )
    assert [index for index, _ in records] == list(range(10))
    shards = _by_key(_with_state(cluster, lambda store, _: read_shards(store, job.id)))
    assert set(shards) == {A, B}
    for key, (start, end) in {A: (0, 5), B: (5, 10)}.items():
        shard = shards[key]
        assert shard.peer_id == key
        assert (shard.range.start, shard.range.end) == (start, end)
        assert (shard.status, shard.generated_ok, shard.generated_failed) == ("succeeded", 5, 0)
    # Each peer's gateway got exactly its own shard's records, so each peer used its own.
    for key, numbers in {A: set(range(1, 6)), B: set(range(6, 11))}.items():
        stats = cluster.peers[key].gateway.stats()
        assert stats["by_path"] == {CHAT_PATH: 5}, (key, stats["by_path"])
        assert _record_numbers(stats) == numbers, key
    runs = {run.parameters["shard_key"]: run for run in _shard_runs(cluster, job.id)}
    assert set(runs) == {A, B}
    # Job runs are capped over the pool, so they can never fill the slots their shard runs need.
    deployment = cluster.ask_prefect(lambda client: client.read_deployment_by_name(JOB_DEPLOYMENT))
    assert (
        deployment.global_concurrency_limit.limit == 1
    )  # DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE
    for key, run in runs.items():
        assert run.work_queue_name == key
        assert run.state is not None and run.state.is_completed(), run.state
        assert run.parent_task_run_id is not None  # shown under the job's run in the UI
        assert shards[key].flow_run_id == str(run.id)


def test_job_of_one_record_over_two_peers_succeeds_with_one_empty_shard(
    peer_cluster: PeerCluster,
):
    cluster = peer_cluster
    cluster.reset_gateways()

    job, _ = _run_job(cluster, total_records=1)

    assert job.status == "succeeded", (job.error, cluster.logs())
    assert (job.total_ok, job.total_failed) == (1, 0)
    shards = _by_key(_with_state(cluster, lambda store, _: read_shards(store, job.id)))
    assert (shards[A].assigned, shards[A].status, shards[A].generated_ok) == (1, "succeeded", 1)
    assert (shards[B].assigned, shards[B].status, shards[B].generated_ok) == (0, "succeeded", 0)
    assert cluster.peers[A].gateway.stats()["requests"] == 1
    assert cluster.peers[B].gateway.stats()["requests"] == 0
    runs = {run.parameters["shard_key"]: run for run in _shard_runs(cluster, job.id)}
    assert {key: run.work_queue_name for key, run in runs.items()} == {A: A, B: B}
    assert all(run.state is not None and run.state.is_completed() for run in runs.values())


async def _collect(records: Any) -> list[tuple[int, dict[str, Any]]]:
    return [item async for item in records]


async def test_job_over_two_peers_without_a_work_pool_makes_every_shard_here(
    prefect_server, monkeypatch
):
    # A Ratio1 node lists its peers, but `datagems up` (a local runner: no pool) or `datagems
    # generate` (no deployment) has no peer queues to send to: Prefect refuses a run sent to a
    # queue of a deployment without a pool, which used to fail every job there.
    async with get_client() as client:
        try:
            served = await client.read_deployment_by_name(GENERATE_SHARD)
        except ObjectNotFound:
            served = None
    assert served is None or served.work_pool_name is None
    monkeypatch.setenv("R1EN_HOST_ADDR", A)
    monkeypatch.setenv("R1EN_CHAINSTORE_PEERS", json.dumps(list(PEERS)))
    job = await create_stored_job(4, peers=list(PEERS))

    result = await generate_dataset(job.id)

    assert (result["status"], result["totalOk"]) == ("succeeded", 4)
    store = open_store(get_settings())
    try:
        shards = _by_key(await read_shards(store, job.id))
    finally:
        await store.close()
    assert {key: (s.status, s.generated_ok) for key, s in shards.items()} == {
        A: ("succeeded", 2),
        B: ("succeeded", 2),
    }
    assert {s.flow_run_id for s in shards.values()} == {result["flowRunId"]}
