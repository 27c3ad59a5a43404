"""API latency: p50/p99 of `GET /api/jobs` and `GET /api/jobs/{id}`, 1,000 jobs, 50 clients.

    python -m bench.api_latency [--sizes 1000]

The jobs, their owner and an API token are written to an embedded store through the core; the
API runs as a real uvicorn process (`api.main:create_app --factory`) on the server CPU; 50
clients on the client CPU each send requests back to back with `Authorization: Bearer`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import aiohttp

from bench.cases import emit_result, run_child
from bench.machine import CLIENT_CPU, SERVER_CPU, pinned
from bench.measure import Span
from bench.report import Line, show
from bench.stack import Stack
from bench.workload import INSTRUCTIONS
from datagems_core.accounts.api_tokens import create_api_token
from datagems_core.accounts.users import create_user
from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.jobs.repository import create_job
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from tests.support.processes import free_port, start_server, tree_cpu_seconds
from tests.support.schemas import TICKET_SCHEMA
from tests.support.settings import make_settings

CLIENTS = 50
REQUESTS_PER_ENDPOINT = 5000
WARMUP = 200
P99_TARGET_MS = 50.0
TOKEN_ENV = "BENCH_API_TOKEN"


async def write_jobs(settings: Settings, count: int) -> dict[str, Any]:
    """The bench user, an API token and `count` jobs; returns the token and one job id.

    Runs in the parent, so the token stays in memory (it reaches the load child by environment).
    """
    store, files = open_store(settings), open_file_store(settings)
    try:
        await create_user(store, settings, "bench", os.urandom(16).hex())
        token, _ = await create_api_token(store, username="bench", name="bench", max_tokens=10)
        job_id = ""
        for i in range(count):
            job = await create_job(
                store,
                files,
                DatasetDefinition(
                    title=f"bench job {i}", instructions=INSTRUCTIONS, schema=TICKET_SCHEMA, seed=i
                ),
                owner="bench",
                total_records=100,
                peers=["local"],
            )
            job_id = job_id or job.id
        return {"token": token, "job_id": job_id}
    finally:
        await files.close()
        await store.close()


async def load(url: str, token: str, *, clients: int, requests: int) -> dict[str, Any]:
    """Latencies in ms of `requests` GETs of `url` from `clients` back-to-back clients."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    warmup = min(WARMUP, requests // 4)
    remaining = iter(range(requests + warmup))

    async def client(session: aiohttp.ClientSession) -> None:
        for n in remaining:
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
                status = response.status
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
            elif n >= warmup:
                latencies.append(elapsed)

    connector = aiohttp.TCPConnector(limit=clients)
    span = Span.start()
    async with aiohttp.ClientSession(connector=connector) as session:
        async with asyncio.TaskGroup() as group:
            for _ in range(clients):
                group.create_task(client(session))
    figures = span.finish()
    latencies.sort()
    if not latencies:
        return {"errors": errors, "count": 0, **figures}
    return {
        "count": len(latencies),
        "errors": errors,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1],
        "warmup": warmup,
        "per_s": (len(latencies) + warmup) / figures["seconds"],
        **figures,
    }


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (1000,),
    clients: int = CLIENTS,
    requests: int = REQUESTS_PER_ENDPOINT,
) -> list[Line]:
    lines = []
    for n in sizes:
        case = stack.case_dir(f"api-{n}")
        env = stack.job_env(case / "data")
        written = asyncio.run(write_jobs(make_settings(case / "data"), n))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with pinned(SERVER_CPU):
            server = start_server(
                [
                    "-m",
                    "uvicorn",
                    "api.main:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                url=base,
                health_path="/api/health",
                log_path=case / "api.log",
                env=env,
            )
        try:
            for name, path in (
                ("GET /api/jobs", "/api/jobs"),
                ("GET /api/jobs/{id}", f"/api/jobs/{written['job_id']}"),
            ):
                cpu_before = tree_cpu_seconds(server.pid)
                result = run_child(
                    "bench.api_latency",
                    ["--load", base + path, "--clients", str(clients), "--requests", str(requests)],
                    cpu=CLIENT_CPU,
                    env={TOKEN_ENV: str(written["token"])},
                    log_path=case / f"load-{path.count('/')}.log",
                )
                server_cpu = tree_cpu_seconds(server.pid) - cpu_before
                if not result["count"]:
                    raise RuntimeError(f"{name}: no successful request ({result['errors']})")
                total = int(result["count"]) + int(result["warmup"])
                shown = {
                    "p50 ms": f"{result['p50_ms']:.1f}",
                    "p99 ms": f"{result['p99_ms']:.1f}",
                    "max ms": f"{result['max_ms']:.1f}",
                    "req/s": f"{result['per_s']:.0f}",
                    "server CPU ms/req": f"{server_cpu * 1000 / total:.2f}",
                    "errors": str(sum(result["errors"].values())),
                }
                lines.append(
                    show(
                        Line(
                            "api",
                            f"{name} {n} jobs, {clients} clients",
                            shown,
                            target=f"p99 <= {P99_TARGET_MS:g} ms",
                            met=float(result["p99_ms"]) <= P99_TARGET_MS and not result["errors"],
                            raw=result,
                        )
                    )
                )
        finally:
            server.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", metavar="URL")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_ENDPOINT)
    args, _ = parser.parse_known_args()  # the rest is for the standalone run
    if args.load:
        token = os.environ[TOKEN_ENV]
        emit_result(
            asyncio.run(load(args.load, token, clients=args.clients, requests=args.requests))
        )
    else:
        from bench.standalone import run_standalone

        run_standalone("api_latency", run, sizes_default="1000", with_prefect=False)


if __name__ == "__main__":
    main()
