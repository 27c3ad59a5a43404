"""The shape of a block's records: which fields appear (first-seen order) and with which JSON kinds.

Each checkpoint block stores the merged shape of its records, so an export learns the CSV header
and one Arrow type per field from the block index alone, without a first pass over the data.

A shape is JSON: `{"t": [kinds], "f": {field: shape}, "i": shape}` with kinds among null, bool,
int, float, str, obj, arr; `f` for objects, `i` for array items. Objects with more than
MAX_FIELDS fields are recorded as opaque (`json`), and become JSON text in exports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

MAX_FIELDS = 200
Shape = dict[str, Any]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "json"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "obj" if len(value) <= MAX_FIELDS else "json"
    if isinstance(value, list):
        return "arr"
    return "json"


def add_value(shape: Shape, value: Any) -> None:
    """Merge one value into `shape` (in place)."""
    kind = _kind(value)
    kinds: list[str] = shape.setdefault("t", [])
    if kind not in kinds:
        kinds.append(kind)
    if kind == "obj":
        fields: dict[str, Shape] = shape.setdefault("f", {})
        for name, item in value.items():
            add_value(fields.setdefault(name, {}), item)
        if len(fields) > MAX_FIELDS:
            shape.pop("f")
            kinds.append("json")
    elif kind == "arr":
        items: Shape = shape.setdefault("i", {})
        for item in value:
            add_value(items, item)


def shape_of_records(records: Iterable[dict[str, Any]]) -> Shape:
    shape: Shape = {}
    for record in records:
        add_value(shape, record)
    return shape


def merge_shapes(into: Shape, other: Shape) -> Shape:
    """Merge `other` into `into` (in place) and return it."""
    kinds: list[str] = into.setdefault("t", [])
    for kind in other.get("t", []):
        if kind not in kinds:
            kinds.append(kind)
    if "f" in other:
        fields: dict[str, Shape] = into.setdefault("f", {})
        for name, sub in other["f"].items():
            merge_shapes(fields.setdefault(name, {}), sub)
    if "i" in other:
        merge_shapes(into.setdefault("i", {}), other["i"])
    return into


def field_names(shape: Shape) -> list[str]:
    return list(shape.get("f", {}))


def arrow_type(shape: Shape) -> pa.DataType | None:
    """The Arrow type that holds every value of `shape`, or None when only JSON text can."""
    kinds = set(shape.get("t", [])) - {"null"}
    if not kinds:
        return pa.string()
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds <= {"int", "float"}:
        return pa.float64()
    if kinds == {"str"}:
        return pa.string()
    if kinds == {"arr"}:
        item = arrow_type(shape.get("i", {}))
        return pa.list_(item) if item is not None else None
    if kinds == {"obj"}:
        children = []
        for name, sub in shape.get("f", {}).items():
            child = arrow_type(sub)
            if child is None:
                return None
            children.append(pa.field(name, child))
        return pa.struct(children) if children else None
    return None
