"""Request and response bodies of the jobs routes (camelCase on the wire); the schedules routes'
own are in api/schedule_schemas.py and build on the definition fields here.

Text limits follow the seed's zod schemas (title 1..200, description ..2000, instructions
1..8000). Record counts and concurrency are checked against the settings by the core, which
names the setting in its 400; api/openapi.py writes those ceilings into the document. Numbers
and flags are strict: `true` is not a record count.

Responses reuse the stored models (`Job`, `Shard`, `JobDetails`, `Schedule`): a field added to
one of them is in the answers and in /openapi.json with no change here. A field added to
`DatasetDefinition` goes in `DefinitionFields` (and `SchedulePatch`, to change it later) under
the same Python name: `api.job_checks.definition_changes` passes every such field to the core.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from api.schemas import ApiModel, ApiRequest
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.models import Job, JobDetails, Shard
from datagems_core.quality.gate_config import (
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    GateConfig,
    JudgeConfig,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Instructions = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)
]
Seed = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
# 1..DATAGEN_MAX_RECORDS_PER_JOB: the core checks it and names the setting (api/openapi.py
# documents the ceiling).
RecordCount = Annotated[StrictInt, Field(json_schema_extra={"minimum": 1})]
Concurrency = Annotated[StrictInt, Field(ge=1)]


# The draft-or-fields rule of DefinitionFields, for /openapi.json (pydantic checks it below).
DRAFT_OR_FIELDS: dict[str, Any] = {
    "anyOf": [{"required": ["draftToken"]}, {"required": ["title", "instructions", "schema"]}]
}
EXAMPLE_DEFINITION: dict[str, Any] = {
    "title": "Customers",
    "description": "Fictional customers of a software shop",
    "instructions": "One customer per record, with a realistic name and plan",
    "schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "plan": {"type": "string", "enum": ["free", "pro", "team"]},
        },
        "required": ["name", "age", "plan"],
        "additionalProperties": False,
    },
    "totalRecords": 5,
}


class InferenceRequest(ApiRequest):
    """Which gateway a job uses: one of the user's profiles (else this server's gateway)."""

    profile_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    parameters: dict[str, JsonValue] = Field(
        default_factory=dict, description="Sent with every model call, e.g. temperature"
    )
    concurrency: Concurrency | None = None

    def to_choice(self) -> InferenceChoice:
        # Only the fields the caller gave, so a draft's choice keeps the others.
        return InferenceChoice(**self.model_dump(exclude_unset=True))


class SchemaDraftRequest(ApiRequest):
    title: Title
    description: Description = ""
    instructions: Instructions
    dataset_mode: StrictBool = False
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
    tokens: TokenUsage


class DefinitionFields(ApiRequest):
    """A dataset definition given as a draft token or written out in full."""

    model_config = ConfigDict(json_schema_extra=DRAFT_OR_FIELDS)

    draft_token: Annotated[str, Field(max_length=200_000)] | None = None
    title: Title | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    dataset_mode: StrictBool | None = None
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


class JudgeRequest(ApiRequest):
    """`{"rubric": "...", "minScore": 1..5, "profileId" | "model": ...}`; checked by the core."""

    rubric: Annotated[str, Field(max_length=4000)]
    min_score: StrictInt = 3
    profile_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class GateFields(ApiRequest):
    """The quality gates of a job's candidates (schema and exact duplicates always apply)."""

    lint: StrictBool = True
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


class SpendFields(ApiRequest):
    """A spend budget: the job stops, failed and keeping what it accepted, when it is reached."""

    max_tokens: int | None = Field(None, strict=True)
    max_cost_usd: float | None = Field(None, allow_inf_nan=False)


class JobCreate(DefinitionFields, GateFields, SpendFields):
    model_config = ConfigDict(
        json_schema_extra={**DRAFT_OR_FIELDS, "examples": [EXAMPLE_DEFINITION]}
    )

    total_records: RecordCount
    max_candidates: StrictInt | None = None
    shards: StrictInt | None = None  # 1..64, at most totalRecords (default DATAGEMS_SHARDS)
    estimate_id: (
        Annotated[
            str,
            Field(
                max_length=64,
                description="The `estimateId` POST /api/jobs/estimate gave for this definition: "
                "its sample becomes the job's first candidates (ignored by the estimate itself)",
            ),
        ]
        | None
    ) = None


class JobRetry(SpendFields):
    """Continue a failed or cancelled job; `maxCandidates` raises its candidate budget,
    `maxTokens` / `maxCostUsd` its spend budget."""

    max_candidates: StrictInt | None = None


class JobPublic(ApiModel):
    job: Job
    warnings: list[str] = Field(default_factory=list)


class JobsPublic(ApiModel):
    jobs: list[Job]
    count: int
    offset: int
    limit: int


class Progress(ApiModel):
    done: int
    ok: int
    failed: int
    total: int
    percent: float
    retry_pass: int


class Timings(ApiModel):
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    queued_ms: float | None
    records_duration_ms: float | None


class DetailsUnavailable(ApiModel):
    error: str


class JobView(ApiModel):
    """One job in full: live progress summed from its shards, and its definition."""

    job: Job
    shards: list[Shard]
    progress: Progress
    timings: Timings
    failure_reasons: dict[str, int]
    tokens: TokenUsage
    details: JobDetails | DetailsUnavailable
    flow_run_id: str | None
    prefect_url: str | None


class RecordPublic(ApiModel):
    index: int
    ok: bool
    data: dict[str, Any] | None = Field(description="The record, shaped by the job's schema")
    error: str | None
    attempts: int
    variation: dict[str, Any] = Field(description="Values the prompt asked the model to use")
    tokens: TokenUsage
    duration_ms: float | None


class RecordsPublic(ApiModel):
    records: list[RecordPublic]
    count: int
    offset: int
    limit: int
    # Where the next page starts when this one stopped early at DATAGEMS_MAX_RECORDS_PAGE_BYTES
    # or more records follow; null at the end.
    next_offset: int | None = None
