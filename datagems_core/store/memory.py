"""An in-process key-value store with CStore's semantics, for tests and `DATAGEN_MOCK_CSTORE=true`.

Values are kept as JSON text, so a caller that mutates what it read or wrote never changes the
stored value. Hash fields live under CStore's composed flat key (`get` on it works), with an
index per hash so `hgetall` does not scan the store. Every method runs without awaiting inside,
so concurrent tasks on one event loop never see a half-done write. State lives in this process
only: flow runs in other processes do not see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from datagems_core.store.base import (
    JSONValue,
    check_key,
    check_page,
    guard_holds,
    hash_field_key,
    hash_prefix,
    page_of,
    split_hash_key,
)
from datagems_core.store.codec import decode_value, encode_value


class MemoryStore:
    """Dict-backed KVStore.

    >>> store = MemoryStore()
    >>> await store.hset("datagen:jobs", "job_1", {"status": "queued"})
    >>> await store.hgetall("datagen:jobs")  # {"job_1": {"status": "queued"}}
    """

    name = "memory store"

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._fields: dict[str, dict[str, str]] = {}  # hash prefix -> {field: flat key}

    async def get(self, key: str) -> JSONValue:
        check_key(key)
        return decode_value(self._values.get(key))

    async def set(self, key: str, value: JSONValue) -> None:
        check_key(key)
        self._write(key, encode_value(value, key=key))

    async def hget(self, hkey: str, field: str) -> JSONValue:
        check_key(hkey, "hkey")
        check_key(field, "field")
        return decode_value(self._values.get(hash_field_key(hkey, field)))

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        check_key(hkey, "hkey")
        check_key(field, "field")
        self._write(hash_field_key(hkey, field), encode_value(value, key=f"{hkey} field {field}"))

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]:
        check_key(hkey, "hkey")
        fields = self._fields.get(hash_prefix(hkey), {})
        return {field: decode_value(self._values[flat]) for field, flat in fields.items()}

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        check_key(hkey, "hkey")
        for field in fields:
            check_key(field, "field")
        present = self._fields.get(hash_prefix(hkey), {})
        return {f: self._values[present[f]] for f in fields if f in present}

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        for hkey, field in pairs:
            check_key(hkey, "hkey")
            check_key(field, "field")
        return [decode_value(self._values.get(hash_field_key(h, f))) for h, f in pairs]

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        check_key(hkey, "hkey")
        check_page(offset, limit)
        fields = self._fields.get(hash_prefix(hkey), {})
        return page_of(list(fields), offset=offset, limit=limit, descending=descending), len(fields)

    async def set_if(
        self,
        key: str,
        value: JSONValue,
        *,
        guard: str,
        expected: Mapping[str, JSONValue] | None,
    ) -> bool:
        """Atomic because nothing here awaits (see `GuardedWrites`)."""
        check_key(key)
        check_key(guard, "guard")
        text = encode_value(value, key=key)
        if not guard_holds(decode_value(self._values.get(guard)), expected):
            return False
        self._write(key, text)
        return True

    async def close(self) -> None:
        """Nothing to release; the data stays readable until the object is dropped."""

    def _write(self, key: str, text: str | None) -> None:
        composed = split_hash_key(key)
        if composed is not None:  # any write to a composed key is a hash write, as in CStore
            prefix, field = composed
            fields = self._fields.setdefault(prefix, {})
            if text is None:
                fields.pop(field, None)
            else:
                fields[field] = key
        if text is None:
            self._values.pop(key, None)
        else:
            self._values[key] = text
