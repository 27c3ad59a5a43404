"""Fixtures the core's tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from datagems_core.store.base import KVStore
from datagems_core.store.memory import MemoryStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool
from datagems_core.store.sqlite import SqliteStore


@pytest_asyncio.fixture(loop_scope="function", params=["memory", "sqlite", "postgres"])
async def stores(request, tmp_path) -> AsyncIterator[tuple[KVStore, KVStore]]:
    """Two handles on one store, as two workers would have (one for memory: one process)."""
    if request.param == "memory":
        one = MemoryStore()
        pair: tuple[KVStore, KVStore] = (one, one)
    elif request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        pair = (SqliteStore(path=path), SqliteStore(path=path))
    else:
        url = request.getfixturevalue("postgres_url")
        pair = (
            PostgresStore(pool=PostgresPool(url=url)),
            PostgresStore(pool=PostgresPool(url=url)),
        )
    yield pair
    for store in set(pair):
        await store.close()
