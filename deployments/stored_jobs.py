"""The CLI's jobs in the configured store, and where that is, so a command run from another
directory says where it looked instead of starting an empty data dir there.

    store, files = open_stores_holding(settings, job_id)  # NotFound names the data dir
"""

from __future__ import annotations

from datagems_core.config.settings import Settings
from datagems_core.errors import NotFound
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import read_job
from datagems_core.store.base import KVStore
from datagems_core.store.factory import STORE_FILENAME, open_store
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store


def where_jobs_are(settings: Settings) -> str:
    """Where this process keeps and looks for jobs, as a person would go and look."""
    if settings.mock_cstore:
        return "the mock store (DATAGEN_MOCK_CSTORE)"
    if settings.cstore_api_url:
        return "CStore (EE_CHAINSTORE_API_URL)"
    if settings.database_url:
        return "PostgreSQL (DATAGEMS_DATABASE_URL)"
    return str(settings.data_dir)


def open_stores_holding(settings: Settings, job_id: str) -> tuple[KVStore, FileStore]:
    """The stores of an existing job; a data dir without a store is named, not created."""
    embedded = not (settings.mock_cstore or settings.cstore_api_url or settings.database_url)
    if embedded and not (settings.data_dir / STORE_FILENAME).is_file():
        raise NotFound(_no_job(settings, job_id))
    return open_store(settings), open_file_store(settings)


async def read_stored_job(store: KVStore, settings: Settings, job_id: str) -> Job:
    try:
        return await read_job(store, job_id)
    except NotFound:
        raise NotFound(_no_job(settings, job_id)) from None


def _no_job(settings: Settings, job_id: str) -> str:
    shared = settings.mock_cstore or settings.cstore_api_url or settings.database_url
    hint = "" if shared else " (set DATAGEMS_DATA_DIR)"
    return f"no job {job_id} in {where_jobs_are(settings)}{hint}"


async def find_job(settings: Settings, job_id: str) -> Job:
    """The stored job, or NotFound naming where it was looked for."""
    store, files = open_stores_holding(settings, job_id)
    try:
        return await read_stored_job(store, settings, job_id)
    finally:
        await files.close()
        await store.close()
