"""The record contract: results as JSON, variation and prompts."""

from __future__ import annotations

import json

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.prompts import (
    DATASET_RECORD_SYSTEM_PROMPT,
    reask_prompt,
    record_messages,
    schema_messages,
    variation_prompt,
)
from datagems_core.datasets.record_maker import (
    RecordResult,
    RecordSpec,
    TokenUsage,
    open_record_maker,
)
from datagems_core.datasets.schemas import record_validator, validate_record
from datagems_core.datasets.variation import sample_variation
from datagems_core.errors import SchemaError

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "record_id": {"type": "string", "format": "uuid"},
        "text": {"type": "string"},
        "channel": {"type": "string", "enum": ["email", "phone", "chat"]},
        "priority": {"type": "integer", "enum": [1, 2, 3]},
        "minutes": {"type": "number", "minimum": 0.5, "maximum": 90, "multipleOf": 0.5},
        "label": {"type": "string", "enum": ["urgent", "routine", "spam", "other"]},
    },
    "required": ["record_id", "text", "channel", "priority", "minutes", "label"],
    "additionalProperties": False,
}


def test_record_result_round_trips_through_json():
    result = RecordResult(
        index=7,
        ok=True,
        data={"a": 1},
        error=None,
        attempts=2,
        variation={"label": "x"},
        usage=TokenUsage(3, 4, 7),
        duration_ms=12.3456,
    )
    encoded = result.to_json()
    assert encoded == {
        "index": 7,
        "ok": True,
        "data": {"a": 1},
        "error": None,
        "attempts": 2,
        "variation": {"label": "x"},
        "usage": {"prompt": 3, "completion": 4, "total": 7},
        "durationMs": 12.346,
    }
    assert RecordResult.from_json(encoded) == RecordResult.from_json(json.dumps(encoded))
    back = RecordResult.from_json(json.dumps(encoded))
    assert back.usage == TokenUsage(3, 4, 7) and back.data == {"a": 1} and back.index == 7


def test_failed_record_result_from_json():
    back = RecordResult.from_json({"index": 1, "ok": False, "error": "boom", "attempts": 3})
    assert back.error == "boom" and back.data is None and back.usage == TokenUsage()


def test_variation_is_deterministic_valid_and_balances_labels():
    validator = record_validator(SCHEMA)
    variations = [sample_variation(SCHEMA, seed=5, index=i, dataset_mode=True) for i in range(40)]
    assert variations == [
        sample_variation(SCHEMA, seed=5, index=i, dataset_mode=True) for i in range(40)
    ]
    labels = [v["label"] for v in variations]
    for window in range(0, 40, 4):
        assert sorted(labels[window : window + 4]) == ["other", "routine", "spam", "urgent"]
    for variation in variations:
        assert 2 <= len(variation) <= 3
        assert "record_id" not in variation
        record = {
            "record_id": "123e4567-e89b-42d3-a456-426614174000",
            "text": "t",
            "channel": "email",
            "priority": 1,
            "minutes": 1.0,
            "label": "spam",
            **variation,
        }
        assert validate_record(validator, record) == []
    assert len({json.dumps(v, sort_keys=True) for v in variations}) > 20


def test_variation_outside_dataset_mode_and_without_enums():
    plain = sample_variation(SCHEMA, seed=1, index=0, dataset_mode=False)
    assert 1 <= len(plain) <= 3
    bare = {"type": "object", "properties": {"text": {"type": "string"}}}
    assert sample_variation(bare, seed=1, index=0, dataset_mode=True) == {}


def test_record_prompts_carry_schema_dataset_rules_and_variation():
    messages = record_messages(instructions=" Tickets. ", schema=SCHEMA, dataset_mode=True)
    assert messages[0] == ("system", DATASET_RECORD_SYSTEM_PROMPT)
    assert "label leakage" in messages[0][1] and "example.com" in messages[0][1]
    assert messages[1] == ("user", "Tickets.")
    assert json.dumps(SCHEMA, separators=(",", ":")) in messages[2][1]
    line = variation_prompt(4, {"label": "spam", "minutes": 2.5})
    assert line == (
        "This is record #5; make it different from the others. "
        'Use these values: label = "spam"; minutes = 2.5.'
    )
    assert "- $.a: bad" in reask_prompt(["$.a: bad"])
    assert "label" not in record_messages(instructions="x", schema=SCHEMA, dataset_mode=False)[0][1]


def test_schema_prompts():
    system, user = schema_messages(instructions="Reviews", dataset_mode=True)
    assert "draft 2020-12" in system[1] and '"label"' in system[1]
    assert user[1].startswith("Reviews\n\nReturn ONLY the JSON Schema object.")


async def test_open_record_maker_refuses_an_invalid_schema():
    spec = RecordSpec(instructions="x", schema={"type": "object", "properties": {}})
    with pytest.raises(SchemaError, match="at least one property"):
        async with open_record_maker(settings=load_settings(None), spec=spec, gateway=None):
            pass
