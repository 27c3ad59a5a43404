"""Exports of 1,000,000 records to CSV, JSONL, Parquet and JSON: seconds and peak RSS each.

    python -m bench.exports [--sizes 1000000]

The job's checkpoint blocks are built synthetically through the engine's own commit path
(`checkpoints.commit_block`, one block per `BLOCK_RECORDS` records, 1 % failed records), not
through inference. Each format then exports in a fresh process with `exports.export_to_path`,
so each peak RSS is that export's own.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
from pathlib import Path
from typing import Any

from bench.cases import emit_result, run_child
from bench.machine import CLIENT_CPU
from bench.measure import Span
from bench.report import Line, show
from bench.stack import Stack
from bench.workload import INSTRUCTIONS
from datagems_core.config.settings import get_settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.datasets.record_maker import RecordResult
from datagems_core.inference.mock import generate_record
from datagems_core.inference.usage import TokenUsage
from datagems_core.jobs.checkpoints import ShardProgress, commit_block, save_shard
from datagems_core.jobs.models import sum_shards
from datagems_core.jobs.repository import create_job, read_shards
from datagems_core.jobs.transitions import mark_finished
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from tests.support.schemas import TICKET_SCHEMA

FORMATS = ("csv", "jsonl", "parquet", "json")
BLOCK_RECORDS = 1000
FAILED_EVERY = 100
SECONDS_TARGET = 10.0
_POOL = 1000


def _result(index: int, pool: list[dict[str, Any]]) -> RecordResult:
    if index % FAILED_EVERY == FAILED_EVERY - 1:
        return RecordResult(index, False, None, "schema validation failed: $.plan", 2)
    data = copy.copy(pool[index % len(pool)])
    data["ticket_id"] = f"T{index:09d}"
    usage = TokenUsage(prompt=420, completion=80, total=500)
    return RecordResult(index, True, data, None, 1, usage=usage, duration_ms=201.0)


async def build_job(records: int, block_records: int) -> dict[str, Any]:
    """A finished job of `records` results committed in blocks, as the shard loop commits them."""
    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    span = Span.start()
    try:
        job = await create_job(
            store,
            files,
            DatasetDefinition(
                title=f"export {records}", instructions=INSTRUCTIONS, schema=TICKET_SCHEMA, seed=1
            ),
            owner="bench",
            total_records=records,
            peers=["local"],
        )
        pool = [generate_record(TICKET_SCHEMA, seed=5, index=i) for i in range(_POOL)]
        (shard,) = await read_shards(store, job.id)
        progress = ShardProgress(shard=shard, plan=range(0, records))
        for start in range(0, records, block_records):
            results = [_result(i, pool) for i in range(start, min(start + block_records, records))]
            await commit_block(store, files, job_id=job.id, progress=progress, results=results)
        await save_shard(store, job.id, progress.shard.model_copy(update={"status": "succeeded"}))
        totals = sum_shards(await read_shards(store, job.id))
        await mark_finished(store, job, status="succeeded", error=None, totals=totals)
        return {
            "job_id": job.id,
            "valid": totals.total_ok,
            "failed": totals.total_failed,
            **span.finish(),
        }
    finally:
        await files.close()
        await store.close()


async def export_job(job_id: str, fmt: str, out: Path) -> dict[str, Any]:
    from datagems_core.output.exports import export_to_path, parse_format

    settings = get_settings()
    store, files = open_store(settings), open_file_store(settings)
    span = Span.start()
    try:
        summary = await export_to_path(store, files, job_id, out, fmt=parse_format(fmt))
    finally:
        await files.close()
        await store.close()
    return {
        "rows": summary.rows,
        "failed": summary.failed,
        "bytes": out.stat().st_size,
        **span.finish(),
    }


def run(
    stack: Stack, *, sizes: tuple[int, ...] = (1_000_000,), block_records: int = BLOCK_RECORDS
) -> list[Line]:
    lines = []
    for n in sizes:
        case = stack.case_dir(f"exports-{n}")
        env = stack.job_env(case / "data")
        built = run_child(
            "bench.exports",
            ["--build", str(n), "--block", str(block_records)],
            cpu=CLIENT_CPU,
            env=env,
            log_path=case / "build.log",
        )
        lines.append(
            show(
                Line(
                    "exports",
                    f"N={n} build blocks",
                    {
                        "seconds": f"{float(built['seconds']):.1f}",
                        "blocks": str(-(-n // block_records)),
                        "valid": str(built["valid"]),
                        "failed": str(built["failed"]),
                    },
                    raw=built,
                )
            )
        )
        for fmt in FORMATS:
            out = case / f"export.{fmt}"
            result = run_child(
                "bench.exports",
                ["--export", fmt, "--job", str(built["job_id"]), "--out", str(out)],
                cpu=CLIENT_CPU,
                env=env,
                log_path=case / f"export-{fmt}.log",
            )
            seconds = float(result["seconds"])
            lines.append(
                show(
                    Line(
                        "exports",
                        f"N={n} {fmt}",
                        {
                            "seconds": f"{seconds:.1f}",
                            "rows/s": f"{int(result['rows']) / seconds:,.0f}",
                            "peak RSS MB": f"{float(result['peak_rss_mb']):.0f}",
                            "CPU s": f"{float(result['cpu_s']):.1f}",
                            "rows": str(result["rows"]),
                            "MB out": f"{int(result['bytes']) / 2**20:.0f}",
                        },
                        target=f"<= {SECONDS_TARGET:g} s",
                        met=seconds <= SECONDS_TARGET
                        and int(result["rows"]) == int(built["valid"]),
                        raw=result,
                    )
                )
            )
            out.unlink(missing_ok=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=int, metavar="N", help="build a job of N records")
    parser.add_argument("--block", type=int, default=BLOCK_RECORDS)
    parser.add_argument("--export", choices=FORMATS, help="export --job to --out")
    parser.add_argument("--job")
    parser.add_argument("--out", type=Path)
    args, _ = parser.parse_known_args()  # the rest is for the standalone run
    if args.build:
        emit_result(asyncio.run(build_job(args.build, args.block)))
    elif args.export and args.job and args.out:
        emit_result(asyncio.run(export_job(args.job, args.export, args.out)))
    else:
        from bench.standalone import run_standalone

        run_standalone("exports", run, sizes_default="1000000", with_prefect=False)


if __name__ == "__main__":
    main()
