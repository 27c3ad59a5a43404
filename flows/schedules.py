"""Saved DataGems schedules as Prefect deployment schedules of `build-recurring-dataset/default`.

Each saved schedule is one deployment schedule (slug `datagems-<schedule id>`, parameters
`{schedule_id}`). Serving the deployment again (as every `datagems up` does) replaces its
schedules, so whoever serves it calls `sync_prefect_schedules(settings)` afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule

from datagems_core.config.settings import Settings
from datagems_core.jobs.schedules import (
    ORCHESTRATOR_SLUG_PREFIX,
    Schedule,
    list_schedules,
    orchestrator_slug,
)
from datagems_core.store.factory import open_store
from flows.launch import BUILD_RECURRING_DATASET, Launcher


@dataclass(frozen=True)
class PrefectSchedule:
    """What Prefect holds for one DataGems schedule."""

    id: str
    cron: str
    timezone: str | None
    active: bool
    parameters: dict[str, Any]


class SchedulingLauncher(Launcher):
    """The launcher that also keeps the recurring builds' Prefect schedules (the API's runner)."""

    async def put_schedule(self, schedule: Schedule) -> str:
        """Create or update the Prefect schedule of `schedule`; returns its Prefect id."""
        cron = CronSchedule(cron=schedule.cron, timezone=schedule.timezone)
        parameters = {"schedule_id": schedule.id}
        async with self.client() as client:
            deployment = await self.deployment(client, BUILD_RECURRING_DATASET, served=False)
            existing = await _find(client, deployment.id, schedule.id)
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
        async with self.client() as client:
            deployment = await self.deployment(client, BUILD_RECURRING_DATASET, served=False)
            existing = await _find(client, deployment.id, schedule_id)
            if existing is not None:
                await client.delete_deployment_schedule(deployment.id, existing)

    async def read_schedule(self, schedule_id: str) -> PrefectSchedule | None:
        async with self.client() as client:
            deployment = await self.deployment(client, BUILD_RECURRING_DATASET, served=False)
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
        async with self.client() as client:
            deployment = await self.deployment(client, BUILD_RECURRING_DATASET, served=False)
            for item in await client.read_deployment_schedules(deployment.id):
                slug = item.slug or ""
                if slug.startswith(ORCHESTRATOR_SLUG_PREFIX) and slug not in wanted:
                    await client.delete_deployment_schedule(deployment.id, item.id)
        for schedule in schedules:
            await self.put_schedule(schedule)
        return len(schedules)


async def _find(client: PrefectClient, deployment_id: UUID, schedule_id: str) -> UUID | None:
    slug = orchestrator_slug(schedule_id)
    for item in await client.read_deployment_schedules(deployment_id):
        if item.slug == slug:
            return item.id
    return None


async def sync_prefect_schedules(settings: Settings, *, auth_string: str | None = None) -> int:
    """Put every saved DataGems schedule back on the recurring deployment (after serving it)."""
    store = open_store(settings)
    try:
        schedules = await list_schedules(store)
    finally:
        await store.close()
    launcher = SchedulingLauncher(api_url=settings.prefect_api_url, auth_string=auth_string)
    return await launcher.sync_schedules(schedules)
