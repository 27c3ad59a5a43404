"""The embedded key-value store: one SQLite file in the data dir, shared by the API and flow runs.

Several processes (the API, the worker, each flow run) open the same file. WAL mode lets readers
run while one writer commits, and `busy_timeout` makes a writer wait for the lock instead of
failing. Every write is a single autocommitted statement, so there is no transaction to upgrade
and no deadlock between processes. Calls run on a small thread pool with one connection per
thread, so the event loop never blocks on disk and concurrent readers do not queue behind one
connection.

Hash fields are stored under CStore's composed flat key (`get` on it works) with the hash prefix
and field name in indexed columns, so `hgetall` is one index range scan and `hkeys_page` reads
only the index.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import TypeVar

from datagems_core.errors import StoreError
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

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    hash_prefix TEXT,
    field TEXT,
    value TEXT NOT NULL
) WITHOUT ROWID;
DROP INDEX IF EXISTS kv_hash;
CREATE INDEX IF NOT EXISTS kv_hash_field ON kv (hash_prefix, field) WHERE hash_prefix IS NOT NULL;
"""
_MANY_CHUNK = 500  # keys per `IN (...)`, well under SQLite's limit on query parameters


class SqliteStore:
    """KVStore in one SQLite file, safe for concurrent processes.

    >>> store = SqliteStore(path=Path(".datagems/store.sqlite3"))
    >>> await store.set("datagen:x", {"a": 1})
    >>> await store.close()
    """

    def __init__(
        self, *, path: Path, busy_timeout_seconds: float = 30.0, max_threads: int = 4
    ) -> None:
        self.path = Path(path)
        self.name = f"SQLite store at {self.path}"
        self._busy_timeout = busy_timeout_seconds
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="datagems-sqlite"
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._open_connection()) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._executor.shutdown(wait=False)
            raise StoreError(
                f"{self.name} cannot be opened: {exc}; check that the data dir "
                "(DATAGEMS_DATA_DIR) is writable and on a local disk"
            ) from exc

    async def get(self, key: str) -> JSONValue:
        check_key(key)
        return await self._run(f"reading key {key!r}", lambda db: _read(db, key))

    async def set(self, key: str, value: JSONValue) -> None:
        check_key(key)
        text = encode_value(value, key=key)
        await self._run(f"writing key {key!r}", lambda db: _write(db, key, text))

    async def hget(self, hkey: str, field: str) -> JSONValue:
        check_key(hkey, "hkey")
        check_key(field, "field")
        flat = hash_field_key(hkey, field)
        return await self._run(f"reading {hkey!r} field {field!r}", lambda db: _read(db, flat))

    async def hset(self, hkey: str, field: str, value: JSONValue) -> None:
        check_key(hkey, "hkey")
        check_key(field, "field")
        flat = hash_field_key(hkey, field)
        text = encode_value(value, key=f"{hkey} field {field}")
        await self._run(f"writing {hkey!r} field {field!r}", lambda db: _write(db, flat, text))

    async def hgetall(self, hkey: str) -> dict[str, JSONValue]:
        check_key(hkey, "hkey")
        prefix = hash_prefix(hkey)
        return await self._run(f"reading hash {hkey!r}", lambda db: _read_hash(db, prefix))

    async def hget_many_json(self, hkey: str, fields: Sequence[str]) -> dict[str, str]:
        check_key(hkey, "hkey")
        prefix = hash_prefix(hkey)
        flat: dict[str, str] = {}
        for field in fields:
            check_key(field, "field")
            flat[hash_field_key_in(prefix, field)] = field
        return await self._run(
            f"reading {len(flat)} fields of {hkey!r}", lambda db: _read_many_text(db, flat)
        )

    async def hget_each(self, pairs: Sequence[tuple[str, str]]) -> list[JSONValue]:
        keys = []
        for hkey, field in pairs:
            check_key(hkey, "hkey")
            check_key(field, "field")
            keys.append(hash_field_key(hkey, field))
        by_key = {key: key for key in keys}  # results by composed key: the hashes differ
        found = await self._run(
            f"reading {len(keys)} hash fields", lambda db: _read_many_text(db, by_key)
        )
        return [decode_value(found.get(key)) for key in keys]

    async def hkeys_page(
        self, hkey: str, *, offset: int, limit: int, descending: bool = False
    ) -> tuple[list[str], int]:
        check_key(hkey, "hkey")
        check_page(offset, limit)
        prefix = hash_prefix(hkey)
        return await self._run(
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
        """See `GuardedWrites`: one IMMEDIATE transaction holds the write lock across processes."""
        check_key(key)
        check_key(guard, "guard")
        text = encode_value(value, key=key)
        return await self._run(
            f"writing key {key!r} if {guard!r} holds",
            lambda db: _write_if(db, key, text, guard, expected),
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._close_connections()

    async def _run(self, action: str, call: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError(f"{self.name} is closed ({action}); open a new store")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, call)
        except sqlite3.Error as exc:
            hint = (
                "another process held the write lock too long; retry, or look for a stuck process"
                if "locked" in str(exc) or "busy" in str(exc)
                else "check the disk and the file's permissions"
            )
            raise StoreError(f"{self.name} failed {action}: {exc}; {hint}") from exc

    def _call(self, call: Callable[[sqlite3.Connection], T]) -> T:
        return call(self._connection())

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open_connection()
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _open_connection(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,  # autocommit: each statement is its own transaction
            check_same_thread=False,  # close() runs on another thread
        )
        connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        # NORMAL in WAL mode survives a crash of any process; only power loss can drop the
        # last commits.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


def _read(db: sqlite3.Connection, key: str) -> JSONValue:
    row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else decode_value(row[0])


def _write(db: sqlite3.Connection, key: str, text: str | None) -> None:
    if text is None:
        db.execute("DELETE FROM kv WHERE key = ?", (key,))
        return
    prefix, field = split_hash_key(key) or (None, None)
    db.execute(
        "INSERT INTO kv (key, hash_prefix, field, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, prefix, field, text),
    )


def _write_if(
    db: sqlite3.Connection,
    key: str,
    text: str | None,
    guard: str,
    expected: Mapping[str, JSONValue] | None,
) -> bool:
    db.execute("BEGIN IMMEDIATE")  # the write lock first: no other writer between read and write
    try:
        written = guard_holds(_read(db, guard), expected)
        if written:
            _write(db, key, text)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return written


def _read_many_text(db: sqlite3.Connection, flat: dict[str, str]) -> dict[str, str]:
    """`flat` maps each composed key to its field; returns the stored text of those present."""
    keys = list(flat)
    found: dict[str, str] = {}
    for start in range(0, len(keys), _MANY_CHUNK):
        chunk = keys[start : start + _MANY_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT key, value FROM kv WHERE key IN ({marks})", chunk)
        found.update((flat[key], value) for key, value in rows)
    return found


def _read_field_page(
    db: sqlite3.Connection, prefix: str, offset: int, limit: int, descending: bool
) -> tuple[list[str], int]:
    # BINARY collation compares UTF-8 bytes, which orders like code points (Python's str order).
    order = "DESC" if descending else "ASC"
    db.execute("BEGIN")  # one snapshot for the page and the count
    try:
        rows = db.execute(
            f"SELECT field FROM kv WHERE hash_prefix = ? ORDER BY field {order} LIMIT ? OFFSET ?",
            (prefix, limit, offset),
        ).fetchall()
        (total,) = db.execute("SELECT count(*) FROM kv WHERE hash_prefix = ?", (prefix,)).fetchone()
    finally:
        db.execute("COMMIT")
    return [field for (field,) in rows], int(total)


def _read_hash(db: sqlite3.Connection, prefix: str) -> dict[str, JSONValue]:
    rows = db.execute("SELECT field, value FROM kv WHERE hash_prefix = ?", (prefix,)).fetchall()
    return {field: decode_value(value) for field, value in rows}
