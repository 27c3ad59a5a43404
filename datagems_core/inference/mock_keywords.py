"""What a JSON Schema asks for, as the mock reads it: the type to make, numeric bounds, merges."""

from __future__ import annotations

import math
from typing import Any


def pick_type(schema: dict[str, Any]) -> str:
    """The type to make: the first non-null one named, else the one the keywords imply."""
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if concrete else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def numeric_bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float, float]:
    """Inclusive bounds; exclusive ones are nudged inwards (by 1 for integers)."""
    low: float = 0
    high: float = 1000
    nudge = 1 if integer else 0.01
    if isinstance(schema.get("minimum"), int | float):
        low = schema["minimum"]
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = (
            max(low, schema["exclusiveMinimum"] + nudge)
            if "minimum" in schema
            else (schema["exclusiveMinimum"] + nudge)
        )
    if isinstance(schema.get("maximum"), int | float):
        high = schema["maximum"]
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = (
            min(high, schema["exclusiveMaximum"] - nudge)
            if "maximum" in schema
            else (schema["exclusiveMaximum"] - nudge)
        )
    if "maximum" not in schema and "exclusiveMaximum" not in schema and high < low:
        high = low + 1000
    if "minimum" not in schema and "exclusiveMinimum" not in schema and low > high:
        low = high - 1000
    if integer:
        low, high = math.ceil(low), math.floor(high)
    return low, high


def merge_schemas(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, with properties and required lists combined (allOf, `$ref`)."""
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        elif key == "required" and isinstance(merged.get(key), list) and isinstance(value, list):
            merged[key] = [*merged[key], *(v for v in value if v not in merged[key])]
        else:
            merged[key] = value
    return merged
