"""Schema sanitising, meta-validation and record validation with JSON paths."""

from __future__ import annotations

import pytest

from datagems_core.errors import SchemaError
from datagems_core.schemas import (
    DRAFT_2020_12,
    record_validator,
    sanitize_schema,
    validate_record,
    validate_schema,
)


def _schema(**properties):
    return {
        "$schema": DRAFT_2020_12,
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def test_sanitize_schema_fills_the_seed_defaults_and_warns():
    schema, warnings = sanitize_schema({"properties": {"name": {"type": "string"}}})
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["type"] == "object"
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert len(warnings) == 4


def test_sanitize_schema_normalises_shorthand_properties():
    schema, warnings = sanitize_schema(
        {
            "type": "object",
            "properties": {
                "age": "integer",
                "tags": ["a", "b"],
                "kind": {"@type": "string", "description": "x"},
                "flag": True,
                "note": {"description": "no type at all"},
                "ok": {"type": ["string", "null"]},
                "ref": {"$ref": "#/$defs/thing"},
            },
            "required": ["age"],
            "additionalProperties": True,
        }
    )
    props = schema["properties"]
    assert props["age"] == {"type": "integer"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["kind"] == {"type": "string", "description": "x"}
    assert props["flag"] == {"type": "boolean"}
    assert props["note"] == {"description": "no type at all", "type": "string"}
    assert props["ok"] == {"type": ["string", "null"]}
    assert props["ref"] == {"$ref": "#/$defs/thing"}
    assert schema["required"] == ["age"]
    assert schema["additionalProperties"] is True
    assert any("$.properties.age" in w for w in warnings)


def test_sanitize_schema_keeps_a_json_schema_dialect_and_unknown_keys():
    schema, _ = sanitize_schema(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "fields": [1],
            "properties": {"a": {"type": "string"}},
        }
    )
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["fields"] == [1]


def test_sanitize_schema_does_not_mutate_its_input():
    original = {"properties": {"a": "string"}}
    sanitize_schema(original)
    assert original == {"properties": {"a": "string"}}


def test_sanitize_schema_rejects_a_non_object():
    with pytest.raises(SchemaError, match=r"^\$: the schema must be a JSON object"):
        sanitize_schema(["not", "a", "schema"])


def test_validate_schema_accepts_a_good_schema():
    validate_schema(_schema(name={"type": "string", "format": "email"}))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (_schema(age={"type": "int"}), r"^\$\.properties\.age\.type: 'int' is not a JSON type"),
        (_schema(n={"type": "number", "minimum": "zero"}), r"^\$\.properties\.n\.minimum: "),
        (_schema(s={"type": "string", "pattern": "(unclosed"}), r"^\$\.properties\.s\.pattern: "),
        ({**_schema(a={"type": "string"}), "type": "array"}, r"^\$\.type: .*'object'"),
        (_schema(), r"^\$\.properties: .*at least one property"),
        ({**_schema(a={"type": "string"}), "required": ["a", "b"]}, r"'b' is required"),
        ({**_schema(a={"type": "string"}), "required": "a"}, r"^\$\.required: "),
    ],
)
def test_validate_schema_says_where_and_what(schema, message):
    with pytest.raises(SchemaError, match=message):
        validate_schema(schema)


def test_validate_record_reports_json_paths():
    schema = _schema(
        address={
            "type": "object",
            "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["zip"],
        },
        tags={"type": "array", "items": {"type": "integer"}},
    )
    errors = validate_record(record_validator(schema), {"address": {"zip": "x"}, "tags": [1, "b"]})
    assert errors == [
        "$.address.zip: 'x' does not match '^[0-9]{5}$'",
        "$.tags[1]: 'b' is not of type 'integer'",
    ]


def test_validate_record_reports_missing_and_extra_properties():
    validator = record_validator(_schema(a={"type": "string"}))
    errors = validate_record(validator, {"b": 1})
    assert any("'a' is a required property" in e for e in errors)
    assert any("Additional properties are not allowed ('b'" in e for e in errors)


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2024-02-30"),
        ("date-time", "2024-02-01T10:00:00Z", "yesterday at noon"),
        ("email", "ada@example.com", "ada at example"),
        ("uri", "https://example.com/x", "not a uri"),
        ("uuid", "123e4567-e89b-42d3-a456-426614174000", "123"),
    ],
)
def test_validate_record_checks_formats(fmt, good, bad):
    validator = record_validator(_schema(v={"type": "string", "format": fmt}))
    assert validate_record(validator, {"v": good}) == []
    assert validate_record(validator, {"v": bad}) == [f"$.v: {bad!r} is not a {fmt!r}"]


def test_record_validator_is_built_once_per_schema():
    schema = _schema(a={"type": "string"})
    assert record_validator(schema) is record_validator(dict(schema))
