"""The dataset definition: what a dataset is, declared once for drafts, jobs, schedules and the CLI.

A definition is the title, description, instructions, record schema, dataset mode, inference
choice, variation seed, quality gates and spend budget. Each record that carries one extends
`DatasetDefinition` with what it adds, so the fields keep their flat camelCase names in the
store (records written before this class existed load as they are):

    Draft(DatasetDefinition)        + owner, when and how the schema was drafted (a signed token)
    JobDetails(DatasetDefinition)   + job id, owner, creation time; the seed is resolved
    Schedule(DatasetDefinition)     + owner, record count, cron, time zone, active flag

`definition_of(record)` gives the bare definition of any of them, which is what `create_job`
takes. `datagems_core.datasets.definitions` checks a definition before it is used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from datagems_core.billing.pricing import Price
from datagems_core.quality.gate_config import GateConfig
from datagems_core.stored_model import StoredModel


class InferenceChoice(StoredModel):
    """How a job reaches its model, without any secret: keys are resolved when the job runs."""

    profile_id: str | None = None
    base_url: str | None = None
    path: str | None = None
    flavour: Literal["auto", "openai", "ratio1"] | None = None
    model: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = Field(None, ge=1)
    api_key_env: str | None = None  # the name of an environment variable, never its value
    # The price per million tokens when the job was created (from the profile or the server's
    # settings); None = unknown, and the job's cost shows as unknown.
    price: Price | None = None
    billed_model: str | None = None  # the model name usage is counted under


class DatasetDefinition(StoredModel):
    """What a dataset is made from; the record count and when it runs are its users' business."""

    title: str
    description: str = ""
    instructions: str
    json_schema: dict[str, Any] = Field(alias="schema")
    dataset_mode: bool = False
    inference: InferenceChoice = Field(default_factory=InferenceChoice)
    seed: int | None = None  # the variation seed; None: each job draws its own
    gates: GateConfig = Field(default_factory=GateConfig)
    # The spend budget: most candidates (None: DATAGEMS_MAX_CANDIDATES_FACTOR x N), tokens and
    # USD at the job's price (None: no limit). A job's live budget is on the job record, where
    # `datagems resume --max-candidates` and POST /api/jobs/{id}/retry raise it.
    max_candidates: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None


DEFINITION_FIELDS: frozenset[str] = frozenset(DatasetDefinition.model_fields)


def definition_of(record: DatasetDefinition) -> DatasetDefinition:
    """The bare definition of a draft, job details, schedule (or a definition itself)."""
    if type(record) is DatasetDefinition:
        return record
    return DatasetDefinition.model_validate(
        {name: getattr(record, name) for name in DEFINITION_FIELDS}
    )
