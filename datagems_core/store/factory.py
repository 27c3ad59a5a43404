"""Pick the key-value store the settings ask for."""

from __future__ import annotations

from datagems_core.config.settings import Settings
from datagems_core.store.base import KVStore
from datagems_core.store.cstore import CStoreStore
from datagems_core.store.memory import MemoryStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool, shared_pool
from datagems_core.store.sqlite import SqliteStore

STORE_FILENAME = "store.sqlite3"


def open_store(settings: Settings) -> KVStore:
    """MemoryStore when `DATAGEN_MOCK_CSTORE` is on (it wins even on a node, as in the seed),
    CStore when its URL (or host) is set, PostgreSQL when `DATAGEMS_DATABASE_URL` is, else the
    embedded SQLite file in the data dir.

    A mock store shared by several processes (`datagems up`: the API and its flow runs) is a
    throwaway SQLite file named by `DATAGEMS_MOCK_STORE_FILE`: memory cannot be shared.
    """
    if settings.mock_cstore:
        if settings.mock_store_file is not None:
            return SqliteStore(path=settings.mock_store_file)
        return MemoryStore()
    if settings.cstore_api_url:
        return CStoreStore.from_settings(settings)
    pool = open_postgres_pool(settings)
    if pool is not None:
        return PostgresStore(pool=pool)
    return SqliteStore(path=settings.data_dir / STORE_FILENAME)


def open_postgres_pool(settings: Settings) -> PostgresPool | None:
    """The process' PostgreSQL pool when `DATAGEMS_DATABASE_URL` is set; each caller closes it."""
    if settings.database_url is None:
        return None
    return shared_pool(
        settings.database_url.get_secret_value(),
        max_size=settings.database_pool_size,
        retries=settings.database_retries,
    )
