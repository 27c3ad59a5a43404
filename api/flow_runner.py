"""How the API starts and stops work: Prefect deployments, behind one `FlowRunner` dependency.

A job runs as a flow run of `generate-dataset/default` started with `run_deployment(...,
timeout=0)`; cancelling moves that run to Cancelling (Cancelled if it never started). A recurring
build is a Prefect deployment schedule on `build-recurring-dataset/default` (slug
`datagems-<schedule id>`, parameters `{schedule_id}`). When the Prefect server is down or a
deployment is not served, the answer is a 503 that names the deployment and `datagems up`.
Tests swap the dependency: `app.dependency_overrides[get_flow_runner] = lambda: fake`.

Serving a deployment again (as every `datagems up` does) replaces its schedules, so whoever
serves `build-recurring-dataset/default` calls `sync_prefect_schedules(settings)` afterwards to
put the saved schedules back; `resume_unfinished_jobs(settings)` then starts again the jobs a
stopped machine left queued or running.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Final, Protocol
from uuid import UUID, uuid4

import httpx
from fastapi import Depends
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.objects import DeploymentStatus, FlowRun, State
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound, PrefectException
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY
from prefect.states import Cancelled, Cancelling, Crashed

from api.deps import SettingsDep
from datagems_core.errors import ServiceUnavailable
from datagems_core.job_models import Job
from datagems_core.job_starts import fail_unstarted, note_flow_run
from datagems_core.jobs import list_unfinished_jobs
from datagems_core.schedules import (
    ORCHESTRATOR_SLUG_PREFIX,
    Schedule,
    list_schedules,
    orchestrator_slug,
)
from datagems_core.settings import Settings
from datagems_core.store.base import KVStore
from datagems_core.store.factory import open_store

log = logging.getLogger(__name__)

GENERATE_DEPLOYMENT: Final = "generate-dataset/default"
RECURRING_DEPLOYMENT: Final = "build-recurring-dataset/default"
_PREFECT_ERRORS = (httpx.HTTPError, PrefectException, OSError)


@dataclass(frozen=True)
class PrefectSchedule:
    """What Prefect holds for one DataGems schedule."""

    id: str
    cron: str
    timezone: str | None
    active: bool
    parameters: dict[str, Any]


class FlowRunner(Protocol):
    """Starts and stops the flow runs behind jobs and keeps recurring builds scheduled."""

    async def start_job(self, job: Job) -> str:
        """Start a run of `generate-dataset` for the job's current pass; returns its flow run id."""
        ...

    async def resume_job(self, job: Job) -> str | None:
        """Run an unfinished job again after its runner stopped; returns the run that will, or
        None when the job is left to a run outside any deployment (`datagems generate`)."""
        ...

    async def cancel_flow_run(self, flow_run_id: str) -> None: ...

    async def put_schedule(self, schedule: Schedule) -> str:
        """Create or update the Prefect schedule of `schedule`; returns its Prefect id."""
        ...

    async def remove_schedule(self, schedule_id: str) -> None: ...

    async def read_schedule(self, schedule_id: str) -> PrefectSchedule | None: ...


class PrefectFlowRunner:
    """`FlowRunner` over a Prefect server's REST API.

    >>> runner = PrefectFlowRunner(api_url="http://127.0.0.1:4200/api")
    >>> flow_run_id = await runner.start_job(job)
    """

    def __init__(self, *, api_url: str) -> None:
        self.api_url = api_url

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[PrefectClient]:
        try:
            async with PrefectClient(
                self.api_url,
                api_key=PREFECT_API_KEY.value(),
                auth_string=PREFECT_API_AUTH_STRING.value(),
            ) as client:
                yield client
        except ObjectNotFound:
            raise
        except _PREFECT_ERRORS as exc:
            raise ServiceUnavailable(
                f"the Prefect server at {self.api_url} cannot be reached or refused the call "
                f"({type(exc).__name__}: {exc}); start the stack with `datagems up`",
                details={"prefectApiUrl": self.api_url},
            ) from exc

    async def _deployment(
        self, client: PrefectClient, name: str, *, served: bool
    ) -> DeploymentResponse:
        try:
            deployment = await client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ServiceUnavailable(
                f"deployment {name} is not registered with the Prefect server at "
                f"{self.api_url}: start the stack with `datagems up` (or serve prefect.yaml's "
                "deployments and run `datagems worker`)",
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

    async def start_job(self, job: Job) -> str:
        async with self._client() as client:
            deployment = await self._deployment(client, GENERATE_DEPLOYMENT, served=True)
            flow_run = await arun_deployment(
                deployment.id,
                client=client,
                parameters={"job_id": job.id},
                flow_run_name=job.run_name(),
                tags=job.run_tags(),
                idempotency_key=f"{job.id}:pass-{job.retry_pass}",
                timeout=0,
                as_subflow=False,
            )
        return str(flow_run.id)

    async def resume_job(self, job: Job) -> str | None:
        """Call only where no other runner may still be running the job (`datagems up` on the
        machine that runs jobs). A run that has not started yet is kept (a runner picks it up);
        one left Pending or Running by a dead runner is marked Crashed and a new run resumes the
        job from its checkpoints. An unfinished run started outside any deployment (the CLI's
        in-process run, which `datagems resume` finishes) is left alone."""
        async with self._client() as client:
            previous = await self._read_run(client, job.flow_run_id)
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
            deployment = await self._deployment(client, GENERATE_DEPLOYMENT, served=False)
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

    async def _read_run(self, client: PrefectClient, flow_run_id: str | None) -> FlowRun | None:
        if not flow_run_id:
            return None
        try:
            return await client.read_flow_run(UUID(flow_run_id))
        except (ObjectNotFound, ValueError):
            return None

    async def cancel_flow_run(self, flow_run_id: str) -> None:
        async with self._client() as client:
            try:
                flow_run = await client.read_flow_run(UUID(flow_run_id))
            except ObjectNotFound:
                return  # nothing left to stop; the job's cancel request still holds
            state = flow_run.state
            if state is None or state.is_final() or state.is_cancelling():
                return
            started = state.is_running()
            new_state: State[Any] = (
                Cancelling() if started else Cancelled(message="Cancelled before it ran")
            )
            result = await client.set_flow_run_state(flow_run.id, new_state)
            log.info(
                "flow run %s: asked for %s, server answered %s",
                flow_run_id,
                new_state.name,
                result.status.value,
            )

    async def put_schedule(self, schedule: Schedule) -> str:
        cron = CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
        parameters = {"schedule_id": schedule.id}
        async with self._client() as client:
            deployment = await self._deployment(client, RECURRING_DEPLOYMENT, served=False)
            existing = await self._find(client, deployment.id, schedule.id)
            if existing is not None:
                await client.update_deployment_schedule(
                    deployment.id,
                    existing,
                    active=schedule.active,
                    schedule=cron,
                    parameters=parameters,
                )
                return str(existing)
            created = await client.create_deployment_schedules(
                deployment.id,
                [
                    DeploymentScheduleCreate(
                        schedule=cron,
                        active=schedule.active,
                        parameters=parameters,
                        slug=orchestrator_slug(schedule.id),
                    )
                ],
            )
        return str(created[0].id)

    async def remove_schedule(self, schedule_id: str) -> None:
        async with self._client() as client:
            deployment = await self._deployment(client, RECURRING_DEPLOYMENT, served=False)
            existing = await self._find(client, deployment.id, schedule_id)
            if existing is not None:
                await client.delete_deployment_schedule(deployment.id, existing)

    async def read_schedule(self, schedule_id: str) -> PrefectSchedule | None:
        async with self._client() as client:
            deployment = await self._deployment(client, RECURRING_DEPLOYMENT, served=False)
            for item in await client.read_deployment_schedules(deployment.id):
                if item.slug == orchestrator_slug(schedule_id) and isinstance(
                    item.schedule, CronSchedule
                ):
                    return PrefectSchedule(
                        id=str(item.id),
                        cron=item.schedule.cron,
                        timezone=item.schedule.timezone,
                        active=item.active,
                        parameters=dict(item.parameters),
                    )
        return None

    async def sync_schedules(self, schedules: list[Schedule]) -> int:
        """Make the recurring deployment's DataGems schedules exactly `schedules`; returns how
        many were put. Prefect schedules that are not DataGems' (other slugs) are left alone."""
        wanted = {orchestrator_slug(s.id) for s in schedules}
        async with self._client() as client:
            deployment = await self._deployment(client, RECURRING_DEPLOYMENT, served=False)
            for item in await client.read_deployment_schedules(deployment.id):
                slug = item.slug or ""
                if slug.startswith(ORCHESTRATOR_SLUG_PREFIX) and slug not in wanted:
                    await client.delete_deployment_schedule(deployment.id, item.id)
        for schedule in schedules:
            await self.put_schedule(schedule)
        return len(schedules)

    async def _find(
        self, client: PrefectClient, deployment_id: UUID, schedule_id: str
    ) -> UUID | None:
        slug = orchestrator_slug(schedule_id)
        for item in await client.read_deployment_schedules(deployment_id):
            if item.slug == slug:
                return item.id
        return None


async def start_job_run(store: KVStore, runner: FlowRunner, job: Job) -> Job:
    """Start the job's flow run and note its id on the job.

    If the run cannot be started the job is marked failed with the reason (so nothing is left
    queued for ever) and ServiceUnavailable carries that job back to the caller.
    """
    try:
        flow_run_id = await runner.start_job(job)
    except ServiceUnavailable as exc:
        failed = await fail_unstarted(store, job, exc.message)
        raise ServiceUnavailable(
            f"job {job.id} was saved but could not start: {exc.message}",
            details={"job": failed.to_record()},
        ) from exc
    return await note_flow_run(store, job.id, flow_run_id)


async def resume_unfinished_jobs(settings: Settings) -> list[Job]:
    """Start again every job left queued or running (what `datagems up` does once it serves the
    deployments); returns the jobs resumed. A job that cannot be resumed is logged and left."""
    runner = PrefectFlowRunner(api_url=settings.prefect_api_url)
    store = open_store(settings)
    resumed: list[Job] = []
    try:
        for job in await list_unfinished_jobs(store):
            try:
                flow_run_id = await runner.resume_job(job)
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


async def sync_prefect_schedules(settings: Settings) -> int:
    """Put every saved DataGems schedule back on the recurring deployment (after serving it)."""
    store = open_store(settings)
    try:
        schedules = await list_schedules(store)
    finally:
        await store.close()
    return await PrefectFlowRunner(api_url=settings.prefect_api_url).sync_schedules(schedules)


def get_flow_runner(settings: SettingsDep) -> FlowRunner:
    return PrefectFlowRunner(api_url=settings.prefect_api_url)


FlowRunnerDep = Annotated[FlowRunner, Depends(get_flow_runner)]
