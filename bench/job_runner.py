"""One DataGems job through the `generate-dataset` flow, as a one-case child process.

    python -m bench.job_runner --records 1000 --gateway http://127.0.0.1:8123/v1 --concurrency 64
    python -m bench.job_runner --records 100000 --mock --concurrency 64
    python -m bench.job_runner --resume JOB_ID
    python -m bench.job_runner --records 10000 --gateway URL --max-tokens 10000000000
    python -m bench.job_runner --records 10000 --gateway URL --no-accounting

The parent sets the environment: `DATAGEMS_DATA_DIR` (the job's store and files),
`PREFECT_API_URL`, and `DATAGEMS_RECORD_TASKS_MAX` to choose task-per-record or per-batch.
The flow is called in this process, as a flow run on the Prefect server. Emits the job's counts,
wall seconds, client CPU and peak RSS of the flow call.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bench.cases import emit_result
from bench.measure import Span
from bench.workload import INSTRUCTIONS
from datagems_core.config.settings import get_settings
from datagems_core.datasets.definition import DatasetDefinition, InferenceChoice
from datagems_core.jobs.repository import create_job, read_job, read_shards
from datagems_core.quality.gate_config import GateConfig
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from tests.support.schemas import TICKET_SCHEMA


async def create_bench_job(
    *,
    records: int,
    gateway: str | None,
    concurrency: int,
    gates: GateConfig | None = None,
    max_candidates: int | None = None,
    max_tokens: int | None = None,
) -> str:
    """Write a queued job for the benchmark schema; returns its id."""
    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    try:
        inference = InferenceChoice(
            base_url=gateway,
            flavour="openai" if gateway else None,
            model="bench-model" if gateway else None,
            concurrency=concurrency,
        )
        job = await create_job(
            store,
            files,
            DatasetDefinition(
                title=f"bench {records} records",
                instructions=INSTRUCTIONS,
                schema=TICKET_SCHEMA,
                seed=1,
                inference=inference,
                gates=gates or GateConfig(),
                max_candidates=max_candidates,
                max_tokens=max_tokens,
            ),
            owner="bench",
            total_records=records,
            peers=["local"],
        )
        return job.id
    finally:
        await files.close()
        await store.close()


async def job_counts(job_id: str) -> dict[str, Any]:
    settings = get_settings()
    store = open_store(settings)
    try:
        job = await read_job(store, job_id)
        shards = await read_shards(store, job_id)
    finally:
        await store.close()
    return {
        "job_id": job_id,
        "status": job.status,
        "records": job.total_records,
        "valid": job.total_ok,
        "failed": job.total_failed,
        "reasons": job.failure_reasons,
        "rejected": job.rejected,
        "attempts": sum(s.attempts for s in shards),
        "error": job.error,
    }


async def run_job(job_id: str, *, profile: Path | None = None) -> dict[str, Any]:
    """Run (or resume) the job through the flow and measure the call.

    `profile` writes a pyinstrument report of the call there (and costs CPU of its own).
    """
    from flows.generate_dataset import generate_dataset  # Prefect loads only in the child

    profiler = _profiler() if profile else None
    span = Span.start()
    error = None
    try:
        await generate_dataset(job_id)
    except Exception as exc:  # the job's record keeps the reason; the figures still count
        error = f"{type(exc).__name__}: {exc}"
    figures = span.finish()
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.write_text(profiler.output_text(unicode=True, show_all=False))
    counts = await job_counts(job_id)
    return {**counts, **figures, "flow_error": error}


def disable_accounting() -> None:
    """Take usage accounting out of this process, for the run it is measured against: no
    ledger writes, no spend guard (budget or quota) per candidate. Token counts on the records
    stay: the gateway reports them either way."""
    from datagems_core.jobs import repository, shard_run, transitions

    async def no_ledger(*_: Any) -> None:
        return None

    async def no_guard(*_: Any) -> None:
        return None

    stubs = (
        (repository, "record_job_usage", no_ledger),
        (transitions, "record_job_usage", no_ledger),
        (shard_run, "shard_spend_guard", no_guard),
    )
    for module, name, stub in stubs:
        assert hasattr(module, name), f"{module.__name__}.{name} moved: the bench measures nothing"
        setattr(module, name, stub)


def _profiler() -> Any:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    if args.no_accounting:
        disable_accounting()
    if args.resume:
        return await run_job(args.resume, profile=args.profile)
    job_id = await create_bench_job(
        records=args.records,
        gateway=None if args.mock else args.gateway,
        concurrency=args.concurrency,
        gates=GateConfig.model_validate_json(args.gates) if args.gates else None,
        max_candidates=args.max_candidates,
        max_tokens=args.max_tokens,
    )
    if args.create_only:
        return {"job_id": job_id}
    return await run_job(job_id, profile=args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--gateway", help="OpenAI base URL of the fake gateway")
    parser.add_argument("--mock", action="store_true", help="use the built-in mock gateway")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--resume", metavar="JOB_ID", help="run an existing job again")
    parser.add_argument("--create-only", action="store_true", help="write the job, do not run it")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report of the run here")
    parser.add_argument("--gates", help="the job's gates as JSON (default: the product's)")
    parser.add_argument("--max-candidates", type=int, help="the job's candidate budget")
    parser.add_argument("--max-tokens", type=int, help="the job's spend budget in tokens")
    parser.add_argument(
        "--no-accounting", action="store_true", help="no ledger writes and no spend guard"
    )
    args = parser.parse_args()
    if not (args.resume or args.mock or args.gateway):
        parser.error("give --gateway URL, --mock or --resume JOB_ID")
    emit_result(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()
