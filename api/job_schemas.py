"""Request and response bodies of the jobs and schedules routes (camelCase on the wire).

Text limits follow the seed's zod schemas (title 1..200, description ..2000, instructions
1..8000). Record counts and concurrency are checked against the settings by the core, which
names the setting in its 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from api.schemas import ApiModel
from datagems_core.gate_config import DEFAULT_NEAR_DUPLICATE_THRESHOLD, GateConfig, JudgeConfig
from datagems_core.job_models import InferenceChoice

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Instructions = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)
]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class InferenceRequest(ApiModel):
    """Which gateway a job uses: one of the user's profiles (else this server's gateway)."""

    profile_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = None

    def to_choice(self) -> InferenceChoice:
        # Only the fields the caller gave, so a draft's choice keeps the others.
        return InferenceChoice(**self.model_dump(exclude_unset=True))


class SchemaDraftRequest(ApiModel):
    title: Title
    description: Description = ""
    instructions: Instructions
    dataset_mode: bool = False
    inference: InferenceRequest | None = None
    previous_draft_token: Annotated[str, Field(max_length=200_000)] | None = None


class SchemaDraft(ApiModel):
    json_schema: dict[str, Any] = Field(alias="schema")
    schema_generated_at: str
    schema_duration_ms: float
    schema_refreshes: int
    draft_token: str
    draft_expires_at: str
    warnings: list[str]
    tokens: dict[str, int]


class DefinitionFields(ApiModel):
    """A dataset definition given as a draft token or written out in full."""

    draft_token: Annotated[str, Field(max_length=200_000)] | None = None
    title: Title | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    dataset_mode: bool | None = None
    inference: InferenceRequest | None = None
    seed: Seed | None = None

    @model_validator(mode="after")
    def _draft_or_fields(self) -> DefinitionFields:
        if self.draft_token is None:
            missing = [
                name
                for name, value in (
                    ("title", self.title),
                    ("instructions", self.instructions),
                    ("schema", self.json_schema),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    "give a draftToken from POST /api/jobs/schema, or title, description, "
                    f"instructions and schema (missing: {', '.join(missing)})"
                )
        return self


class JudgeRequest(ApiModel):
    """`{"rubric": "...", "minScore": 1..5, "profileId" | "model": ...}`; checked by the core."""

    rubric: Annotated[str, Field(max_length=4000)]
    min_score: int = 3
    profile_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class GateFields(ApiModel):
    """The quality gates of a job's candidates (schema and exact duplicates always apply)."""

    lint: bool = True
    unique_fields: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=50)] = (
        Field(default_factory=list)
    )
    near_duplicate_threshold: float | None = DEFAULT_NEAR_DUPLICATE_THRESHOLD
    judge: JudgeRequest | None = None

    def to_gates(self) -> GateConfig:
        judge = JudgeConfig(**self.judge.model_dump()) if self.judge else None
        return GateConfig(
            lint=self.lint,
            unique_fields=self.unique_fields,
            near_duplicate_threshold=self.near_duplicate_threshold,
            judge=judge,
        )


class JobCreate(DefinitionFields, GateFields):
    total_records: int
    max_candidates: int | None = None


class JobRetry(ApiModel):
    """Continue a failed or cancelled job; `maxCandidates` raises its candidate budget."""

    max_candidates: int | None = None


class JobPublic(ApiModel):
    job: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)


class JobsPublic(ApiModel):
    jobs: list[dict[str, Any]]
    count: int
    offset: int
    limit: int


class RecordsPublic(ApiModel):
    records: list[dict[str, Any]]
    count: int
    offset: int
    limit: int


class ScheduleCreate(DefinitionFields, GateFields):
    total_records: int
    max_candidates: int | None = None
    cron: Annotated[str, Field(min_length=1, max_length=200)]
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    active: bool = True


class SchedulePatch(ApiModel):
    """Fields to change; those left out stay as they are."""

    title: Title | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    dataset_mode: bool | None = None
    inference: InferenceRequest | None = None
    seed: Seed | None = None
    total_records: int | None = None
    cron: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    active: bool | None = None


class SchedulePublic(ApiModel):
    schedule: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)


class SchedulesPublic(ApiModel):
    schedules: list[dict[str, Any]]
    count: int


class ScheduleJobsPublic(ApiModel):
    schedule_id: str
    jobs: list[dict[str, Any]]
    count: int
