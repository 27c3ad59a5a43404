"""Recurring builds over REST: a dataset definition with a cron schedule, rebuilt as new versions.

Each schedule is also a Prefect deployment schedule on `build-recurring-dataset/default`
(parameters `{schedule_id}`), kept in step on create, change, pause and delete. Users see their
own schedules; admins see and manage all (`?all=true` lists them).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, KVStoreDep, Principal, SettingsDep
from api.flow_runner import FlowRunnerDep
from api.job_checks import check_definition, definition_changes
from api.openapi import errors
from api.schedule_schemas import (
    ScheduleCreate,
    ScheduleJobsPublic,
    SchedulePatch,
    SchedulePublic,
    SchedulesPublic,
    ScheduleView,
)
from api.schemas import Ok
from datagems_core.clock import now_iso
from datagems_core.datasets.definitions import build_definition, check_total_records
from datagems_core.errors import DatagemsError, Forbidden, NotFound
from datagems_core.jobs.schedules import (
    Schedule,
    check_cron,
    check_timezone,
    delete_schedule,
    list_schedules,
    list_version_jobs,
    new_schedule_id,
    read_schedule,
    read_versions,
    write_schedule,
)
from datagems_core.store.base import KVStore
from flows.launch import BUILD_RECURRING_DATASET

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/schedules", tags=["schedules"])


async def read_visible_schedule(store: KVStore, user: Principal, schedule_id: str) -> Schedule:
    """The schedule if `user` owns it or is an admin; NotFound otherwise."""
    schedule = await read_schedule(store, schedule_id)
    if schedule.owner != user.username and not user.is_admin:
        raise NotFound(f"schedule {schedule_id} not found")
    return schedule


async def _public(store: KVStore, schedule: Schedule) -> ScheduleView:
    versions = await read_versions(store, schedule.id)
    return ScheduleView(
        **schedule.model_dump(),
        next_run=schedule.next_run_at(),
        latest_version=versions[-1].version if versions else None,
        deployment=BUILD_RECURRING_DATASET,
    )


@router.post("", status_code=201, summary="Create a schedule", responses=errors(503))
async def create_schedule(
    body: ScheduleCreate,
    user: CurrentUser,
    settings: SettingsDep,
    store: KVStoreDep,
    runner: FlowRunnerDep,
) -> SchedulePublic:
    """Save a dataset definition that rebuilds itself on a cron schedule."""
    total = check_total_records(settings, body.total_records)
    cron, timezone = check_cron(body.cron), check_timezone(body.timezone)
    checked = await check_definition(body, user, settings, store, total)
    stamp = now_iso()
    schedule = Schedule(
        **dict(checked.definition),
        id=new_schedule_id(),
        owner=user.username,
        total_records=total,
        cron=cron,
        timezone=timezone,
        active=body.active,
        created_at=stamp,
        updated_at=stamp,
    )
    await runner.put_schedule(schedule)
    try:
        await write_schedule(store, schedule)
    except DatagemsError:
        await runner.remove_schedule(schedule.id)  # no orphan build without its definition
        raise
    return SchedulePublic(schedule=await _public(store, schedule), warnings=checked.warnings)


@router.get("", summary="List schedules", responses=errors(403))
async def list_schedules_route(
    user: CurrentUser,
    store: KVStoreDep,
    everyone: Annotated[bool, Query(alias="all")] = False,
) -> SchedulesPublic:
    if everyone and not user.is_admin:
        raise Forbidden("Admin access required to list all schedules")
    schedules = await list_schedules(store, owner=None if everyone else user.username)
    public = [await _public(store, s) for s in schedules]
    return SchedulesPublic(schedules=public, count=len(public))


@router.get("/{schedule_id}", summary="Read a schedule", responses=errors(404))
async def read_schedule_route(
    schedule_id: str, user: CurrentUser, store: KVStoreDep
) -> SchedulePublic:
    schedule = await read_visible_schedule(store, user, schedule_id)
    return SchedulePublic(schedule=await _public(store, schedule))


@router.patch("/{schedule_id}", summary="Change a schedule", responses=errors(404, 503))
async def update_schedule(
    schedule_id: str,
    body: SchedulePatch,
    user: CurrentUser,
    settings: SettingsDep,
    store: KVStoreDep,
    runner: FlowRunnerDep,
) -> SchedulePublic:
    """Change the definition, the cron or time zone, or pause (`active: false`) and resume."""
    current = await read_visible_schedule(store, user, schedule_id)
    total = check_total_records(
        settings, body.total_records if body.total_records is not None else current.total_records
    )
    # the current definition with the fields given, all checked again (a changed schema may
    # no longer suit the gates, a new gateway's price the budget)
    checked = await build_definition(
        store,
        settings,
        current.owner,
        base=current,
        changes=definition_changes(body),
        total_records=total,
    )
    updated = current.model_copy(
        update={
            **dict(checked.definition),
            "total_records": total,
            "cron": check_cron(body.cron) if body.cron is not None else current.cron,
            "timezone": check_timezone(body.timezone) if body.timezone else current.timezone,
            "active": body.active if body.active is not None else current.active,
            "updated_at": now_iso(),
        }
    )
    await runner.put_schedule(updated)
    await write_schedule(store, updated)
    return SchedulePublic(schedule=await _public(store, updated), warnings=checked.warnings)


@router.delete("/{schedule_id}", summary="Delete a schedule", responses=errors(404, 503))
async def delete_schedule_route(
    schedule_id: str, user: CurrentUser, store: KVStoreDep, runner: FlowRunnerDep
) -> Ok:
    """Stop the schedule and forget its definition; the versions it built stay as jobs."""
    schedule = await read_visible_schedule(store, user, schedule_id)
    await runner.remove_schedule(schedule.id)
    await delete_schedule(store, schedule.id)
    return Ok()


@router.get("/{schedule_id}/jobs", summary="List a schedule's versions", responses=errors(404))
async def list_schedule_jobs(
    schedule_id: str, user: CurrentUser, store: KVStoreDep
) -> ScheduleJobsPublic:
    """The versions built so far, newest first."""
    schedule = await read_visible_schedule(store, user, schedule_id)
    jobs = await list_version_jobs(store, schedule.id)
    return ScheduleJobsPublic(schedule_id=schedule.id, jobs=jobs, count=len(jobs))
