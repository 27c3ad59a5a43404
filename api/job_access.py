"""Which jobs a caller may see: their own, or every job for an admin."""

from __future__ import annotations

from api.deps import Principal
from datagems_core.errors import NotFound
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import read_job
from datagems_core.store.base import KVStore


async def read_visible_job(store: KVStore, user: Principal, job_id: str) -> Job:
    """The job if `user` owns it or is an admin; NotFound otherwise (as if it did not exist)."""
    job = await read_job(store, job_id)
    if job.owner != user.username and not user.is_admin:
        raise NotFound(f"job {job_id} not found")
    return job
