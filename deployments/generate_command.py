"""`datagems generate | resume`: make a dataset from the command line, through a Prefect flow.

    datagems generate --instructions "Support tickets for a bank" --schema ticket.schema.json \\
        --records 500 --out tickets.csv [--gateway http://127.0.0.1:8000/v1 --model m]

The flow runs in this process against PREFECT_API_URL when set (the run shows in that UI), else
against a temporary local Prefect server. Jobs live in the configured store (embedded SQLite by
default), so a killed run finishes with `datagems resume JOB_ID`. Exit 0 when the job succeeded;
otherwise one line on stderr says why.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from datagems_core.config.settings import Settings, get_settings
from datagems_core.datasets.definition import InferenceChoice
from datagems_core.errors import BadRequest
from datagems_core.jobs.repository import create_job
from datagems_core.jobs.shards import Sharding, check_shards, sharding_for
from datagems_core.output.exports import format_for_path
from datagems_core.quality.gate_config import (
    DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    GateConfig,
)
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from deployments.cli_output import one_line_errors, say
from deployments.cli_run import run_and_export
from deployments.estimate_command import print_estimate
from deployments.generate_inputs import (
    check_cli_definition,
    check_gateway,
    continue_if_short,
    read_instructions,
    read_schema,
)
from deployments.stored_jobs import (
    find_job,
    where_jobs_are,
)

CLI_OWNER = "admin"


def register(app: typer.Typer) -> None:
    """Add `generate` and `resume` to `app`."""
    app.command("generate")(generate)
    app.command("resume")(resume)


def generate(
    schema: Annotated[Path, typer.Option(help="JSON Schema of one record (a .json file)")],
    records: Annotated[int, typer.Option(help="How many records to make")],
    out: Annotated[Path, typer.Option(help="Output file: .json, .jsonl, .csv or .parquet")],
    instructions: Annotated[
        str | None,
        typer.Option(help="What the dataset is about  [required, or a file]"),
    ] = None,
    instructions_file: Annotated[
        Path | None, typer.Option(help="Read the instructions from this file instead")
    ] = None,
    gateway: Annotated[str | None, typer.Option(help="Gateway base URL (default: mock)")] = None,
    model: Annotated[str | None, typer.Option(help="Model name sent to the gateway")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the gateway's API key")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Most calls in flight")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for per-record variations")] = None,
    title: Annotated[
        str | None, typer.Option(help="Job title (default: from instructions)")
    ] = None,
    dataset_mode: Annotated[
        bool, typer.Option("--dataset-mode", help="Labelled records for ML datasets")
    ] = False,
    max_candidates: Annotated[
        int | None,
        typer.Option(help="Most candidates to try for the N records (default: factor x N)"),
    ] = None,
    unique: Annotated[
        list[str] | None, typer.Option(help="A field whose values never repeat (repeatable)")
    ] = None,
    near_duplicate_threshold: Annotated[
        float | None, typer.Option(help="MinHash Jaccard threshold for near duplicates")
    ] = DEFAULT_NEAR_DUPLICATE_THRESHOLD,
    no_near_duplicates: Annotated[
        bool, typer.Option(help="Turn the near-duplicate gate off")
    ] = False,
    lint: Annotated[bool, typer.Option(help="Reject empty, echoed and placeholder values")] = True,
    max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Stop (failed, keeping what was made) at this many tokens"),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(help="Stop at this cost in USD (needs DATAGEMS_INFERENCE_*_PRICE_PER_MTOK)"),
    ] = None,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print what the job would cost, then exit")
    ] = False,
    shards: Annotated[
        int | None,
        typer.Option(help="Split the job into this many shards (default: DATAGEMS_SHARDS)"),
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Finish this job id instead")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's log lines")] = False,
) -> None:
    """Make a dataset: exactly --records accepted records.

    The records are written to --out, in the format its extension names.
    """
    with one_line_errors():
        format_for_path(out)
        settings = get_settings()
        if resume:
            asyncio.run(find_job(settings, resume))  # before starting a Prefect server for it
            continue_if_short(settings, resume, max_candidates)
            run_and_export(settings, resume, out, verbose=verbose)
            return
        text = read_instructions(instructions, instructions_file)
        if not 1 <= records <= settings.max_records_per_job:
            raise BadRequest(
                f"--records must be between 1 and {settings.max_records_per_job} "
                "(DATAGEN_MAX_RECORDS_PER_JOB)"
            )
        choice = InferenceChoice(
            base_url=gateway, model=model, api_key_env=api_key_env, concurrency=concurrency
        )
        check_gateway(settings, choice)
        changes: dict[str, Any] = {
            "title": title or _title_from(text),
            "instructions": text,
            "json_schema": read_schema(schema),
            "dataset_mode": dataset_mode,
            "inference": choice,
            "seed": seed,
            "gates": GateConfig(
                lint=lint,
                unique_fields=unique or [],
                near_duplicate_threshold=None if no_near_duplicates else near_duplicate_threshold,
            ),
            "max_candidates": max_candidates,
            "max_tokens": max_tokens,
            "max_cost_usd": max_cost,
        }
        sharding = sharding_for(settings, records, check_shards(shards, records))
        if estimate:
            print_estimate(settings, changes, records=records, schema_path=schema)
            return
        changes["description"] = "made with `datagems generate`"
        job_id = asyncio.run(_create(settings, changes, records, schema, out, sharding))
        run_and_export(settings, job_id, out, verbose=verbose)


def resume(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job to finish")],
    out: Annotated[Path | None, typer.Option(help="Output file (default: the job's)")] = None,
    max_candidates: Annotated[
        int | None, typer.Option(help="A larger candidate budget for a job that spent its own")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's log lines")] = False,
) -> None:
    """Finish a stopped job from its checkpoints.

    After a kill, a failure, a cancel or a spent budget: redoes at most one checkpoint's worth
    of records.
    """
    with one_line_errors():
        if out is not None:
            format_for_path(out)
        settings = get_settings()
        asyncio.run(find_job(settings, job_id))  # before starting a Prefect server for it
        continue_if_short(settings, job_id, max_candidates)
        run_and_export(settings, job_id, out, verbose=verbose)


async def _create(
    settings: Settings,
    changes: dict[str, Any],
    records: int,
    schema_path: Path,
    out: Path,
    sharding: Sharding,
) -> str:
    store, files = open_store(settings), open_file_store(settings)
    try:
        checked = await check_cli_definition(
            store, settings, CLI_OWNER, changes, records=records, schema_path=schema_path
        )
        job = await create_job(
            store,
            files,
            checked.definition,
            owner=CLI_OWNER,
            total_records=records,
            peers=sharding.keys,
            on_peers=sharding.on_peers,
            meta={"cliOut": str(out.resolve())},
        )
    finally:
        await files.close()
        await store.close()
    say(
        f"job {job.id}: {records} records, kept in {where_jobs_are(settings)}; "
        f"if stopped, finish it with `datagems resume {job.id}`"
    )
    return job.id


def _title_from(instructions: str) -> str:
    first = instructions.splitlines()[0]
    return first if len(first) <= 60 else first[:59] + "…"
