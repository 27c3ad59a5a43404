"""Beyond one machine: register prefect.yaml's deployments to the work pool, and join the pool.

`datagems deploy` (once, from any machine) creates the `datagems` process work pool when missing
and runs `prefect deploy --all` on prefect.yaml. `datagems worker` (on every machine or Ratio1
peer) runs a Prefect process worker on that pool, polling the `default` queue (jobs, recurring
builds) and this peer's own queue (the shards sent to it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentUpdate, WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectException
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

from datagems_core.config.settings import Settings
from datagems_core.errors import DatagemsError, ServiceUnavailable
from datagems_core.jobs.shards import this_peer
from deployments.automations import ensure_automations
from deployments.orphan_runs import prefect_client
from deployments.prefect_auth import client_auth_string
from deployments.prefect_server import client_environment
from deployments.runner import process_limit, project_file, read_deployment_specs
from flows.launch import BUILD_RECURRING_DATASET, GENERATE_DATASET
from flows.schedules import sync_prefect_schedules

WORK_POOL_TYPE = "process"
DEFAULT_QUEUE = "default"
# Prefect's worker polls every 10 s by default; a job should start within a few seconds.
WORKER_QUERY_SECONDS = "2"


async def ensure_work_pool(
    name: str, *, api_url: str, queues: list[str] | None = None, auth_string: str | None = None
) -> bool:
    """Create the process work pool `name` and its `queues` when missing; True if the pool was new.

    A worker polling a queue that does not exist yet picks nothing up, and a shard run is sent
    to its peer's queue, so each worker makes sure its own queue is there.
    """
    try:
        async with PrefectClient(
            api_url,
            api_key=PREFECT_API_KEY.value(),
            auth_string=auth_string or PREFECT_API_AUTH_STRING.value(),
        ) as client:
            created = False
            try:
                await client.read_work_pool(name)
            except ObjectNotFound:
                try:
                    await client.create_work_pool(WorkPoolCreate(name=name, type=WORK_POOL_TYPE))
                    created = True
                except ObjectAlreadyExists:
                    pass  # another machine created it a moment ago
            for queue in queues or []:
                try:
                    await client.read_work_queue_by_name(queue, work_pool_name=name)
                except ObjectNotFound:
                    try:
                        await client.create_work_queue(queue, work_pool_name=name)
                    except ObjectAlreadyExists:
                        pass
            return created
    except (httpx.HTTPError, PrefectException, OSError) as exc:
        raise ServiceUnavailable(
            f"cannot reach the Prefect server at {api_url} to set up work pool {name!r} "
            f"({type(exc).__name__}: {exc}); check PREFECT_API_URL"
        ) from exc


def worker_queues(settings: Settings) -> list[str]:
    """The queues this machine polls: everyone's `default` and its own peer queue."""
    peer = this_peer(settings)
    return [DEFAULT_QUEUE] if peer == DEFAULT_QUEUE else [DEFAULT_QUEUE, peer]


def worker_command(settings: Settings) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "prefect",
        "worker",
        "start",
        "--pool",
        settings.work_pool,
        "--type",
        WORK_POOL_TYPE,
        "--name",
        f"datagems-{this_peer(settings)}",
        "--limit",
        str(process_limit(settings)),
    ]
    for queue in worker_queues(settings):
        command += ["--work-queue", queue]
    return command


def deploy_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prefect",
        "--no-prompt",
        "deploy",
        "--all",
        "--prefect-file",
        str(project_file(settings)),
        "--pool",
        settings.work_pool,
    ]


def child_environment(settings: Settings, *, for_deploy: bool = False) -> dict[str, str]:
    """The environment of `prefect deploy` / `prefect worker` and the flow runs they start."""
    env = dict(os.environ)
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", WORKER_QUERY_SECONDS)
    # The flow runs send heartbeats; `datagems deploy`'s automation crashes silent ones.
    env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(settings.heartbeat_seconds)
    if for_deploy:
        # Unset, `prefect deploy` keeps `{{ $DATAGEMS_PROJECT_DIR }}` in the pull step for each
        # worker to resolve; set, it would write this machine's path into the deployment.
        env.pop("DATAGEMS_PROJECT_DIR", None)
    else:
        env["DATAGEMS_PROJECT_DIR"] = str(project_file(settings).parent)
    if settings.prefect_api_url_raw is None:
        env.update(client_environment(settings.prefect_api_url, client_auth_string(settings)))
    return env


def deploy(settings: Settings) -> int:
    """Register prefect.yaml's deployments on the work pool; returns `prefect deploy`'s code."""
    asyncio.run(
        ensure_work_pool(
            settings.work_pool,
            api_url=settings.prefect_api_url,
            auth_string=client_auth_string(settings),
        )
    )
    completed = subprocess.run(
        deploy_command(settings),
        env=child_environment(settings, for_deploy=True),
        cwd=project_file(settings).parent,
        check=False,
    )
    if completed.returncode == 0:
        asyncio.run(_limit_job_runs(settings))
        asyncio.run(_restore_schedules(settings))
        asyncio.run(_install_automations(settings))
    return completed.returncode


async def _install_automations(settings: Settings) -> None:
    async with prefect_client(settings.prefect_api_url, client_auth_string(settings)) as client:
        names = await ensure_automations(client, settings)
    print(f"automations: {', '.join(names)}")  # noqa: T201


async def _limit_job_runs(settings: Settings) -> None:
    """Cap `generate-dataset` runs over the whole pool, so job runs never fill the worker slots
    their own shard runs need.

    A job run holds a worker slot while it waits for its shards, and each worker takes up to
    `--limit` runs from the shared `default` queue. Uncapped, a burst of jobs fills every slot
    with job runs, their shard runs wait on the peer queues for a slot that never frees, and
    every job hangs. With at most J job runs at a time (J = DATAGEN_MAX_CONCURRENT_JOBS_PER_INSTANCE,
    unless prefect.yaml sets the deployment's own limit), a worker holds at most J job runs, J
    shard runs (one per running job) and a recurring build: its `--limit` (`process_limit`).
    """
    async with prefect_client(settings.prefect_api_url, client_auth_string(settings)) as client:
        try:
            deployment = await client.read_deployment_by_name(GENERATE_DATASET)
        except ObjectNotFound:
            return  # this prefect.yaml has no job deployment
        name = GENERATE_DATASET.partition("/")[2]
        specs = [
            spec
            for spec in read_deployment_specs(project_file(settings))
            if spec.name == name and spec.entrypoint == deployment.entrypoint
        ]
        if not specs:
            return  # registered by something else than this prefect.yaml: not ours to change
        limit = specs[0].concurrency_limit or settings.max_concurrent_jobs
        await client.update_deployment(deployment.id, DeploymentUpdate(concurrency_limit=limit))
    print(f"{GENERATE_DATASET}: at most {limit} job run(s) at a time over the pool")  # noqa: T201


async def _restore_schedules(settings: Settings) -> None:
    # `prefect deploy` replaced the recurring deployment's schedules with prefect.yaml's.

    async with prefect_client(settings.prefect_api_url, client_auth_string(settings)) as client:
        try:
            await client.read_deployment_by_name(BUILD_RECURRING_DATASET)
        except ObjectNotFound:
            return  # this prefect.yaml has no recurring builds
    try:
        count = await sync_prefect_schedules(settings, auth_string=client_auth_string(settings))
    except DatagemsError as exc:
        raise ServiceUnavailable(
            f"deployments registered, but the saved schedules could not be put back: "
            f"{exc.message}; run `datagems deploy` again once the store is reachable"
        ) from exc
    print(f"restored {count} saved schedule(s)")  # noqa: T201


def run_worker(settings: Settings) -> int:
    """Join the work pool with a Prefect process worker until stopped; returns its exit code."""
    asyncio.run(
        ensure_work_pool(
            settings.work_pool,
            api_url=settings.prefect_api_url,
            queues=worker_queues(settings),
            auth_string=client_auth_string(settings),
        )
    )
    project_dir = project_file(settings).parent
    if not (project_dir / "prefect.yaml").is_file():
        raise ServiceUnavailable(
            f"{project_dir} has no prefect.yaml: run `datagems worker` from the DataGems project "
            "or set DATAGEMS_PROJECT_DIR"
        )
    worker = subprocess.Popen(worker_command(settings), env=child_environment(settings))
    try:
        return worker.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the worker too (same process group); let it finish its shutdown.
        return worker.wait()
