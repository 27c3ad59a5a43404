"""The mock gateway: schema-valid, deterministic records across many kinds of schema."""

from __future__ import annotations

import random

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.datasets.record_maker import RecordSpec, open_record_maker
from datagems_core.datasets.schemas import record_validator, validate_record, validate_schema
from datagems_core.inference.mock import MockUnsupported, generate_record
from datagems_core.inference.mock_schema import draft_mock_schema
from datagems_core.inference.patterns import UnsupportedPattern, generate_matching


def _object(properties, required=None, **extra):
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


SCHEMAS = {
    "scalars": _object(
        {
            "s": {"type": "string"},
            "short": {"type": "string", "minLength": 3, "maxLength": 5},
            "i": {"type": "integer", "minimum": -5, "maximum": 5},
            "n": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
            "step": {"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 0.1},
            "five": {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 5},
            "half": {"type": "number", "multipleOf": 0.5},
            "big": {"type": "integer", "minimum": 5000},
        }
    ),
    "formats": _object(
        {
            fmt.replace("-", "_"): {"type": "string", "format": fmt}
            for fmt in ("date", "date-time", "time", "email", "uri", "uuid", "hostname", "ipv4")
        }
    ),
    "enums_consts": _object(
        {
            "color": {"enum": ["red", "green", "blue"]},
            "version": {"const": 2},
            "mixed": {"enum": [1, "two", None]},
        }
    ),
    "patterns": _object(
        {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "slug": {"type": "string", "pattern": "^(foo|bar)_[a-z0-9]+$"},
            "phone": {"type": "string", "pattern": "^\\+1 \\(\\d{3}\\) \\d{3}-\\d{4}$"},
            "loose": {"type": "string", "pattern": "[0-9]+"},
            "optional": {"type": "string", "pattern": "^ab?c*(?:de){2}$"},
        }
    ),
    "arrays": _object(
        {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
            "unique": {
                "type": "array",
                "items": {"enum": ["a", "b", "c"]},
                "minItems": 3,
                "maxItems": 3,
                "uniqueItems": True,
            },
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
            "empty_ok": {"type": "array", "items": {"type": "integer"}, "maxItems": 0},
        }
    ),
    "nested_refs": _object(
        {
            "person": {"$ref": "#/$defs/person"},
            "friends": {"type": "array", "items": {"$ref": "#/$defs/person"}, "maxItems": 2},
            "either": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]},
            "one": {"oneOf": [{"type": "string", "format": "email"}, {"type": "integer"}]},
            "maybe": {"type": ["null", "string"], "maxLength": 4},
            "both": {"allOf": [{"type": "integer"}, {"minimum": 3, "maximum": 4}]},
        },
        **{
            "$defs": {
                "person": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "born": {"type": "string", "format": "date"},
                        "address": {
                            "type": "object",
                            "properties": {"zip": {"type": "string", "pattern": "^\\d{5}$"}},
                            "required": ["zip"],
                            "additionalProperties": False,
                        },
                    },
                    "required": ["name", "address"],
                    "additionalProperties": False,
                }
            }
        },
    ),
    "optional_fields": _object(
        {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}},
        required=["a"],
        minProperties=2,
    ),
    "drafted": draft_mock_schema(
        "Support tickets with title, email, rating, date, url, tags; classes: bug, billing, other",
        dataset_mode=True,
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_mock_record_passes_validation(name):
    schema = SCHEMAS[name]
    validate_schema(schema)
    validator = record_validator(schema)
    for seed in (0, 7):
        for index in range(60):
            record = generate_record(schema, seed=seed, index=index)
            assert validate_record(validator, record) == [], (seed, index, record)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_mock_records_are_deterministic_per_seed_and_index(name):
    schema = SCHEMAS[name]
    first = [generate_record(schema, seed=11, index=i) for i in range(10)]
    again = [generate_record(schema, seed=11, index=i) for i in range(10)]
    assert first == again
    other_seed = [generate_record(schema, seed=12, index=i) for i in range(10)]
    assert other_seed != first


def test_optional_fields_sometimes_appear_and_sometimes_not():
    schema = SCHEMAS["optional_fields"]
    seen = {key for i in range(40) for key in generate_record(schema, seed=1, index=i)}
    assert seen == {"a", "b", "c"}
    sizes = {len(generate_record(schema, seed=1, index=i)) for i in range(40)}
    assert sizes == {2, 3}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (_object({"x": {"type": "string", "pattern": "^(?=a)b$"}}), "pattern"),
        (_object({"x": {"type": "string", "pattern": "^\\D+$"}}), "pattern"),
        (
            _object({"x": {"type": "integer", "minimum": 3, "maximum": 4, "multipleOf": 10}}),
            "multiple of 10",
        ),
        (_object({"x": {"type": "string", "format": "email", "maxLength": 5}}), "length"),
        (_object({"x": {"$ref": "https://example.com/schema"}}), "only local"),
        (_object({"x": {"$ref": "#/$defs/missing"}}), "points nowhere"),
        (
            _object(
                {"x": {"type": "array", "items": {"enum": [1]}, "minItems": 2, "uniqueItems": True}}
            ),
            "unique",
        ),
    ],
)
def test_mock_says_why_it_cannot_make_a_record(schema, message):
    with pytest.raises(MockUnsupported, match=message):
        generate_record(schema, seed=0, index=0)


@pytest.mark.parametrize(
    "pattern",
    [
        "^[a-f0-9]{8}$",
        "^ISBN \\d{3}-\\d{10}$",
        "colou?r",
        "^[A-Z][a-z]+(?: [A-Z][a-z]+)*$",
        "^x{2,}y$",
        "a.b",
    ],
)
def test_generate_matching_produces_matches(pattern):
    import re

    rng = random.Random(5)
    for _ in range(20):
        assert re.search(pattern, generate_matching(pattern, rng))


@pytest.mark.parametrize("pattern", ["(a)\\1", "[^a]", "(?<=a)b", "\\bword"])
def test_generate_matching_refuses_what_it_cannot_do(pattern):
    with pytest.raises(UnsupportedPattern):
        for seed in range(5):
            generate_matching(pattern, random.Random(seed))


async def test_mock_record_maker_returns_valid_records_and_honours_the_variation():
    schema = SCHEMAS["drafted"]
    spec = RecordSpec(instructions="tickets", schema=schema, dataset_mode=True, seed=9)
    async with open_record_maker(
        settings=load_settings(None, mock_inference=True), spec=spec, gateway=None
    ) as maker:
        results = [await maker.make_record(i) for i in range(30)]
        again = await maker.make_record(4)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert all(r.data[k] == v for r in results for k, v in r.variation.items())
    assert {r.data["label"] for r in results} == {"bug", "billing", "other"}
    assert again.data == results[4].data


async def test_mock_record_maker_fails_a_record_it_cannot_make():
    schema = _object({"x": {"type": "string", "pattern": "^[^a]b$"}})
    spec = RecordSpec(instructions="x", schema=schema)
    async with open_record_maker(settings=load_settings(None), spec=spec, gateway=None) as maker:
        result = await maker.make_record(0)
    assert not result.ok and result.data is None
    assert result.error.startswith("mock gateway: $.x: pattern")


async def test_mock_latency_setting_is_applied(monkeypatch):
    spec = RecordSpec(instructions="x", schema=SCHEMAS["scalars"])
    async with open_record_maker(
        settings=load_settings(None, mock_latency_ms=20), spec=spec, gateway=None
    ) as maker:
        result = await maker.make_record(0)
    assert result.ok
    assert result.duration_ms >= 15  # slept, give or take the clock
