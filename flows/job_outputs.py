"""What a finished job leaves behind: its dataset file and its summary in the Prefect UI."""

from __future__ import annotations

import tempfile
from pathlib import Path

from datagems_core.jobs.models import Job, sum_shards
from datagems_core.jobs.repository import read_shards
from datagems_core.output.exports import write_export
from datagems_core.output.summary import render_run_summary
from datagems_core.quality.report import quality_report, render_quality
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore
from flows.progress import publish_summary


async def store_dataset(store: KVStore, files: FileStore, job: Job) -> str | None:
    """Write the valid records as JSONL to the file store; returns the file id.

    The export goes to a temporary file that the store copies or uploads in chunks, so memory
    stays flat however large the dataset.
    """
    with tempfile.TemporaryDirectory(prefix="datagems-dataset-") as folder:
        path = Path(folder) / f"{job.id}.jsonl"
        with path.open("wb") as out:
            summary = await write_export(store, files, job.id, fmt="jsonl", out=out)
        if summary.rows == 0:
            return None
        return await files.put_file(path.name, path)


async def summarise(store: KVStore, files: FileStore, job: Job) -> None:
    """The run's summary in the Prefect UI: title, id, state, counts, tokens and the quality
    counts. No records, field values, examples or error texts: whoever holds Prefect's auth
    string sees every user's runs, so those stay behind the API's per-user checks."""
    totals = sum_shards(await read_shards(store, job.id))
    quality = render_quality(await quality_report(store, files, job), examples=False)
    markdown = render_run_summary(job, totals)
    markdown += "\n## Quality\n\n" + "\n".join(f"- {line}" for line in quality) + "\n"
    await publish_summary(job, markdown)
