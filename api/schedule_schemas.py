"""Request and response bodies of the schedules routes (camelCase on the wire).

A schedule's dataset definition takes the jobs routes' fields (api/job_schemas.py); a field added
there goes in `SchedulePatch` too, to change it later.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from api.job_schemas import (
    DRAFT_OR_FIELDS,
    EXAMPLE_DEFINITION,
    DefinitionFields,
    Description,
    GateFields,
    InferenceRequest,
    Instructions,
    RecordCount,
    Seed,
    SpendFields,
    Title,
)
from api.schemas import ApiModel, ApiRequest
from datagems_core.jobs.models import Job
from datagems_core.jobs.schedules import Schedule

Cron = Annotated[
    str,
    StringConstraints(min_length=9, max_length=200),
    Field(
        description="Five fields: minute hour day-of-month month day-of-week",
        # documented only: the core's check explains a wrong cron better than a regex error
        json_schema_extra={"pattern": r"^\s*\S+(\s+\S+){4}\s*$", "examples": ["0 6 * * 1"]},
    ),
]
TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), Field(description="An IANA name")
]


class ScheduleCreate(DefinitionFields, GateFields, SpendFields):
    """A definition built on a cron; `maxTokens` / `maxCostUsd` are each version's budget."""

    model_config = ConfigDict(
        json_schema_extra={
            **DRAFT_OR_FIELDS,
            "examples": [{**EXAMPLE_DEFINITION, "cron": "0 6 * * 1", "timezone": "UTC"}],
        }
    )

    total_records: RecordCount
    max_candidates: StrictInt | None = None
    cron: Cron
    timezone: TimeZone = "UTC"
    active: StrictBool = True


class SchedulePatch(ApiRequest):
    """Fields to change; those left out stay as they are."""

    title: Title | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    dataset_mode: StrictBool | None = None
    inference: InferenceRequest | None = None
    seed: Seed | None = None
    total_records: RecordCount | None = None
    max_tokens: int | None = Field(None, strict=True)
    max_cost_usd: float | None = Field(None, allow_inf_nan=False)
    cron: Cron | None = None
    timezone: TimeZone | None = None
    active: StrictBool | None = None


class ScheduleView(Schedule):
    """A schedule as stored, with when it fires next and its latest version."""

    next_run: str | None = Field(alias="nextRunAt")  # `next_run_at` is Schedule's method
    latest_version: int | None
    deployment: str


class SchedulePublic(ApiModel):
    schedule: ScheduleView
    warnings: list[str] = Field(default_factory=list)


class SchedulesPublic(ApiModel):
    schedules: list[ScheduleView]
    count: int


class ScheduleJobsPublic(ApiModel):
    schedule_id: str
    jobs: list[Job]
    count: int
