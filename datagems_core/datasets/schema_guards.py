"""Checks that keep a user's record schema from reaching out, running away or blowing up.

Run before a schema is meta-validated or compiled, at the API and again in the runner:

* references are local: every `$ref` / `$dynamicRef` / `$recursiveRef` starts with `#` and
  points into the schema (nothing is fetched over the network or read from disk), and `$schema`
  names an official JSON Schema draft;
* no reference cycle that makes no progress (`{"allOf": [{"$ref": "#"}]}` recurses for ever);
* the document nests at most `MAX_SCHEMA_DEPTH` levels, holds no lone surrogate, no NaN or
  infinity and no integer wider than 64 bits;
* every `pattern` (and `patternProperties` key) compiles in the linear-time engine;
* minimums fit the size caps (`minLength`, `minItems`, `minProperties`).

Each failure is a SchemaError naming the JSON path, the keyword and the limit.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import unquote

from datagems_core.datasets.linear_regex import pattern_problem
from datagems_core.datasets.size_limits import SizeLimits
from datagems_core.errors import SchemaError

MAX_SCHEMA_DEPTH = 64
INT64_MAX = 2**63 - 1
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_OFFICIAL_DRAFTS = frozenset(
    f"{scheme}://json-schema.org/{path}{hash_}"
    for scheme in ("http", "https")
    for path in (
        "draft/2020-12/schema",
        "draft/2019-09/schema",
        "draft-07/schema",
        "draft-06/schema",
        "draft-04/schema",
    )
    for hash_ in ("", "#")
)
# Keywords that apply a subschema to the same instance: a cycle through only these never ends.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse(path: str, message: str, *, keyword: str, limit: Any = None) -> SchemaError:
    details: dict[str, Any] = {"path": path, "keyword": keyword}
    if limit is not None:
        details["limit"] = limit
    return SchemaError(f"{path}: {message}", details=details)


def check_schema_input(schema: dict[str, Any], limits: SizeLimits | None = None) -> None:
    """Raise SchemaError naming the path and the limit of the first problem found."""
    limits = limits or SizeLimits()
    nodes: dict[str, dict[str, Any]] = {}
    anchors: dict[str, str] = {}
    stack: list[tuple[Any, str, str, int]] = [(schema, "$", "", 0)]
    while stack:
        value, path, pointer, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise _refuse(
                path, f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels",
                keyword="depth", limit=MAX_SCHEMA_DEPTH,
            )  # fmt: skip
        _check_scalar(value, path)
        if isinstance(value, dict):
            nodes[pointer] = value
            _check_keywords(value, path, limits)
            for name in ("$anchor", "$dynamicAnchor"):
                if isinstance(value.get(name), str):
                    anchors[value[name]] = pointer
            for key, item in value.items():
                _check_scalar(key, f"{path} (a key)")
                escaped = key.replace("~", "~0").replace("/", "~1")
                stack.append((item, f"{path}.{key}", f"{pointer}/{escaped}", depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]", f"{pointer}/{i}", depth + 1))
    _check_cycles(nodes, anchors)


def _check_scalar(value: Any, path: str) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise _refuse(
                path, "contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode",
                keyword="string",
            )  # fmt: skip
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise _refuse(
                path, "the integer does not fit in 64 bits", keyword="integer", limit=INT64_MAX
            )
    elif isinstance(value, float) and not math.isfinite(value):
        raise _refuse(
            path, f"{value} is not a finite number (NaN and infinity are not JSON)",
            keyword="number",
        )  # fmt: skip


def _check_keywords(node: dict[str, Any], path: str, limits: SizeLimits) -> None:
    for keyword in _REF_KEYWORDS:
        ref = node.get(keyword)
        if isinstance(ref, str) and not ref.startswith("#"):
            raise _refuse(
                f"{path}.{keyword}",
                f"{ref!r} is not a local reference; only references inside the schema "
                "('#/$defs/name', '#/properties/x' or '#anchor') are allowed, nothing is "
                "fetched from the network or read from disk",
                keyword=keyword,
            )
    declared = node.get("$schema")
    if isinstance(declared, str) and declared not in _OFFICIAL_DRAFTS:
        raise _refuse(
            f"{path}.$schema",
            f"{declared!r} is not an official JSON Schema draft; use "
            "'https://json-schema.org/draft/2020-12/schema'",
            keyword="$schema",
        )
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        _check_pattern(pattern, f"{path}.pattern", "pattern")
    pattern_properties = node.get("patternProperties")
    if isinstance(pattern_properties, dict):
        for key in pattern_properties:
            _check_pattern(key, f"{path}.patternProperties.{key}", "patternProperties")
    _check_minimums(node, path, limits)


def _check_pattern(pattern: str, path: str, keyword: str) -> None:
    problem = pattern_problem(pattern)
    if problem:
        raise _refuse(path, problem, keyword=keyword)


def _check_minimums(node: dict[str, Any], path: str, limits: SizeLimits) -> None:
    # Each entry: keyword, the largest value allowed, the setting that bounds it.
    caps = (
        ("minLength", limits.max_string_length, "DATAGEMS_MAX_STRING_LENGTH"),
        ("minItems", limits.max_record_bytes // 2, "DATAGEMS_MAX_RECORD_BYTES"),
        ("minProperties", limits.max_record_bytes // 6, "DATAGEMS_MAX_RECORD_BYTES"),
        ("minContains", limits.max_record_bytes // 2, "DATAGEMS_MAX_RECORD_BYTES"),
    )
    for keyword, cap, setting in caps:
        value = node.get(keyword)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > cap:
            raise _refuse(
                f"{path}.{keyword}",
                f"{value:g} is above the limit of {cap} that {setting} allows",
                keyword=keyword,
                limit=cap,
            )


def _resolve_local(ref: str, nodes: dict[str, dict[str, Any]], anchors: dict[str, str]) -> str:
    """The pointer of the node `ref` names (a `#...` reference), or raise SchemaError."""
    fragment = unquote(ref[1:])
    if fragment == "" or fragment.startswith("/"):
        target = fragment.rstrip("/") if fragment != "/" else fragment
        if target in nodes:
            return target
    elif fragment in anchors:
        return anchors[fragment]
    raise SchemaError(
        f"$ref: {ref!r} points nowhere in the schema",
        details={"path": "$ref", "keyword": "$ref"},
    )


def _in_place_targets(
    pointer: str, node: dict[str, Any], nodes: dict[str, dict[str, Any]], anchors: dict[str, str]
) -> list[str]:
    targets: list[str] = []
    for keyword in _REF_KEYWORDS:
        ref = node.get(keyword)
        if isinstance(ref, str):
            targets.append(_resolve_local(ref, nodes, anchors))
    for keyword in _IN_PLACE_ONE:
        if isinstance(node.get(keyword), dict):
            targets.append(f"{pointer}/{keyword}")
    for keyword in _IN_PLACE_MANY:
        branches = node.get(keyword)
        if isinstance(branches, list):
            targets.extend(
                f"{pointer}/{keyword}/{i}" for i, b in enumerate(branches) if isinstance(b, dict)
            )
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, dict):
        targets.extend(
            f"{pointer}/dependentSchemas/{k.replace('~', '~0').replace('/', '~1')}"
            for k, v in dependent.items()
            if isinstance(v, dict)
        )
    return targets


def _check_cycles(nodes: dict[str, dict[str, Any]], anchors: dict[str, str]) -> None:
    """Refuse a reference cycle through keywords that keep the same instance."""
    edges = {p: _in_place_targets(p, n, nodes, anchors) for p, n in nodes.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in edges:
        if state.get(start):
            continue
        state[start] = 1
        stack = [(start, iter(edges[start]))]
        while stack:
            pointer, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[pointer] = 2
                stack.pop()
                continue
            if state.get(child) == 1:
                path = "$" + child.replace("/", ".") if child else "$"
                raise _refuse(
                    path,
                    "this reference cycle applies the schema to the same value for ever "
                    "($ref/allOf/anyOf/oneOf/not back to itself); break the cycle",
                    keyword="$ref",
                )
            if not state.get(child) and child in edges:
                state[child] = 1
                stack.append((child, iter(edges[child])))
