"""Quality gates on single records: lint, unique fields, exact and near duplicates, their config."""

from __future__ import annotations

import pytest

from datagems_core.errors import BadRequest
from datagems_core.jobs.candidates import CandidatePlan, budget_message
from datagems_core.jobs.models import IndexRange, Job, Shard
from datagems_core.quality.gate_config import GateConfig, JudgeConfig, check_gate_config
from datagems_core.quality.gates import GateIndex, lint_record

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "city": {"type": "string"},
        "plan": {"type": "string", "enum": ["string", "pro"]},
        "bio": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}},
            "required": ["street"],
        },
    },
    "required": ["name", "city"],
}


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"name": "  ", "city": "Oslo"}, "$.name: a required string is empty"),
        ({"name": "Name", "city": "Oslo"}, "$.name: the value repeats its property name"),
        ({"name": "Ann", "city": "string"}, "$.city: the value is a JSON type name"),
        ({"name": "N/A", "city": "Oslo"}, "$.name: the value is a placeholder"),
        ({"name": "TODO", "city": "Oslo"}, "$.name: the value is a placeholder"),
        ({"name": "Ann", "city": "Oslo", "bio": "Lorem ipsum dolor"}, "$.bio: the value is a"),
        ({"name": "Ann", "city": "Oslo", "tags": ["ok", "example"]}, "$.tags[1]: the value is"),
        ({"name": "Ann", "city": "Oslo", "address": {"street": ""}}, "$.address.street: a req"),
    ],
)
def test_lint_names_the_path_and_the_problem(record, problem):
    assert (lint_record(record, SCHEMA) or "").startswith(problem)


def test_lint_passes_real_values_optional_empties_and_enum_members():
    assert (
        lint_record({"name": "Ann Lee", "city": "Oslo", "bio": "", "plan": "string"}, SCHEMA)
        is None
    )
    assert lint_record({"name": "ann@example.com", "city": "Nameless"}, SCHEMA) is None


def test_exact_duplicates_are_found_whatever_the_key_order():
    index = GateIndex(GateConfig(near_duplicate_threshold=None), SCHEMA)
    index.add_record({"name": "Ann", "city": "Oslo"})
    rejection = index.find_duplicate(index.fingerprint({"city": "Oslo", "name": "Ann"}))
    assert rejection is not None and rejection.gate == "duplicate"
    assert index.find_duplicate(index.fingerprint({"city": "Oslo", "name": "Bo"})) is None


def test_unique_fields_compare_strings_without_case_or_spacing():
    index = GateIndex(GateConfig(unique_fields=["name"], near_duplicate_threshold=None), SCHEMA)
    index.add_record({"name": "Ann  Lee", "city": "Oslo"})
    rejection = index.find_duplicate(index.fingerprint({"name": " ann lee", "city": "Rome"}))
    assert rejection is not None and rejection.gate == "unique"
    assert "$.name" in rejection.reason


def test_near_duplicates_need_the_threshold_and_can_be_turned_off():
    base = {
        "name": "Ann Lee",
        "city": "Oslo",
        "bio": "Runs a small bakery by the harbour and sings in the choir on Sundays",
    }
    near = {**base, "bio": base["bio"] + "."}
    other = {**base, "bio": "Repairs vintage motorcycles in a garage outside the city walls"}
    index = GateIndex(GateConfig(), SCHEMA)
    index.add_record(base)
    rejection = index.find_duplicate(index.fingerprint(near))
    assert rejection is not None and rejection.gate == "near_duplicate"
    assert index.find_duplicate(index.fingerprint(other)) is None
    off = GateIndex(GateConfig(near_duplicate_threshold=None), SCHEMA)
    off.add_record(base)
    assert off.find_duplicate(off.fingerprint(near)) is None


def test_near_duplicates_compare_every_scalar_not_only_the_strings():
    index = GateIndex(GateConfig(), SCHEMA)
    index.add_record({"name": "coral", "age": 71, "plan": "pro", "active": True})
    differs = {"name": "coral", "age": 5, "plan": "pro", "active": False}
    assert index.find_duplicate(index.fingerprint(differs)) is None
    same_text = {"name": "Coral ", "age": 71.0, "plan": "pro", "active": True}
    rejection = index.find_duplicate(index.fingerprint(same_text))
    assert rejection is not None and rejection.gate == "near_duplicate"


@pytest.mark.parametrize(
    ("gates", "field"),
    [
        (GateConfig(unique_fields=["nope"]), "uniqueFields"),
        (GateConfig(near_duplicate_threshold=1.5), "nearDuplicateThreshold"),
        (GateConfig(near_duplicate_threshold=0), "nearDuplicateThreshold"),
        (GateConfig(judge=JudgeConfig(rubric="good", min_score=6)), "judge.minScore"),
        (GateConfig(judge=JudgeConfig(rubric="  ", min_score=3)), "judge.rubric"),
    ],
)
def test_a_gate_config_that_cannot_work_is_a_400_naming_the_field(gates, field):
    with pytest.raises(BadRequest) as raised:
        check_gate_config(gates, SCHEMA)
    assert raised.value.details["field"] == field
    assert raised.value.message.startswith(field)


def test_candidate_plans_of_shards_never_share_an_index():
    job = Job(
        id="j",
        owner="o",
        title="t",
        total_records=10,
        created_at="",
        updated_at="",
        job_details_cid="c",
        peers=["a", "b", "c"],
    )
    ranges = {"a": (0, 4), "b": (4, 7), "c": (7, 10)}
    seen = set()
    for key, (start, end) in ranges.items():
        shard = Shard(
            shard_key=key, peer_id=key, assigned=end - start, range=IndexRange(start=start, end=end)
        )
        plan = CandidatePlan(shard=shard, job=job, budget=20)
        indices = list(plan)
        assert indices == sorted(indices) and indices[: end - start] == list(range(start, end))
        assert all(plan.position_of(i) == p for p, i in enumerate(indices))
        assert not seen & set(indices)
        seen |= set(indices)


def test_budget_message_counts_rejections_by_gate():
    message = budget_message(940, 1000, {"judge": 7, "invalid": 31, "duplicate": 22})
    assert message == (
        "candidate budget spent: 940 of 1000 accepted; rejected: 31 invalid, 22 duplicate, 7 judge"
    )
