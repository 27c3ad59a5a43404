"""Which quality gates a job applies to its candidates, and the checks on that choice.

    {"lint": true, "uniqueFields": ["name"], "nearDuplicateThreshold": 0.9,
     "judge": {"rubric": "Realistic and specific", "minScore": 3, "model": "m"}}

Schema validation and exact duplicates always apply. A configuration that cannot work is a
BadRequest naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from datagems_core.errors import BadRequest
from datagems_core.stored_model import StoredModel

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.9
MAX_RUBRIC_CHARS = 4000


class JudgeConfig(StoredModel):
    """One extra model call per candidate scoring it 1..5 against the rubric."""

    rubric: str
    min_score: int = 3
    profile_id: str | None = None  # else the job's own gateway
    model: str | None = None  # else the job's (or the profile's) model


class GateConfig(StoredModel):
    lint: bool = True
    unique_fields: list[str] = Field(default_factory=list)
    near_duplicate_threshold: float | None = DEFAULT_NEAR_DUPLICATE_THRESHOLD
    judge: JudgeConfig | None = None


def check_gate_config(gates: GateConfig, schema: dict[str, Any]) -> GateConfig:
    """`gates` when every setting can work with `schema`; BadRequest naming the field otherwise.

    Whether a judge's profile is the owner's is checked where profiles are (definitions).
    """
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name in gates.unique_fields:
        if name not in (properties or {}):
            known = ", ".join(sorted(properties or {})) or "none"
            raise BadRequest(
                f"uniqueFields: {name!r} is not a property of the record schema "
                f"(its properties: {known})",
                details={"field": "uniqueFields", "value": name},
            )
    threshold = gates.near_duplicate_threshold
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise BadRequest(
            f"nearDuplicateThreshold must be above 0 and at most 1 (or null to turn the gate "
            f"off), got {threshold}",
            details={"field": "nearDuplicateThreshold"},
        )
    judge = gates.judge
    if judge is not None:
        if not 1 <= judge.min_score <= 5:
            raise BadRequest(
                f"judge.minScore must be between 1 and 5, got {judge.min_score}",
                details={"field": "judge.minScore"},
            )
        if not judge.rubric.strip() or len(judge.rubric) > MAX_RUBRIC_CHARS:
            raise BadRequest(
                f"judge.rubric must say what a good record is, in 1 to {MAX_RUBRIC_CHARS} "
                "characters",
                details={"field": "judge.rubric"},
            )
    deduplicated = list(dict.fromkeys(gates.unique_fields))
    return gates.model_copy(update={"unique_fields": deduplicated})
