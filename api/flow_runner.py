"""How the API starts and stops work: the launcher (flows/launch.py), behind one `FlowRunner`.

A job runs as a flow run of `generate-dataset/default`; cancelling moves that run to Cancelling
(Cancelled if it never started). A recurring build is a Prefect deployment schedule on
`build-recurring-dataset/default` (flows/schedules.py). When the Prefect server is down or a
deployment is not served, the answer is a 503 that names the deployment and `datagems up`.
Tests swap the dependency: `app.dependency_overrides[get_flow_runner] = lambda: fake`.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends

from api.deps import SettingsDep
from datagems_core.jobs.models import Job
from datagems_core.jobs.schedules import Schedule
from flows.schedules import PrefectSchedule, SchedulingLauncher


class FlowRunner(Protocol):
    """Starts and stops the flow runs behind jobs and keeps recurring builds scheduled."""

    async def start_job(
        self, job: Job, *, tags: tuple[str, ...] = (), as_subflow: bool = False
    ) -> str:
        """Start a run of `generate-dataset` for the job's current pass; returns its flow run id."""
        ...

    async def cancel_flow_run(self, flow_run_id: str) -> None: ...

    async def put_schedule(self, schedule: Schedule) -> str:
        """Create or update the Prefect schedule of `schedule`; returns its Prefect id."""
        ...

    async def remove_schedule(self, schedule_id: str) -> None: ...

    async def read_schedule(self, schedule_id: str) -> PrefectSchedule | None: ...


def get_flow_runner(settings: SettingsDep) -> FlowRunner:
    return SchedulingLauncher(api_url=settings.prefect_api_url)


FlowRunnerDep = Annotated[FlowRunner, Depends(get_flow_runner)]
