"""The key-value store on PostgreSQL, for DataGems on several machines without Ratio1.

One table holds every key, as SqliteStore's does: hash fields under CStore's composed flat key
(`get` on it works), with the hash prefix and field name in columns and one index on both, so
`hgetall`, `hkeys_page` (the API's job lists) and `hget_many_json` are index scans. Field names
use the "C" collation: bytes of UTF-8 order like code points, which is Python's string order and
the other stores' page order. Values are the same JSON text the embedded stores keep (`codec`),
so large integers and odd strings round-trip exactly; `text`, not `jsonb`, so nothing is
re-ordered or re-parsed on the way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg

from datagems_core.errors import BadRequest
from datagems_core.store.base import (
    JSONValue,
    check_key,
    check_page,
    guard_holds,
    hash_field_key,
    hash_field_key_in,
    hash_prefix,
    split_hash_key,
)
from datagems_core.store.codec import decode_value, encode_value
from datagems_core.store.postgres_pool import PostgresPool

Connection = psycopg.Connection[tuple[object, ...]]

# Several processes start at once (the API, workers, flow runs): the advisory lock makes the
# first one create the tables while the others wait, instead of racing on the catalog.
SCHEMA_LOCK = 0x_DA7A_6E35
_SCHEMA = """
CREATE TABLE IF NOT EXISTS datagems_kv (
    key text COLLATE "C" PRIMARY KEY,
    hash_prefix text COLLATE "C",
    field text COLLATE "C",
    value text NOT NULL
);
CREATE INDEX IF NOT EXISTS datagems_kv_hash_field
    ON datagems_kv (hash_prefix, field) WHERE hash_prefix IS NOT NULL;
"""


def create_schema(db: Connection, ddl: str) -> None:
    """Run `ddl` (idempotent) in one transaction under the schema lock."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        db.execute(ddl)


class PostgresStore:
    """KVStore on PostgreSQL, safe for any number of processes on any number of machines.

    >>> store = PostgresStore(pool=PostgresPool(url="postgresql://u:p@db:5432/datagems"))
    >>> await store.hset("datagen:jobs", "job_1", {"status": "queued"})
    >>> await store.close()
    """

    def __init__(self, *, pool: PostgresPool, owns_pool: bool = True) -> None:
        self.pool = pool
        self.name = f"PostgreSQL store at {pool.where}"
        self._owns_pool = owns_pool
        pool.call("creating the store's table", lambda db: create_schema(db, _SCHEMA))

    async def get(self, key: str) -> JSONValue:
        _check_text(key)
        return await self.pool.run(f"reading key {key!r}", lambda db: _read(db, key))

    async def set(self, key: str, value: JSONValue) -> None:
        _check_text(key)
        text = encode_value(value, key=key)
        await self.pool.run(f"writing key {key!r}", lambda db: _write(db, key, text))

    async def hget(self, hkey: str, field: str) -> JSONValue:
        flat = _field_key(hkey, field)
        return await self.pool.run(f"reading {hkey!r} field {field!r}", lambda db: _read(db, flat))

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        flat = _field_key(hkey, field)
        text = encode_value(value, key=f"{hkey} field {field}")
        await self.pool.run(f"writing {hkey!r} field {field!r}", lambda db: _write(db, flat, text))

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]:
        _check_text(hkey, "hkey")
        prefix = hash_prefix(hkey)
        return await self.pool.run(f"reading hash {hkey!r}", lambda db: _read_hash(db, prefix))

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        _check_text(hkey, "hkey")
        prefix = hash_prefix(hkey)
        flat: dict[str, str] = {}
        for field in fields:
            _check_text(field, "field")
            flat[hash_field_key_in(prefix, field)] = field
        if not flat:
            return {}
        found = await self.pool.run(
            f"reading {len(flat)} fields of {hkey!r}", lambda db: _read_many_text(db, list(flat))
        )
        return {flat[key]: text for key, text in found.items()}

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        keys = [_field_key(hkey, field) for hkey, field in pairs]
        if not keys:
            return []
        found = await self.pool.run(
            f"reading {len(keys)} hash fields", lambda db: _read_many_text(db, list(set(keys)))
        )
        return [decode_value(found.get(key)) for key in keys]

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        _check_text(hkey, "hkey")
        check_page(offset, limit)
        prefix = hash_prefix(hkey)
        return await self.pool.run(
            f"listing fields of {hkey!r}",
            lambda db: _read_field_page(db, prefix, offset, limit, descending),
        )

    async def set_if(
        self,
        key: str,
        value: JSONValue,
        *,
        guard: str,
        expected: Mapping[str, JSONValue] | None,
    ) -> bool:
        """See `GuardedWrites`: a transaction-scoped advisory lock on the guard orders every
        `set_if` on it across machines, and the guard is read after the lock is held."""
        _check_text(key)
        _check_text(guard, "guard")
        text = encode_value(value, key=key)
        return await self.pool.run(
            f"writing key {key!r} if {guard!r} holds",
            lambda db: _write_if(db, key, text, guard, expected),
        )

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()


def _check_text(value: str, what: str = "key") -> None:
    check_key(value, what)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise BadRequest(f"{what} must not contain a NUL character")


def _field_key(hkey: str, field: str) -> str:
    _check_text(hkey, "hkey")
    _check_text(field, "field")
    return hash_field_key(hkey, field)


def _read(db: Connection, key: str) -> JSONValue:
    row = db.execute("SELECT value FROM datagems_kv WHERE key = %s", (key,)).fetchone()
    return None if row is None else decode_value(str(row[0]))


def _write(db: Connection, key: str, text: str | None) -> None:
    if text is None:
        db.execute("DELETE FROM datagems_kv WHERE key = %s", (key,))
        return
    prefix, field = split_hash_key(key) or (None, None)
    db.execute(
        "INSERT INTO datagems_kv (key, hash_prefix, field, value) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, prefix, field, text),
    )


def _write_if(
    db: Connection,
    key: str,
    text: str | None,
    guard: str,
    expected: Mapping[str, JSONValue] | None,
) -> bool:
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (guard,))
        written = guard_holds(_read(db, guard), expected)
        if written:
            _write(db, key, text)
    return written


def _read_many_text(db: Connection, keys: list[str]) -> dict[str, str]:
    rows = db.execute(
        "SELECT key, value FROM datagems_kv WHERE key = ANY(%s::text[])", (keys,)
    ).fetchall()
    return {str(key): str(value) for key, value in rows}


def _read_field_page(
    db: Connection, prefix: str, offset: int, limit: int, descending: bool
) -> tuple[list[str], int]:
    order = "DESC" if descending else "ASC"
    # One statement, so the page and the count come from one snapshot.
    row = db.execute(
        "SELECT (SELECT count(*) FROM datagems_kv WHERE hash_prefix = %(p)s), "
        "array(SELECT field FROM datagems_kv WHERE hash_prefix = %(p)s "
        f"ORDER BY field {order} LIMIT %(limit)s OFFSET %(offset)s)",
        {"p": prefix, "limit": limit, "offset": offset},
    ).fetchone()
    assert row is not None  # an aggregate always answers one row
    total, fields = row
    assert isinstance(fields, list)
    return [str(field) for field in fields], int(str(total))


def _read_hash(db: Connection, prefix: str) -> dict[str, JSONValue]:
    rows = db.execute(
        "SELECT field, value FROM datagems_kv WHERE hash_prefix = %s", (prefix,)
    ).fetchall()
    return {str(field): decode_value(str(value)) for field, value in rows}
