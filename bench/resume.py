"""The cost of a crash: kill -9 a running job at about half, resume it, count the work redone.

    python -m bench.resume [--sizes 2000]

The job runs in a child process through the flow (C=64, L=200 ms). When the store shows about
half the records committed, the child gets SIGKILL; then the counts are taken: records the
gateway had answered and the store had not committed are lost work, bounded by K (the checkpoint
interval, `DATAGEN_UPDATE_EVERY_K_REQUESTS`) plus the commit under way. A second child resumes
the job to the end; every record must come out exactly once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from bench.cases import run_child
from bench.machine import CLIENT_CPU, pinned
from bench.report import Line, show
from bench.stack import Stack
from bench.workload import CONCURRENCY, LATENCY_MS
from datagems_core.config.settings import load_settings
from datagems_core.jobs.repository import read_shards
from datagems_core.store.factory import open_store
from tests.support.processes import child_env
from tests.support.settings import make_settings

KILL_AT = 0.5
KILL_TIMEOUT_SECONDS = 300.0


async def _committed(data_dir: Path, job_id: str) -> int:
    settings = make_settings(data_dir)
    store = open_store(settings)
    try:
        return sum(s.generated_ok + s.generated_failed for s in await read_shards(store, job_id))
    finally:
        await store.close()


async def _wait_for(
    data_dir: Path, job_id: str, target: int, process: subprocess.Popen[bytes]
) -> int:
    deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the job finished or died (exit {process.returncode}) before half")
        done = await _committed(data_dir, job_id)
        if done >= target:
            return done
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the job did not reach {target} committed records in time")


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (2000,),
    concurrency: int = CONCURRENCY,
    latency_ms: float = LATENCY_MS,
) -> list[Line]:
    stack.gateway.configure(
        latency_ms=latency_ms, jitter_ms=0, rate_500=0, rate_429=0, rate_non_json=0
    )
    k = load_settings(None).update_every_k
    lines = []
    for n in sizes:
        case = stack.case_dir(f"resume-{n}")
        data_dir = case / "data"
        env = stack.job_env(data_dir, DATAGEMS_RECORD_TASKS_MAX="0")
        gateway_args = ["--gateway", stack.gateway.openai_base, "--concurrency", str(concurrency)]
        created = run_child(
            "bench.job_runner",
            ["--records", str(n), *gateway_args, "--create-only"],
            cpu=CLIENT_CPU,
            env=env,
            log_path=case / "create.log",
        )
        job_id = str(created["job_id"])
        stack.gateway.clear()
        with (case / "killed.log").open("wb") as log, pinned(CLIENT_CPU):
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.job_runner", "--resume", job_id],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(env),
            )
        try:
            asyncio.run(_wait_for(data_dir, job_id, int(n * KILL_AT), process))
            answered = int(stack.gateway.stats()["answered"])
            process.kill()
        finally:
            process.kill()
            process.wait()
        committed = asyncio.run(_committed(data_dir, job_id))
        lost = max(0, answered - committed)
        resumed = run_child(
            "bench.job_runner",
            ["--resume", job_id],
            cpu=CLIENT_CPU,
            env=env,
            log_path=case / "resume.log",
        )
        calls = int(stack.gateway.stats()["requests"])
        shown = {
            "killed at": f"{committed}/{n} committed",
            "answered, not committed": f"{lost}",
            "K": str(k),
            "calls": f"{calls} for {n} records (+{calls - n})",
            "after resume": f"{resumed['valid']} valid + {resumed['failed']} failed = "
            f"{int(resumed['valid']) + int(resumed['failed'])}/{n}, {resumed['status']}",
            "resume s": f"{float(resumed['seconds']):.1f}",
        }
        exact = int(resumed["valid"]) + int(resumed["failed"]) == n
        lines.append(
            show(
                Line(
                    "resume",
                    f"N={n} kill -9 at {KILL_AT:.0%}",
                    shown,
                    target=f"lost <= K ({k}), every record once",
                    met=lost <= k and exact,
                    raw={"committed": committed, "answered": answered, "calls": calls, **resumed},
                )
            )
        )
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("resume", run, sizes_default="2000")
