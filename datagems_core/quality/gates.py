"""The quality gates a schema-valid candidate passes: lint, unique fields, exact and near duplicates.

    index = GateIndex(gates, schema)
    prints = index.fingerprint(record)
    rejection = index.lint(record) or index.find_duplicate(prints)
    if rejection is None:
        index.add(prints)

Near duplicates are found with MinHash LSH (datasketch) over character 5-grams of the record's
text (its scalar values: strings, numbers, booleans), and confirmed by the signatures' estimated
Jaccard similarity. Numbers count so that two short records that share a name but differ in every
figure are not called the same record; `uniqueFields` is the gate for a value that must not repeat.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from datasketch import MinHash, MinHashLSH

from datagems_core.quality.gate_config import GateConfig

NUM_PERM = 64
SHINGLE = 5
JSON_TYPE_NAMES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
PLACEHOLDERS = frozenset({"n/a", "example", "todo", "tbd", "placeholder", "lorem ipsum"})


@dataclass(frozen=True)
class Rejection:
    gate: str  # lint, unique, duplicate, near_duplicate, judge
    reason: str


@dataclass
class Fingerprints:
    exact: str
    unique: dict[str, str]  # field -> normalised value
    minhash: MinHash | None


def canonical_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def exact_fingerprint(data: Any) -> str:
    return hashlib.blake2b(canonical_json(data), digest_size=16).hexdigest()


def normalise_value(value: Any) -> str:
    """Strings compare case- and whitespace-insensitively; other values as canonical JSON."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    return canonical_json(value).decode()


def record_text(data: Any) -> str:
    """The record's scalar values (null aside), in order, lower-cased and joined by spaces."""
    return " ".join(" ".join(_scalars(data)).split()).casefold()


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, float):  # 71 and 71.0 read the same
        yield str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)


def shingles(text: str) -> set[bytes]:
    raw = text.encode()
    if len(raw) <= SHINGLE:
        return {raw} if raw else set()
    return {raw[i : i + SHINGLE] for i in range(len(raw) - SHINGLE + 1)}


def lint_record(data: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The first lint problem of a schema-valid record, as a reason with its JSON path."""
    return _lint_object(data, schema, "$")


def _lint_object(data: dict[str, Any], schema: dict[str, Any], path: str) -> str | None:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    for name, value in data.items():
        sub = (properties or {}).get(name)
        sub = sub if isinstance(sub, dict) else {}
        problem = _lint_value(name, value, sub, f"{path}.{name}", is_required=name in required)
        if problem:
            return problem
    return None


def _lint_value(
    name: str | None, value: Any, schema: dict[str, Any], path: str, *, is_required: bool
) -> str | None:
    if "enum" in schema or "const" in schema:
        return None  # the schema itself allows exactly these values
    if isinstance(value, dict):
        return _lint_object(value, schema, path)
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        for position, item in enumerate(value):
            problem = _lint_value(None, item, items or {}, f"{path}[{position}]", is_required=True)
            if problem:
                return problem
        return None
    if not isinstance(value, str):
        return None
    text = " ".join(value.split()).casefold()
    if not text:
        return f"{path}: a required string is empty" if is_required else None
    if name is not None and text == " ".join(name.replace("_", " ").split()).casefold():
        return f"{path}: the value repeats its property name ({value!r})"
    if text in JSON_TYPE_NAMES:
        return f"{path}: the value is a JSON type name ({value!r})"
    if text in PLACEHOLDERS or "lorem ipsum" in text:
        return f"{path}: the value is a placeholder ({value!r})"
    return None


class GateIndex:
    """What a job's accepted records hold so far: exact prints, unique values, MinHash LSH."""

    def __init__(self, gates: GateConfig, schema: dict[str, Any]) -> None:
        self.gates, self.schema = gates, schema
        self.exact: set[str] = set()
        self.unique: dict[str, set[str]] = {name: set() for name in gates.unique_fields}
        threshold = gates.near_duplicate_threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM) if threshold else None
        self.signatures: dict[str, np.ndarray[Any, Any]] = {}
        # Copying a ready MinHash skips drawing its permutations again (most of a new one's
        # cost); CRC-32 (in C) hashes a shingle in a tenth of SHA-1's time, and datasketch
        # mixes it (murmur3's finaliser) before permuting.
        self._blank = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32)

    def fingerprint(self, data: dict[str, Any]) -> Fingerprints:
        unique = {
            name: normalise_value(data[name])
            for name in self.gates.unique_fields
            if data.get(name) is not None
        }
        minhash = None
        if self.lsh is not None:
            grams = shingles(record_text(data))
            if grams:
                minhash = self._blank.copy()
                minhash.update_batch(list(grams))
        return Fingerprints(exact=exact_fingerprint(data), unique=unique, minhash=minhash)

    def lint(self, data: dict[str, Any]) -> Rejection | None:
        if not self.gates.lint:
            return None
        problem = lint_record(data, self.schema)
        return Rejection("lint", problem) if problem else None

    def find_duplicate(self, prints: Fingerprints) -> Rejection | None:
        if prints.exact in self.exact:
            return Rejection("duplicate", "an identical record is already in the dataset")
        for name, value in prints.unique.items():
            if value in self.unique[name]:
                return Rejection("unique", f"$.{name}: the value {value!r} is already used")
        if self.lsh is not None and prints.minhash is not None:
            threshold = float(self.gates.near_duplicate_threshold or 1.0)
            mine = prints.minhash.hashvalues
            for key in self.lsh.query(prints.minhash):
                similarity = float(np.mean(self.signatures[key] == mine))
                if similarity >= threshold:
                    return Rejection(
                        "near_duplicate",
                        f"nearly the same text as an accepted record (Jaccard ≈ {similarity:.2f})",
                    )
        return None

    def add(self, prints: Fingerprints) -> None:
        if prints.exact in self.exact:
            return
        self.exact.add(prints.exact)
        for name, value in prints.unique.items():
            self.unique[name].add(value)
        if self.lsh is not None and prints.minhash is not None:
            self.lsh.insert(prints.exact, prints.minhash, check_duplication=False)
            self.signatures[prints.exact] = prints.minhash.hashvalues

    def add_record(self, data: dict[str, Any]) -> None:
        self.add(self.fingerprint(data))
