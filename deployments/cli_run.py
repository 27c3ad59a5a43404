"""A CLI job's run: its flow in this process against a Prefect API, a progress bar on stderr,
then its quality, its cost and its records written to the output file."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console

from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest
from datagems_core.jobs.models import Job
from datagems_core.jobs.repository import read_details, read_job
from datagems_core.jobs.shard_run import describe_error
from datagems_core.jobs.transitions import clear_cancel
from datagems_core.jobs.views import cost_line
from datagems_core.output.exports import export_to_path
from datagems_core.quality.report import quality_report, render_quality
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore
from deployments.cli_output import CommandFailed, say
from deployments.local_prefect import prefect_api, quiet_prefect_console
from deployments.progress_bar import ProgressBar
from deployments.stored_jobs import open_stores_holding, read_stored_job

_stderr = Console(stderr=True, highlight=False)


def run_and_export(settings: Settings, job_id: str, out: Path | None, *, verbose: bool) -> None:
    """Run the job's flow here and write its records; CommandFailed unless it succeeded."""
    from flows.progress import links_last  # imports Prefect: only when running

    with prefect_api(settings, say=say) as server_lasts:
        quiet_prefect_console(verbose)
        token = links_last.set(server_lasts)
        try:
            job = asyncio.run(_run(settings, job_id, out))
        finally:
            links_last.reset(token)
    if job.status != "succeeded" or job.total_ok != job.total_records:
        reason = job.error or f"the job ended {job.status}"
        raise CommandFailed(
            f"job {job_id} {job.status}: {reason} ({job.total_ok} of {job.total_records} "
            f"accepted records kept; `datagems resume {job_id} --max-candidates M` continues it)"
        )


async def _run(settings: Settings, job_id: str, out: Path | None) -> Job:
    from flows.generate_dataset import generate_dataset  # imports Prefect: only when running

    store, files = open_stores_holding(settings, job_id)
    try:
        job = await read_stored_job(store, settings, job_id)
        await clear_cancel(store, job_id)  # resuming a cancelled job means going on
        target = out or _default_out(await read_details(files, job))
        progress = ProgressBar(job, console=_stderr)
        watcher = asyncio.create_task(progress.follow(store))
        failure: Exception | None = None
        try:
            await generate_dataset(job_id)
        except Exception as exc:  # the flow stored the reason on the job; report it from there
            failure = exc
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await progress.refresh(store)
            progress.stop()
        job = await read_job(store, job_id)
        if failure is not None and not job.is_finished:
            raise CommandFailed(f"job {job_id} stopped: {describe_error(failure)}")
        for line in render_quality(await quality_report(store, files, job)):
            say(f"quality: {line}")
        say(cost_line(job, job.tokens, accepted=job.total_ok))
        if job.status == "succeeded":
            await _write(store, files, job, target)
        return job
    finally:
        await files.close()
        await store.close()


def _default_out(details: Any) -> Path:
    out = details.meta.get("cliOut")
    if not isinstance(out, str):
        raise BadRequest("this job was not made by `datagems generate`: give --out")
    return Path(out)


async def _write(store: KVStore, files: FileStore, job: Job, out: Path) -> tuple[int, int]:
    summary = await export_to_path(store, files, job.id, out)
    say(f"wrote {summary.rows} records to {out} ({summary.failed} failed left out)")
    return summary.rows, summary.failed
