"""The key-value store protocol: CStore's operations, shared by every backend.

Values are JSON. Every backend normalises a value through JSON before storing it, as CStore does
(int dict keys become strings, tuples become lists); a string stays a string and is never decoded.
Writing `None` deletes. There is no compare-and-set: design for one writer per key or field.

`hget_many_json`, `hget_each` and `hkeys_page` are reads CStore's API lacks (a page of a big
hash, fields of several hashes at once): the embedded stores answer each in one call, with one
query; on CStore they are built from `hget` and `hgetall`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from datagems_core.errors import BadRequest

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"


class KVStore(Protocol):
    """Async key-value store with hashes. `set`/`hset` raise StoreError unless durably stored."""

    name: str

    async def get(self, key: str) -> JSONValue: ...

    async def set(self, key: str, value: JSONValue) -> None: ...

    async def hget(self, hkey: str, field: str) -> JSONValue: ...

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None: ...

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]: ...

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        """The values of those `fields` of `hkey` that exist, by field, as JSON text: for callers
        that pass them on (an API page) or parse them straight into a model."""
        ...

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        """The value of each `(hkey, field)`, None where absent: one read for several hashes."""
        ...

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        """Up to `limit` field names of `hkey` from `offset` in code-point order (reversed when
        `descending`), and how many fields the hash has."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class GuardedWrites(Protocol):
    """The one atomic write some stores have: the embedded ones and PostgreSQL, not CStore."""

    async def set_if(
        self,
        key: str,
        value: JSONValue,
        *,
        guard: str,
        expected: Mapping[str, JSONValue] | None,
    ) -> bool:
        """Write `value` at `key` (None deletes; `key` may be `guard` itself) only if the value at
        `guard` is absent (`expected` None) or an object holding every item of `expected`,
        atomically against other `set_if` calls on the same guard in any process; True if
        written. Repeating a call whose answer was lost gives the same outcome when `value`
        still holds `expected`'s items."""
        ...


def guard_holds(current: JSONValue, expected: Mapping[str, JSONValue] | None) -> bool:
    """Whether the value at a guard is what `set_if` expects."""
    if expected is None:
        return current is None
    return isinstance(current, dict) and all(
        key in current and current[key] == value for key, value in expected.items()
    )


def normalise(value: object, *, key: str) -> JSONValue:
    """Round-trip `value` through JSON as CStore does; refuse what JSON cannot carry."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"value for key {key!r} is not JSON-serialisable: {exc}") from None
    result: JSONValue = json.loads(text)
    return result


def hash_field_key(hkey: str, field: str) -> str:
    """The flat key CStore stores a hash field under: `hs:{sha256(hkey)[:10]}:{urlsafe_b64(field)}`."""
    return hash_field_key_in(hash_prefix(hkey), field)


def hash_field_key_in(prefix: str, field: str) -> str:
    """`hash_field_key` from the hash's `hash_prefix`, for many fields of one hash."""
    return prefix + base64.urlsafe_b64encode(field.encode()).decode()


def hash_prefix(hkey: str) -> str:
    return f"hs:{hashlib.sha256(hkey.encode()).hexdigest()[:10]}:"


def field_of(flat_key: str, prefix: str) -> str:
    return base64.urlsafe_b64decode(flat_key[len(prefix) :].encode()).decode()


def check_key(key: str, what: str = "key") -> None:
    if not isinstance(key, str) or key == "":
        raise BadRequest(f"{what} must be a non-empty string")


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise BadRequest(f"a page needs offset >= 0 and limit >= 0, not {offset} and {limit}")


def page_of(fields: Sequence[str], *, offset: int, limit: int, descending: bool) -> list[str]:
    """The `hkeys_page` slice of all the field names of a hash."""
    ordered = sorted(fields, reverse=descending)
    return ordered[offset : offset + limit]


def split_hash_key(flat_key: str) -> tuple[str, str] | None:
    """`(hash prefix, field)` when `flat_key` is a composed hash-field key, else None."""
    if len(flat_key) < 15 or not flat_key.startswith("hs:") or flat_key[13] != ":":
        return None
    if any(c not in "0123456789abcdef" for c in flat_key[3:13]):
        return None
    prefix = flat_key[:14]
    try:
        return prefix, field_of(flat_key, prefix)
    except (ValueError, UnicodeDecodeError):
        return None
