"""Recurring builds: a saved dataset definition with a cron schedule; each build is a new version.

Keys (the only code that knows them):
    datagen:schedules                     hash  schedule id -> Schedule record   (the owner, via the API)
    datagen:schedule:{id}:versions        hash  version -> ScheduleVersion       (the build flow)

A build claims the next version number and then creates the job (scheduleId and version on the
job), so a build retried by its orchestrator finds its claim and does not make a second version.
The orchestrator keeps its own copy of the cron (a Prefect deployment schedule); this record is
the truth it is rebuilt from.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from datagems_core.clock import now, now_iso, now_ms, to_iso
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DatasetDefinition, definition_of
from datagems_core.errors import BadRequest, NotFound
from datagems_core.inference.choice import bill_choice
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import create_job, read_job
from datagems_core.jobs.shards import sharding_for
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore
from datagems_core.stored_model import StoredModel

SCHEDULES_HKEY = "datagen:schedules"
# Slug of a schedule's copy on the orchestrator (`datagems-<schedule id>`); other slugs are
# schedules declared elsewhere (prefect.yaml) that DataGems leaves alone.
ORCHESTRATOR_SLUG_PREFIX = "datagems-"
_CRON_ERRORS = (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError)


def versions_hkey(schedule_id: str) -> str:
    return f"datagen:schedule:{schedule_id}:versions"


def orchestrator_slug(schedule_id: str) -> str:
    return ORCHESTRATOR_SLUG_PREFIX + schedule_id


def new_schedule_id() -> str:
    return f"sched_{now_ms()}_{secrets.token_hex(3)}"


class Schedule(DatasetDefinition):
    """A definition rebuilt on a cron; its budgets are each version's (each job gets them whole),
    and a seed of None lets every version draw its own."""

    id: str
    owner: str
    total_records: int
    cron: str
    timezone: str = "UTC"
    active: bool = True
    created_at: str
    updated_at: str

    def next_run_at(self, after: datetime | None = None) -> str | None:
        """When the cron fires next (UTC ISO), or None while the schedule is paused."""
        if not self.active:
            return None
        start = (after or now()).astimezone(ZoneInfo(self.timezone))
        moment: datetime = croniter(self.cron, start).get_next(datetime)
        return to_iso(moment)


class ScheduleVersion(StoredModel):
    version: int
    job_id: str | None = None
    flow_run_id: str | None = None
    created_at: str


def check_cron(cron: str) -> str:
    """The cron expression, trimmed; BadRequest saying what is wrong otherwise."""
    expression = " ".join(cron.split())
    if any(part.casefold() in ("r", "h") for part in expression.split()):
        raise BadRequest(
            f"cron {cron!r}: random (R) and hashed (H) fields are not supported",
            details={"field": "cron"},
        )
    fields = len(expression.split())
    if fields != 5:
        # croniter reads a sixth field as seconds (or a year): a build every second, or a
        # meaning the user did not intend.
        raise BadRequest(
            f"cron {cron!r} has {fields} fields: use five fields, minute hour day-of-month "
            "month day-of-week, e.g. '0 6 * * 1' for Mondays at 06:00",
            details={"field": "cron", "fields": 5},
        )
    try:
        if not croniter.is_valid(expression):
            raise ValueError("not a cron expression")
        croniter(expression, now())
    except _CRON_ERRORS as exc:
        raise BadRequest(
            f"cron {cron!r} is not valid ({exc}): use five fields, minute hour day-of-month "
            "month day-of-week, e.g. '0 6 * * 1' for Mondays at 06:00",
            details={"field": "cron"},
        ) from None
    return expression


def check_timezone(timezone: str) -> str:
    """An IANA time zone name such as `Europe/Bucharest`; BadRequest otherwise."""
    name = timezone.strip()
    if name not in _timezones():
        raise BadRequest(
            f"timezone {timezone!r} is not an IANA time zone name: use e.g. 'UTC' or "
            "'America/New_York'",
            details={"field": "timezone"},
        )
    return name


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


async def write_schedule(store: KVStore, schedule: Schedule) -> None:
    await store.hset(SCHEDULES_HKEY, schedule.id, schedule.to_record())


async def read_schedule(store: KVStore, schedule_id: str) -> Schedule:
    value = await store.hget(SCHEDULES_HKEY, schedule_id)
    if not isinstance(value, dict):
        raise NotFound(f"schedule {schedule_id} not found")
    return Schedule.model_validate(value)


async def list_schedules(store: KVStore, *, owner: str | None = None) -> list[Schedule]:
    """Schedules (one owner's, or all), newest first."""
    values = await store.hgetall(SCHEDULES_HKEY)
    schedules = [Schedule.model_validate(v) for v in values.values() if isinstance(v, dict)]
    mine = [s for s in schedules if owner is None or s.owner == owner]
    return sorted(mine, key=lambda s: (s.created_at, s.id), reverse=True)


async def delete_schedule(store: KVStore, schedule_id: str) -> None:
    """Remove the schedule and its version index; the jobs it built stay."""
    versions = versions_hkey(schedule_id)
    for field in (await store.hgetall(versions)).keys():
        await store.hset(versions, field, None)
    await store.hset(SCHEDULES_HKEY, schedule_id, None)


async def read_versions(store: KVStore, schedule_id: str) -> list[ScheduleVersion]:
    """The schedule's builds, oldest first."""
    values = await store.hgetall(versions_hkey(schedule_id))
    found = [ScheduleVersion.model_validate(v) for v in values.values() if isinstance(v, dict)]
    return sorted(found, key=lambda v: v.version)


async def list_version_jobs(store: KVStore, schedule_id: str) -> list[Job]:
    """The jobs the schedule built, newest version first (jobs deleted since are left out)."""
    jobs: list[Job] = []
    for entry in reversed(await read_versions(store, schedule_id)):
        if entry.job_id is None:
            continue
        try:
            jobs.append(await read_job(store, entry.job_id))
        except NotFound:
            continue
    return jobs


async def create_version_job(
    store: KVStore,
    files: FileStore,
    settings: Settings,
    schedule: Schedule,
    *,
    build_id: str,
) -> Job:
    """Create the job for the schedule's next version; the same `build_id` gets the same job.

    The caller must be the only builder of this schedule at a time (the build flow holds a lock):
    the store has no compare-and-set, so the version claim relies on it.
    """
    versions = await read_versions(store, schedule.id)
    claim = next((v for v in versions if v.flow_run_id == build_id), None)
    if claim is not None and claim.job_id is not None:
        return await read_job(store, claim.job_id)
    if claim is None:
        number = max((v.version for v in versions), default=0) + 1
        claim = ScheduleVersion(version=number, flow_run_id=build_id, created_at=now_iso())
        await _write_version(store, schedule.id, claim)
    # each version is priced at today's price of its gateway
    inference = await bill_choice(store, settings, schedule.owner, schedule.inference)
    sharding = sharding_for(settings, schedule.total_records)
    job = await create_job(
        store,
        files,
        definition_of(schedule).model_copy(
            update={"title": f"{schedule.title} v{claim.version}", "inference": inference}
        ),
        owner=schedule.owner,
        total_records=schedule.total_records,
        peers=sharding.keys,
        on_peers=sharding.on_peers,
        schedule_id=schedule.id,
        version=claim.version,
        meta={"scheduleId": schedule.id, "version": claim.version, "buildId": build_id},
    )
    await _write_version(store, schedule.id, claim.model_copy(update={"job_id": job.id}))
    return job


async def _write_version(store: KVStore, schedule_id: str, version: ScheduleVersion) -> None:
    await store.hset(versions_hkey(schedule_id), str(version.version), version.to_record())
