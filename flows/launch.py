"""The one launcher: the only code that starts, resumes and cancels flow runs.

Every deployment DataGems runs is named here once. The API reaches this module through its
`FlowRunner` dependency (api/flow_runner.py), flows call it to start their child runs, and
`datagems up` calls it to resume the jobs a stopped machine left unfinished.

    launcher = Launcher(api_url="http://127.0.0.1:4200/api")   # or Launcher() inside a flow run
    job = await launch_job(store, launcher, job)                # start + note the run on the job

A run that cannot be started is a `ServiceUnavailable` naming the deployment and `datagems up`;
`launch_job` then fails the job with the reason, so nothing waits `queued` for ever.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, Protocol
from uuid import UUID, uuid4

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import DeploymentStatus, FlowRun, State
from prefect.client.schemas.responses import DeploymentResponse
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound, PrefectException
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY
from prefect.states import Cancelled, Cancelling, Crashed

from datagems_core.config.settings import Settings
from datagems_core.errors import ServiceUnavailable
from datagems_core.jobs.models import Job, Shard
from datagems_core.jobs.repository import list_unfinished_jobs
from datagems_core.jobs.starts import fail_unstarted, note_flow_run
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store

log = logging.getLogger("datagems.launch")

GENERATE_DATASET: Final = "generate-dataset/default"
GENERATE_SHARD: Final = "generate-shard/default"
BUILD_RECURRING_DATASET: Final = "build-recurring-dataset/default"
DEPLOYMENTS: Final = (GENERATE_DATASET, GENERATE_SHARD, BUILD_RECURRING_DATASET)
_PREFECT_ERRORS = (httpx.HTTPError, PrefectException, OSError)


class Launcher:
    """Starts and stops flow runs of DataGems' deployments on a Prefect server.

    With no `api_url` it talks to the server of the current process (inside a flow run or the
    runner: PREFECT_API_URL); `auth_string` defaults to PREFECT_API_AUTH_STRING.
    """

    def __init__(self, *, api_url: str | None = None, auth_string: str | None = None) -> None:
        self.api_url = api_url
        self.auth_string = auth_string

    @asynccontextmanager
    async def client(self) -> AsyncIterator[PrefectClient]:
        """A Prefect client; a failed call becomes ServiceUnavailable (ObjectNotFound passes)."""
        where = self.api_url or "PREFECT_API_URL"
        try:
            if self.api_url is None:
                async with get_client() as client:
                    yield client
            else:
                async with PrefectClient(
                    self.api_url,
                    api_key=PREFECT_API_KEY.value(),
                    auth_string=self.auth_string or PREFECT_API_AUTH_STRING.value(),
                ) as client:
                    yield client
        except ObjectNotFound:
            raise
        except _PREFECT_ERRORS as exc:
            raise ServiceUnavailable(
                f"the Prefect server at {where} cannot be reached or refused the call "
                f"({type(exc).__name__}: {exc}); start the stack with `datagems up`",
                details={"prefectApiUrl": where},
            ) from exc

    async def deployment(
        self, client: PrefectClient, name: str, *, served: bool
    ) -> DeploymentResponse:
        """The deployment `name`; with `served`, also insist that a runner or worker serves it."""
        try:
            deployment = await client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ServiceUnavailable(
                f"deployment {name} is not registered with the Prefect server at "
                f"{self.api_url or 'PREFECT_API_URL'}: start the stack with `datagems up` (or "
                "serve prefect.yaml's deployments and run `datagems worker`)",
                details={"deployment": name},
            ) from None
        if served and deployment.status == DeploymentStatus.NOT_READY:
            raise ServiceUnavailable(
                f"deployment {name} is registered but no runner or worker is serving it: "
                "start the stack with `datagems up` (or `datagems worker` on a machine of the "
                "work pool)",
                details={"deployment": name},
            )
        return deployment

    async def start_job(
        self, job: Job, *, tags: tuple[str, ...] = (), as_subflow: bool = False
    ) -> str:
        """Start a run of `generate-dataset` for the job's current pass; returns its id.

        The idempotency key holds the job's `updated_at`, which every (re)queue of the job
        moves: a caller repeating the same start gets the same run, a new pass or a resume a
        new one.
        """
        async with self.client() as client:
            deployment = await self.deployment(client, GENERATE_DATASET, served=not as_subflow)
            flow_run = await arun_deployment(
                deployment.id,
                client=client,
                parameters={"job_id": job.id},
                flow_run_name=job.run_name(),
                tags=job.run_tags(*tags),
                idempotency_key=f"{job.id}:pass-{job.retry_pass}:{job.updated_at}",
                timeout=0,
                as_subflow=as_subflow,
            )
        return str(flow_run.id)

    async def resume_job(self, job: Job) -> str | None:
        """Run an unfinished job again after its runner stopped; returns the run that will.

        Call only where no other runner may still be running the job (`datagems up` on the
        machine that runs jobs). A run that has not started yet is kept (a runner picks it up);
        one left Pending or Running by a dead runner is marked Crashed and a new run resumes the
        job from its checkpoints. An unfinished run started outside any deployment (the CLI's
        in-process run, which `datagems resume` finishes) is left alone: None.
        """
        async with self.client() as client:
            previous = await _read_run(client, job.flow_run_id)
            state = previous.state if previous else None
            if previous is not None and state is not None:
                if state.is_scheduled():
                    return str(previous.id)
                if not state.is_final() and previous.deployment_id is None:
                    return None
                if not state.is_final():
                    await client.set_flow_run_state(
                        previous.id,
                        Crashed(
                            message="its runner stopped; DataGems resumes the job in a new run"
                        ),
                        force=True,
                    )
            deployment = await self.deployment(client, GENERATE_DATASET, served=False)
            flow_run = await arun_deployment(
                deployment.id,
                client=client,
                parameters={"job_id": job.id},
                flow_run_name=job.run_name(),
                tags=job.run_tags("resumed"),
                idempotency_key=f"{job.id}:pass-{job.retry_pass}:resume-{uuid4().hex}",
                timeout=0,
                as_subflow=False,
            )
        return str(flow_run.id)

    async def start_shard(
        self, job: Job, shard: Shard, *, parent: str, takeover: int = 0
    ) -> FlowRun:
        """Send one shard of the job to its queue (its peer's, or `default` for any worker), as
        a subflow of the job's run; `takeover` > 0 runs it again after its run crashed."""
        again = f":takeover-{takeover}" if takeover else ""
        try:
            return await arun_deployment(
                name=GENERATE_SHARD,
                parameters={"job_id": job.id, "shard_key": shard.shard_key},
                work_queue_name=shard.peer_id,
                flow_run_name=job.run_name(f" shard {shard.shard_key}"),
                tags=job.run_tags(*(("takeover",) if takeover else ())),
                idempotency_key=f"{parent}:{shard.shard_key}:{job.retry_pass}{again}",
                timeout=0,
                as_subflow=True,
            )
        except ObjectNotFound:
            raise ServiceUnavailable(
                f"deployment {GENERATE_SHARD} is no longer registered: run `datagems deploy` "
                "and `datagems worker` on every peer"
            ) from None

    async def cancel_flow_run(self, flow_run_id: str) -> None:
        """Move the run to Cancelling (Cancelled if it never started); a gone run is no error."""
        async with self.client() as client:
            try:
                flow_run = await client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                return  # nothing left to stop; the job's cancel request still holds
            state = flow_run.state
            if state is None or state.is_final() or state.is_cancelling():
                return
            new_state: State[Any] = (
                Cancelling() if state.is_running() else Cancelled(message="Cancelled before it ran")
            )
            result = await client.set_flow_run_state(flow_run.id, new_state)
            log.info(
                "flow run %s: asked for %s, server answered %s",
                flow_run_id,
                new_state.name,
                result.status.value,
            )


async def _read_run(client: PrefectClient, flow_run_id: str | None) -> FlowRun | None:
    if not flow_run_id:
        return None
    try:
        return await client.read_flow_run(UUID(flow_run_id))
    except (ObjectNotFound, ValueError):
        return None


class JobStarter(Protocol):
    """What `launch_job` needs: a `Launcher`, the API's FlowRunner or a test's fake."""

    async def start_job(
        self, job: Job, *, tags: tuple[str, ...] = (), as_subflow: bool = False
    ) -> str: ...


async def launch_job(
    store: KVStore,
    launcher: JobStarter,
    job: Job,
    *,
    tags: tuple[str, ...] = (),
    as_subflow: bool = False,
) -> Job:
    """Start the queued job's flow run and note its id on the job.

    If the run cannot be started the job is marked failed with the reason and
    ServiceUnavailable carries that job back to the caller.
    """
    try:
        flow_run_id = await launcher.start_job(job, tags=tags, as_subflow=as_subflow)
    except ServiceUnavailable as exc:
        failed = await fail_unstarted(store, job, exc.message)
        raise ServiceUnavailable(
            f"job {job.id} was saved but could not start: {exc.message}",
            details={"job": failed.to_record()},
        ) from exc
    return await note_flow_run(store, job.id, flow_run_id)


async def resume_unfinished_jobs(
    settings: Settings, *, auth_string: str | None = None
) -> list[Job]:
    """Start again every job left queued or running (what `datagems up` does once it serves the
    deployments); returns the jobs resumed. A job that cannot be resumed is logged and left."""
    launcher = Launcher(api_url=settings.prefect_api_url, auth_string=auth_string)
    store = open_store(settings)
    resumed: list[Job] = []
    try:
        for job in await list_unfinished_jobs(store):
            try:
                flow_run_id = await launcher.resume_job(job)
            except ServiceUnavailable as exc:
                log.error("could not resume job %s: %s", job.id, exc.message)
                continue
            if flow_run_id is None:
                log.info("job %s is left to its own run (finish it with `datagems resume`)", job.id)
                continue
            resumed.append(await note_flow_run(store, job.id, flow_run_id))
            log.info("resumed job %s in flow run %s", job.id, flow_run_id)
    finally:
        await store.close()
    return resumed
