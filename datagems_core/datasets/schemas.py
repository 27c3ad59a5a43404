"""JSON Schemas for records: tidy what users and models write, check it, validate records.

`sanitize_schema` repairs the common shorthand the seed accepted (bare type names, arrays of
examples, `@type`) and reports each change; `validate_schema` then checks the result against the
real draft 2020-12 meta-schema. `record_validator` and `validate_record` check records, with
format checking on, and report errors with their JSON path: compiled (jsonschema-rs) on the hot
path, jsonschema for the messages of a record that fails. Both refuse to retrieve any reference
and match `pattern` in linear time (`linear_regex`); `schema_guards` checks a user's schema
before either sees it, and records over the size caps are refused before validation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError as MetaSchemaError
from jsonschema.exceptions import ValidationError as ReferenceError_
from referencing import Registry
from referencing.exceptions import NoSuchResource

from datagems_core.datasets.linear_regex import PATTERN_OPTIONS, search
from datagems_core.datasets.schema_formats import COMPILED_FORMATS, FORMAT_CHECKER
from datagems_core.datasets.schema_guards import check_schema_input
from datagems_core.datasets.size_limits import SizeLimits, record_size_problem
from datagems_core.errors import SchemaError

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_SCHEMA_KEYWORDS = frozenset(
    {"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "properties", "items", "not"}
)
_MAX_ERRORS = 10

# What a drafted schema must look like, sent as the response_format when drafting: loose
# enough for any record schema, strict enough to steer the model to the top-level shape.
SCHEMA_DRAFT_SHAPE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "$schema": {"type": "string"},
        "type": {"const": "object"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "properties": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "object", "required": ["type"]},
        },
        "required": {"type": "array", "items": {"type": "string"}},
        "additionalProperties": {"type": "boolean"},
    },
    "required": ["type", "properties", "required", "additionalProperties"],
}


def sanitize_schema(schema: Any) -> tuple[dict[str, Any], list[str]]:
    """Return a repaired copy of `schema` and one warning per change made."""
    if not isinstance(schema, dict):
        raise SchemaError(f"$: the schema must be a JSON object, got {_kind(schema)}")
    result = copy.deepcopy(schema)
    warnings: list[str] = []
    declared = result.get("$schema")
    if not (isinstance(declared, str) and "json-schema.org" in declared):
        result["$schema"] = DRAFT_2020_12
        warnings.append(f"$.$schema: set to {DRAFT_2020_12}")
    if result.get("type") != "object":
        warnings.append(f"$.type: {result.get('type')!r} replaced by 'object'")
        result["type"] = "object"
    properties = result.get("properties")
    if not isinstance(properties, dict):
        if properties is not None:
            warnings.append(f"$.properties: {_kind(properties)} replaced by an empty object")
        properties = result["properties"] = {}
    for name, value in list(properties.items()):
        fixed = _normalise_property(value)
        if fixed is not value:
            properties[name] = fixed
            warnings.append(f"$.properties.{name}: {_kind(value)} turned into {json.dumps(fixed)}")
    if not isinstance(result.get("required"), list):
        result["required"] = list(properties)
        warnings.append("$.required: set to every property")
    if "additionalProperties" not in result:
        result["additionalProperties"] = False
        warnings.append("$.additionalProperties: set to false")
    return result, warnings


def _normalise_property(value: Any) -> Any:
    """A schema object for one property; the same object back when it is one already."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), str | list) or _SCHEMA_KEYWORDS & value.keys():
            return value
        rest = {k: v for k, v in value.items() if k != "@type"}
        declared = value.get("@type")
        return {**rest, "type": declared if declared in JSON_TYPES else "string"}
    if isinstance(value, list):
        item_type = _json_type(value[0]) if value else "string"
        return {"type": "array", "items": {"type": item_type}}
    if isinstance(value, str) and value.strip().lower() in JSON_TYPES:
        return {"type": value.strip().lower()}
    return {"type": _json_type(value)}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "string"


def _kind(value: Any) -> str:
    kind = _json_type(value)
    return f"an {kind}" if kind in ("array", "object", "integer") else f"a {kind}"


def validate_schema(schema: Any, limits: SizeLimits | None = None) -> None:
    """Raise SchemaError unless `schema` is a safe, valid 2020-12 schema for an object record."""
    if not isinstance(schema, dict):
        raise SchemaError(f"$: the schema must be a JSON object, got {_kind(schema)}")
    check_schema_input(schema, limits)
    _validate_canonical(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=64)
def _validate_canonical(canonical: str) -> None:
    # Meta-validation costs milliseconds; a job's schema is checked once per process, not per
    # record maker. Failures raise and so are never cached.
    schema = json.loads(canonical)
    try:
        Draft202012Validator.check_schema(schema, format_checker=FORMAT_CHECKER)
    except MetaSchemaError as exc:
        path = _json_path(exc.absolute_path)
        message = exc.message
        if exc.absolute_path and exc.absolute_path[-1] == "type":
            message = f"{exc.instance!r} is not a JSON type; use one of {', '.join(JSON_TYPES)}"
        raise SchemaError(f"{path}: {message}", details={"path": path}) from None
    if schema.get("type") != "object":
        raise SchemaError("$.type: a record schema must have type 'object'")
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SchemaError("$.properties: a record schema needs at least one property")
    required = schema.get("required") or []
    unknown = [name for name in required if name not in properties]
    if unknown and schema.get("additionalProperties") is False:
        raise SchemaError(
            f"$.required: {unknown[0]!r} is required but not among the properties, "
            "so no record can be valid"
        )


def _refuse_retrieval(uri: str) -> Any:
    """The retriever of every validator: record schemas are never fetched from anywhere."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def _refuse_compiled_retrieval(uri: str) -> Any:
    raise ValueError(f"refused to retrieve {uri!r}: record schemas use local references only")


NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def _linear_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    del validator, schema
    if isinstance(instance, str) and not search(pattern, instance):
        yield ReferenceError_(f"{instance!r} does not match {pattern!r}")


def _linear_pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any
) -> Any:
    del schema
    if not isinstance(instance, dict):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


# python-jsonschema with `pattern` and `patternProperties` matched by the linear-time engine.
ReferenceValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {"pattern": _linear_pattern, "patternProperties": _linear_pattern_properties},
)


class RecordValidator:
    """Checks records of one schema: compiled (jsonschema-rs) first, jsonschema for messages.

    Formats are checked by the same functions in both (`FORMAT_CHECKER`), so the two agree on
    what a valid `date`, `email` or `uri` is. jsonschema, the reference, has the last word on a
    record the compiled validator refuses. Records over the size caps are refused unread.
    """

    def __init__(self, schema: dict[str, Any], limits: SizeLimits | None = None) -> None:
        self.schema = schema
        self.limits = limits or SizeLimits()
        self._compiled = jsonschema_rs.Draft202012Validator(
            schema,
            validate_formats=True,
            formats=COMPILED_FORMATS,
            retriever=_refuse_compiled_retrieval,
            pattern_options=PATTERN_OPTIONS,
        )
        self._reference: Any = None

    def errors(self, record: Any) -> list[str]:
        """The record's errors as `$.path: message` lines, at most ten; empty when valid."""
        too_large = record_size_problem(record, self.limits)
        if too_large:
            return [too_large]
        if self._compiled.is_valid(record):
            return []
        if self._reference is None:
            self._reference = ReferenceValidator(
                self.schema, format_checker=FORMAT_CHECKER, registry=NO_RETRIEVAL
            )
        errors = sorted(
            self._reference.iter_errors(record), key=lambda e: list(map(str, e.absolute_path))
        )
        return [f"{e.json_path}: {e.message}" for e in errors[:_MAX_ERRORS]]


def record_validator(schema: dict[str, Any], limits: SizeLimits | None = None) -> RecordValidator:
    """A validator for records of `schema`, built once per distinct schema and limits.

    Raises SchemaError when the schema cannot be compiled (checked when a job is created).
    """
    return _validator_for(json.dumps(schema, sort_keys=True), limits or SizeLimits())


@lru_cache(maxsize=64)
def _validator_for(canonical: str, limits: SizeLimits) -> RecordValidator:
    try:
        return RecordValidator(json.loads(canonical), limits)
    except jsonschema_rs.ValidationError as exc:
        raise SchemaError(
            f"$: the schema cannot be compiled: {exc.message}", details={"path": "$"}
        ) from None


def validate_record(validator: RecordValidator, record: Any) -> list[str]:
    """The record's errors as `$.path: message` lines, at most ten; empty when valid."""
    return validator.errors(record)


def _json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
