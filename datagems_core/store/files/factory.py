"""Pick the file store the settings ask for."""

from __future__ import annotations

from datagems_core.config.settings import Settings
from datagems_core.store.factory import open_postgres_pool
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.local import LocalFileStore
from datagems_core.store.files.postgres import PostgresFileStore
from datagems_core.store.files.r1fs import R1FSFileStore

FILES_DIRNAME = "files"


def open_file_store(settings: Settings) -> FileStore:
    """R1FS when its URL (or host) is set and Ratio1 is not mocked, PostgreSQL when
    `DATAGEMS_DATABASE_URL` is set, else files in the data dir."""
    if settings.r1fs_api_url and not settings.mock_cstore:
        return R1FSFileStore.from_settings(settings)
    if not settings.mock_cstore:
        pool = open_postgres_pool(settings)
        if pool is not None:
            return PostgresFileStore(pool=pool)
    return LocalFileStore(root=settings.data_dir / FILES_DIRNAME)
