"""One dataset definition for drafts, jobs and schedules; records written before it keep loading.

`fixtures/stored_before_definition.json` holds a job, its details file, a schedule and a draft
token's payload exactly as main wrote them before `DatasetDefinition` existed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import (
    DEFINITION_FIELDS,
    DatasetDefinition,
    InferenceChoice,
    definition_of,
)
from datagems_core.datasets.definitions import build_definition
from datagems_core.datasets.drafts import Draft, issue_draft_token, read_draft_token
from datagems_core.errors import BadRequest, SchemaError
from datagems_core.jobs.models import Job, JobDetails
from datagems_core.jobs.repository import read_details, read_job
from datagems_core.jobs.schedules import Schedule, create_version_job, write_schedule
from datagems_core.quality.gate_config import GateConfig
from datagems_core.store.files.local import LocalFileStore
from datagems_core.store.memory import MemoryStore
from tests.support.schemas import PERSON_SCHEMA
from tests.support.settings import make_settings

OLD = json.loads((Path(__file__).parent / "fixtures" / "stored_before_definition.json").read_text())


def _settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def test_an_old_schedule_loads_with_its_whole_definition_and_writes_back_the_same_record():
    schedule = Schedule.model_validate(OLD["schedule"])
    assert schedule.title == "Customers" and schedule.cron == "0 6 * * 1"
    assert schedule.json_schema == OLD["schedule"]["schema"]
    assert schedule.gates.unique_fields == ["name"] and schedule.gates.judge is not None
    assert (schedule.max_candidates, schedule.max_tokens, schedule.max_cost_usd) == (30, 5000, 1.25)
    assert schedule.inference.price is not None and schedule.inference.concurrency == 4
    assert schedule.to_record() == OLD["schedule"], "the stored shape did not change"


def test_old_job_and_details_load_and_the_details_are_the_jobs_definition():
    job = Job.model_validate(OLD["job"])
    details = JobDetails.model_validate(OLD["jobDetails"])
    assert job.to_record() == OLD["job"]
    assert details.seed == 42 and details.dataset_mode is True
    assert list(details.json_schema["properties"]) == ["name", "age"], "property order kept"
    definition = definition_of(details)
    assert type(definition) is DatasetDefinition
    assert definition.title == "Customers" and definition.gates.judge is not None
    # budgets were on the job only: the old details have none, and the job's are what count
    assert definition.max_candidates is None and job.max_candidates == 30
    record = details.to_record()
    assert {k: v for k, v in record.items() if k in OLD["jobDetails"]} == OLD["jobDetails"]


def test_an_old_draft_payload_reads_as_a_draft(tmp_path):
    settings = _settings(tmp_path)
    draft = Draft.model_validate(OLD["draft"])
    assert draft.inference.profile_id == "prof_1" and draft.seed is None
    token = issue_draft_token(settings, draft)
    assert read_draft_token(settings, token, username="alice") == draft


async def test_an_old_schedule_builds_its_next_version_from_its_definition(tmp_path):
    settings = _settings(tmp_path)
    store = MemoryStore()
    files = LocalFileStore(root=tmp_path / "files")
    old = dict(OLD["schedule"], inference={})  # the profile of the fixture does not exist here
    schedule = Schedule.model_validate(old)
    await write_schedule(store, schedule)
    job = await create_version_job(store, files, settings, schedule, build_id="b1")
    stored = await read_job(store, job.id)
    assert (stored.title, stored.version, stored.total_records) == ("Customers v1", 1, 10)
    assert (stored.max_candidates, stored.max_tokens, stored.max_cost_usd) == (30, 5000, 1.25)
    details = await read_details(files, stored)
    assert details.json_schema == schedule.json_schema and details.gates == schedule.gates
    assert details.seed >= 0, "a schedule without a seed gets one per version"


def test_every_record_with_a_definition_declares_its_fields_once():
    for record in (Draft, JobDetails, Schedule):
        assert issubclass(record, DatasetDefinition)
        assert DEFINITION_FIELDS <= set(record.model_fields)


def _changes(**given: Any) -> dict[str, Any]:
    return {
        "title": "People",
        "instructions": "Fictional people",
        "json_schema": PERSON_SCHEMA,
    } | given


async def test_build_definition_applies_changes_over_a_base_and_checks_them_together(tmp_path):
    settings, store = _settings(tmp_path), MemoryStore()
    base = DatasetDefinition(
        title="Base", instructions="Old", schema=PERSON_SCHEMA, dataset_mode=True,
        inference=InferenceChoice(parameters={"temperature": 0.2}, concurrency=3),
        gates=GateConfig(unique_fields=["name"]),
    )  # fmt: skip
    checked = await build_definition(
        store, settings, "ann", base=base,
        changes={"title": "New", "inference": InferenceChoice(concurrency=5), "seed": None},
        total_records=10,
    )  # fmt: skip
    definition = checked.definition
    assert (definition.title, definition.instructions, definition.dataset_mode) == (
        "New", "Old", True,
    )  # fmt: skip
    assert definition.inference.concurrency == 5
    assert definition.inference.parameters == {"temperature": 0.2}, "the base's choice kept"
    assert definition.gates.unique_fields == ["name"]


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"max_candidates": 3}, "maxCandidates"),
        ({"gates": GateConfig(unique_fields=["nope"])}, "uniqueFields"),
        ({"json_schema": {"type": "object", "properties": {"a": {"type": "nope"}}}}, "schema"),
    ],
)
async def test_build_definition_names_the_field_at_fault(tmp_path, given, field):
    with pytest.raises(BadRequest) as caught:
        await build_definition(
            MemoryStore(), _settings(tmp_path), "ann", base=None,
            changes=_changes(**given), total_records=10,
        )  # fmt: skip
    assert field in caught.value.message or caught.value.details.get("field") == field


async def test_build_definition_without_a_base_needs_title_instructions_and_schema(tmp_path):
    with pytest.raises(BadRequest) as caught:
        await build_definition(
            MemoryStore(), _settings(tmp_path), "ann", base=None,
            changes={"title": "x"}, total_records=1,
        )  # fmt: skip
    assert caught.value.details == {"field": "draftToken"}
    assert not isinstance(caught.value, SchemaError)
