"""What a job made, over REST: its records page by page and its quality report."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from api.deps import CurrentUser, FileStoreDep, KVStoreDep, SettingsDep
from api.job_access import read_visible_job
from api.job_schemas import RecordsPublic
from api.json_body import JSONBody
from api.openapi import errors
from api.paging import Limit, Offset
from datagems_core.jobs.views import read_record_page
from datagems_core.quality.report import quality_report

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get(
    "/{job_id}/records",
    response_model=RecordsPublic,
    summary="Read a job's records",
    responses=errors(404),
)
async def read_job_records(
    job_id: str,
    user: CurrentUser,
    store: KVStoreDep,
    files: FileStoreDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit = 100,
    status: Literal["accepted", "rejected"] | None = None,
) -> JSONBody:
    """Candidates made so far, in index order, with attempts, error, gate, variation and
    tokens; `status=rejected` lists only rejected ones (with the gate and reason). A page holds
    at most `limit` records and about DATAGEMS_MAX_RECORDS_PAGE_BYTES of JSON."""
    job = await read_visible_job(store, user, job_id)
    records, count = await read_record_page(
        store,
        files,
        job,
        offset=offset,
        limit=limit,
        status=status,
        max_bytes=settings.max_records_page_bytes,
    )
    after = offset + len(records)
    next_offset = after if records and after < count else None
    return JSONBody(
        {
            "records": records,
            "count": count,
            "offset": offset,
            "limit": limit,
            "nextOffset": next_offset,
        }
    )


@router.get("/{job_id}/quality", summary="Read a job's quality report", responses=errors(404))
async def read_job_quality(
    job_id: str, user: CurrentUser, store: KVStoreDep, files: FileStoreDep
) -> dict[str, Any]:
    """Candidates, accepted, rejected by gate (with reasons and examples), duplicates,
    distinct-2, per-field distributions, judge scores and tokens."""
    job = await read_visible_job(store, user, job_id)
    return await quality_report(store, files, job)
