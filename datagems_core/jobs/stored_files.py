"""The files a job owns, and removing them when the job is deleted.

A job writes its details file, one file per checkpoint block and, when it finishes, its dataset
(JSONL). Deleting the job deletes them from the file store too (1.4 GB stayed on disk before).
File ids are content hashes, so two jobs could share a file only if they wrote the same bytes:
details hold the job id and blocks each record's timings, so those are the job's own; a dataset
file another job also points at is kept.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from datagems_core.errors import DatagemsError
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import JOBS_HKEY, blocks_hkey, shards_hkey
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore

log = logging.getLogger("datagems.jobs")


@runtime_checkable
class DeletableFileStore(Protocol):
    async def delete(self, file_id: str) -> None: ...


async def job_file_ids(store: KVStore, job: Job) -> set[str]:
    """Every file id the job's records point at (read before the records are deleted)."""
    ids = {job.job_details_cid} if job.job_details_cid else set()
    if job.dataset_cid:
        ids.add(job.dataset_cid)
    for shard_key in await store.hgetall(shards_hkey(job.id)):
        for value in (await store.hgetall(blocks_hkey(job.id, shard_key))).values():
            file_id = value.get("fileId") if isinstance(value, dict) else None
            if isinstance(file_id, str):
                ids.add(file_id)
    return ids


async def delete_job_files(store: KVStore, files: FileStore, job: Job, file_ids: set[str]) -> int:
    """Delete `file_ids` (from `job_file_ids`) but those another job still uses; returns how
    many were deleted. A file that cannot be deleted is logged and the rest go on."""
    if not isinstance(files, DeletableFileStore):
        log.warning(
            "%s cannot delete files; job %s left %d file(s)", files.name, job.id, len(file_ids)
        )
        return 0
    in_use: set[str] = set()
    for job_id, value in (await store.hgetall(JOBS_HKEY)).items():
        if job_id != job.id and isinstance(value, dict):
            in_use.update(str(value[k]) for k in ("datasetCid", "jobDetailsCid") if value.get(k))
    deleted = 0
    for file_id in sorted(file_ids - in_use):
        try:
            await files.delete(file_id)
            deleted += 1
        except DatagemsError as exc:
            log.warning("could not delete file %s of job %s: %s", file_id, job.id, exc.message)
    return deleted
