"""Exporting a job's valid records over REST as json, jsonl, csv or parquet, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import CurrentUser, FileStoreDep, KVStoreDep
from api.job_access import read_visible_job
from api.openapi import errors
from datagems_core.errors import Conflict
from datagems_core.output.exports import MEDIA_TYPES, ExportSummary, iter_export_bytes, parse_format
from datagems_core.output.file_names import content_disposition, file_name_for

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


EXPORT_ANSWER: dict[str, Any] = {
    "description": "The valid records in the asked format, streamed",
    "content": {
        MEDIA_TYPES["json"]: {"schema": {"type": "array", "items": {"type": "object"}}},
        **{
            MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}
            for fmt in ("jsonl", "csv", "parquet")
        },
    },
    "headers": {
        name: {"description": text, "schema": {"type": kind}}
        for name, text, kind in (
            ("X-DataGems-Partial", "true unless the job succeeded", "string"),
            ("X-DataGems-Job-Status", "The job's status", "string"),
            ("X-DataGems-Records-Total", "Records the job was asked for", "integer"),
            ("X-DataGems-Records-Ok", "Valid records made", "integer"),
            ("X-DataGems-Records-Failed", "Records that failed", "integer"),
        )
    },
}


@router.get(
    "/{job_id}/export",
    summary="Export a job's records",
    response_class=StreamingResponse,
    responses={200: EXPORT_ANSWER, **errors(404, 409)},
)
async def export_job(
    job_id: str,
    user: CurrentUser,
    store: KVStoreDep,
    files: FileStoreDep,
    format_name: Annotated[
        str,
        Query(
            alias="format",
            max_length=16,
            json_schema_extra={"enum": ["json", "jsonl", "csv", "parquet"]},
        ),
    ] = "json",
) -> StreamingResponse:
    """The valid records as json, jsonl, csv or parquet, streamed. Cancelled and failed jobs
    export what they made, marked `X-DataGems-Partial: true`."""
    fmt = parse_format(format_name)
    job = await read_visible_job(store, user, job_id)
    if not job.is_finished:
        raise Conflict(
            f"job {job_id} is {job.status}: export it when it has finished (or cancel it first)",
            details={"status": job.status},
        )
    stream = iter_export_bytes(store, files, job.id, fmt=fmt, summary=ExportSummary(format=fmt))
    first = await anext(stream, b"")  # a store failure answers an error, not a cut-off body
    headers = {
        "Content-Disposition": content_disposition(file_name_for(job.title, job.id, fmt)),
        "X-DataGems-Partial": "false" if job.status == "succeeded" else "true",
        "X-DataGems-Job-Status": job.status,
        "X-DataGems-Records-Total": str(job.total_records),
        "X-DataGems-Records-Ok": str(job.total_ok),
        "X-DataGems-Records-Failed": str(job.total_failed),
    }
    return StreamingResponse(_prepend(first, stream), media_type=MEDIA_TYPES[fmt], headers=headers)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for block in rest:
        yield block
