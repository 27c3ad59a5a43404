"""`datagems export`: write a stored job's valid records to a file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from datagems_core.config.settings import Settings, get_settings
from datagems_core.jobs.models import Job
from datagems_core.output.exports import export_to_path, format_for_path
from deployments.cli_output import one_line_errors, say
from deployments.stored_jobs import open_stores_holding, read_stored_job


def register(app: typer.Typer) -> None:
    """Add `export` to `app`."""
    app.command("export")(export)


def export(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job to export")],
    out: Annotated[Path, typer.Option(help="Output file: .json, .jsonl, .csv or .parquet")],
) -> None:
    """Write a stored job's valid records to a file.

    A job that has not succeeded gives what it has made so far.
    """
    with one_line_errors():
        format_for_path(out)
        job, written, failed = asyncio.run(_export(get_settings(), job_id, out))
        note = "" if job.status == "succeeded" else f" (job is {job.status}: partial data)"
        say(f"wrote {written} records to {out}; {failed} failed left out{note}")


async def _export(settings: Settings, job_id: str, out: Path) -> tuple[Job, int, int]:
    store, files = open_stores_holding(settings, job_id)
    try:
        job = await read_stored_job(store, settings, job_id)
        summary = await export_to_path(store, files, job_id, out)
        return job, summary.rows, summary.failed
    finally:
        await files.close()
        await store.close()
