"""The built-in mock gateway: schema-valid records made locally, deterministic per (seed, index).

Honours types, enum, const, formats, numeric bounds and multipleOf, string lengths, simple
patterns, arrays, nested objects, required/optional properties, anyOf/oneOf (first branch),
allOf (merged) and `$ref` into `$defs`. A schema it cannot satisfy raises `MockUnsupported`
with the reason, which fails that record: the mock never returns a record it knows is invalid.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

from datagems_core.datasets.size_limits import SizeLimits
from datagems_core.inference.mock_formats import FORMATS
from datagems_core.inference.mock_keywords import merge_schemas, numeric_bounds, pick_type
from datagems_core.inference.patterns import UnsupportedPattern, generate_matching

_WORDS = (
    "amber harbor quiet lantern meadow copper river silver orchard canyon velvet summit "
    "maple granite willow coral ember prairie tundra falcon cedar lagoon quartz juniper"
).split()
_MAX_DEPTH = 12
_DEFAULT_MAX_ITEMS = 3


class MockUnsupported(ValueError):
    """The mock cannot produce a value for this schema; the message says where and why."""


def generate_record(
    schema: dict[str, Any], *, seed: int, index: int, limits: SizeLimits | None = None
) -> dict[str, Any]:
    """One record for `schema`, the same for the same (seed, index), within the size caps."""
    rng = random.Random(f"{seed}:{index}")
    value = _Generator(schema, rng, limits).value(schema, "$", 0)
    if not isinstance(value, dict):
        raise MockUnsupported("the schema does not describe an object record")
    return value


def generate_value(
    root: dict[str, Any],
    schema: Any,
    rng: random.Random,
    *,
    path: str = "$",
    limits: SizeLimits | None = None,
) -> Any:
    """One value for `schema`, a part of `root` (for `$ref`), drawn from `rng`."""
    return _Generator(root, rng, limits).value(schema, path, 0)


class _Generator:
    def __init__(
        self, root: dict[str, Any], rng: random.Random, limits: SizeLimits | None = None
    ) -> None:
        self.root = root
        self.rng = rng
        self.limits = limits or SizeLimits()
        # Rough bytes made so far: generation stops at the record cap rather than filling
        # memory first (minItems: 10000000 made 193 MB before the caps).
        self.size = 0

    def _spend(self, size: int, path: str) -> None:
        self.size += size
        if self.size > self.limits.max_record_bytes:
            raise MockUnsupported(
                f"{path}: the record would exceed DATAGEMS_MAX_RECORD_BYTES "
                f"({self.limits.max_record_bytes})"
            )

    def value(self, schema: Any, path: str, depth: int) -> Any:
        self._spend(4, path)
        if schema is True or schema == {}:
            return self._words(1, 3)
        if not isinstance(schema, dict):
            raise MockUnsupported(f"{path}: the schema allows no value")
        if depth > _MAX_DEPTH:
            raise MockUnsupported(f"{path}: the schema nests deeper than {_MAX_DEPTH} levels")
        schema = self._resolve(schema, path)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return copy.deepcopy(self.rng.choice(schema["enum"]))
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != keyword}
                return self.value(
                    merge_schemas(rest, self._resolve(branches[0], path)), path, depth + 1
                )
        kind = pick_type(schema)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "string":
            return self._string(schema, path)
        if kind == "integer":
            return self._integer(schema, path)
        if kind == "number":
            return self._number(schema, path)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def _resolve(self, schema: dict[str, Any], path: str) -> dict[str, Any]:
        for _ in range(_MAX_DEPTH):
            if "allOf" in schema and isinstance(schema["allOf"], list):
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    merged = merge_schemas(
                        merged, self._resolve(part, path) if isinstance(part, dict) else {}
                    )
                schema = merged
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                return schema
            target = self._lookup(ref, path)
            schema = merge_schemas({k: v for k, v in schema.items() if k != "$ref"}, target)
        raise MockUnsupported(f"{path}: $ref chain is too long or circular")

    def _lookup(self, ref: str, path: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise MockUnsupported(f"{path}: only local $ref (#/$defs/...) is supported, got {ref}")
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise MockUnsupported(f"{path}: $ref {ref} points nowhere")
            node = node[part]
        if not isinstance(node, dict):
            raise MockUnsupported(f"{path}: $ref {ref} is not a schema object")
        return node

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        minimum = int(schema.get("minProperties") or 0)
        result: dict[str, Any] = {}
        optional: list[str] = []
        for name, sub in properties.items():
            if name in required or self.rng.random() < 0.6:
                result[name] = self.value(sub, f"{path}.{name}", depth + 1)
            else:
                optional.append(name)
        while len(result) < minimum and optional:
            name = optional.pop(0)
            result[name] = self.value(properties[name], f"{path}.{name}", depth + 1)
        missing = required - set(result)
        if missing:
            raise MockUnsupported(f"{path}: required {sorted(missing)} have no property schema")
        if len(result) < minimum:
            raise MockUnsupported(f"{path}: cannot reach minProperties {minimum}")
        return result

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        low = int(schema.get("minItems") or 0)
        high = int(schema.get("maxItems", max(low, 1) + _DEFAULT_MAX_ITEMS - 1))
        if high < low:
            raise MockUnsupported(f"{path}: maxItems {high} is below minItems {low}")
        count = self.rng.randint(max(low, min(1, high)), min(high, max(low, _DEFAULT_MAX_ITEMS)))
        prefix = schema.get("prefixItems") or []
        items_schema = schema.get("items", True)
        unique = bool(schema.get("uniqueItems"))
        result: list[Any] = []
        tries = 0
        while len(result) < count:
            i = len(result)
            sub = prefix[i] if i < len(prefix) else items_schema
            item = self.value(sub, f"{path}[{i}]", depth + 1)
            if unique and item in result:
                tries += 1
                if tries > 20 * count:
                    if len(result) >= low:
                        break
                    raise MockUnsupported(f"{path}: cannot make {low} unique items")
                continue
            result.append(item)
        return result

    def _string(self, schema: dict[str, Any], path: str) -> str:
        low = int(schema.get("minLength") or 0)
        cap = self.limits.max_string_length
        if low > cap:
            raise MockUnsupported(
                f"{path}: minLength {low} is above DATAGEMS_MAX_STRING_LENGTH ({cap})"
            )
        high = min(int(schema.get("maxLength", max(low, 40))), cap)
        if high < low:
            raise MockUnsupported(f"{path}: maxLength {high} is below minLength {low}")
        self._spend(low, path)
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        if isinstance(pattern, str):
            try:
                text = generate_matching(pattern, self.rng, max_length=cap)
            except UnsupportedPattern as exc:
                raise MockUnsupported(f"{path}: {exc}") from None
        elif isinstance(fmt, str) and fmt in FORMATS:
            text = FORMATS[fmt](self.rng)
        else:
            text = self._words(1, 4)
            if len(text) < low:
                text = (text + " ") * (low // (len(text) + 1) + 1)
            text = text[:high].strip() if len(text) > high else text
            text = text.ljust(low, "x")[: max(high, low)]
            return text
        if not low <= len(text) <= high:
            raise MockUnsupported(
                f"{path}: cannot make a {fmt or 'pattern'} string of length {low}..{high}"
            )
        return text

    def _integer(self, schema: dict[str, Any], path: str) -> int:
        low, high = numeric_bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            return int(self._multiple(low, high, step, path, integer=True))
        if low > high:
            raise MockUnsupported(f"{path}: no integer between {low} and {high}")
        return self.rng.randint(int(low), int(high))

    def _number(self, schema: dict[str, Any], path: str) -> float | int:
        low, high = numeric_bounds(schema, integer=False)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            return self._multiple(low, high, step, path, integer=False)
        if low > high:
            raise MockUnsupported(f"{path}: no number between {low} and {high}")
        value = round(self.rng.uniform(low, high), 2)
        return min(max(value, low), high)

    def _multiple(
        self, low: float, high: float, step: float, path: str, *, integer: bool
    ) -> float | int:
        """A multiple of `step` in low..high that passes the validator's own float test."""
        first, last = math.ceil(low / step), math.floor(high / step)
        for _ in range(50):
            if first > last:
                break
            k = self.rng.randint(first, last)
            value: float | int = k * step if isinstance(step, int) else round(k * step, 10)
            if integer and not float(value).is_integer():
                continue
            if integer:
                value = int(value)
            quotient = value / step
            if low <= value <= high and int(quotient) == quotient:
                return value
        raise MockUnsupported(
            f"{path}: no {'integer ' if integer else ''}multiple of {step} "
            f"in {low}..{high} that the mock can produce"
        )

    def _words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(low, high)))
