"""Schema sanitising, meta-validation and record validation with JSON paths."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from datagems_core.datasets.schemas import (
    DRAFT_2020_12,
    FORMAT_CHECKER,
    NO_RETRIEVAL,
    ReferenceValidator,
    record_validator,
    sanitize_schema,
    validate_record,
    validate_schema,
)
from datagems_core.errors import SchemaError


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


_EDGE_VALUES = {
    "date": ["2024-02-29", "2023-02-29", "2024-1-01", "2024-01-01T00:00:00Z", "20240101", ""],
    "date-time": [
        "2024-01-01T00:00:00Z",
        "2024-01-01t00:00:00z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00.123+05:30",
    ],
    "time": ["10:00:00Z", "10:00:00", "25:00:00Z"],
    "email": ["a@b.co", "a@b", "a b@c.de", "é@ü.de", "@b.co", "a@@b.co"],
    "uri": ["https://x.io/a?b#c", "mailto:a@b.co", "x", "http://exa mple.com", "1http://x"],
    "url": ["https://x.io", "x.io"],
    "uri-reference": ["/a/b", "a b", "#frag"],
    "hostname": ["example.com", "-bad.com", "a" * 64 + ".com", "localhost"],
    "uuid": [
        "123e4567-e89b-42d3-a456-426614174000",
        "123e4567e89b42d3a456426614174000",
        "{123e4567-e89b-42d3-a456-426614174000}",
        "123E4567-E89B-42D3-A456-426614174000",
    ],
    "ipv4": ["127.0.0.1", "256.0.0.1", "01.2.3.4"],
    "ipv6": ["::1", "1::2::3", "fe80::1%eth0"],
    "duration": ["P1D", "one day"],
    "regex": ["^a+$", "("],
}


@pytest.mark.parametrize("fmt", sorted(_EDGE_VALUES))
def test_compiled_and_reference_validators_agree_on_formats(fmt):
    # The compiled validator decides valid records alone, so it must never pass a value the
    # reference (python-jsonschema with our format checker) refuses, nor refuse one it passes.
    schema = _schema(v={"type": "string", "format": fmt})
    validator = record_validator(schema)
    reference = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    for value in _EDGE_VALUES[fmt]:
        record = {"v": value}
        assert validator._compiled.is_valid(record) == reference.is_valid(record), value
        assert (validate_record(validator, record) == []) == reference.is_valid(record), value


def test_compiled_and_reference_validators_agree_on_types_and_keywords():
    schema = _schema(
        n={"type": "integer", "minimum": 1, "exclusiveMaximum": 5},
        x={"type": "number", "multipleOf": 0.5},
        s={"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"},
        e={"enum": ["a", 1, None]},
        t={"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": True},
        o={"type": "object", "properties": {"k": {"const": True}}, "required": ["k"]},
    )
    validator = record_validator(schema)
    # The reference matches `pattern` with the same linear-time engine (ECMA-262 `$`: no match
    # before a trailing newline, where Python's `re` would match).
    reference = ReferenceValidator(schema, format_checker=FORMAT_CHECKER, registry=NO_RETRIEVAL)
    good = {"n": 1, "x": 1.5, "s": "ab", "e": None, "t": ["a"], "o": {"k": True}}
    variants = [
        good,
        {**good, "n": 1.0},
        {**good, "n": True},
        {**good, "n": 5},
        {**good, "x": 1.25},
        {**good, "s": "ab\n"},
        {**good, "s": "ünï"},
        {**good, "s": "abcd"},
        {**good, "e": 1.0},
        {**good, "e": False},
        {**good, "t": ["a", "a"]},
        {**good, "t": ["a", "b", "c"]},
        {**good, "o": {"k": 1}},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "n"},
    ]
    for record in variants:
        assert (validate_record(validator, record) == []) == reference.is_valid(record), record
