"""Scale-out on PostgreSQL: one worker against two, and the Prefect server on PostgreSQL vs SQLite.

    python -m bench.scale_out [--sizes 20000]

Everything is a process of its own, as on several machines: a real PostgreSQL (the tests'
`start_postgres`, holding the store: DATAGEMS_DATABASE_URL), a Prefect server (`datagems server`'s
`start_prefect_server`, on a database of its own on that PostgreSQL, or on SQLite), `datagems
deploy` once, and per Ratio1 peer a `datagems worker` with its own fake gateway process of fixed
latency L (`DATAGEN_INFERENCE_BASE_URL`). A job split over peers sends each shard to its peer's
queue; each shard keeps C requests in flight at its gateway, so the gateways bound a worker at
C/L records/s. Nothing is pinned: the processes share the machine's cores.

CPU is user + system of each process tree (psutil, reaped children included), taken before and
after each job; PostgreSQL's is its whole cluster (store and, when there, Prefect's database).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import WorkerStatus
from prefect.deployments import arun_deployment

from bench.report import Line, rate, show
from bench.stack import Stack
from bench.workload import INSTRUCTIONS
from datagems_core.config.settings import load_settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.jobs.repository import create_job, read_job
from datagems_core.quality.gate_config import GateConfig
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from deployments.prefect_server import PrefectServer, start_prefect_server, stop_process_group
from flows.launch import GENERATE_DATASET
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.processes import REPO, ServerProcess, free_port, start_server
from tests.support.schemas import TICKET_SCHEMA

PEERS = ("0xai_A", "0xai_B")
DATAGEMS = str(Path(sys.executable).parent / "datagems")
TWO_OVER_ONE_TARGET = 1.8
_OURS = ("DATAGEN_", "DATAGEMS_", "EE_", "R1EN_", "CSTORE_", "R1FS_", "PREFECT_")


def _tree_cpu(pid: int) -> float:
    """User + system CPU of a process, its live descendants and the children they reaped."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class Cluster:
    """One Prefect server, `datagems deploy`, and a worker with its own gateway per peer."""

    def __init__(
        self, root: Path, pg: PostgresServer, *, prefect_on_pg: bool, peers: tuple[str, ...]
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.database_url = pg.create_database(f"bench_{root.name.replace('-', '_')}")
        self.gateways: dict[str, ServerProcess] = {}
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.prefect: PrefectServer = start_prefect_server(
            data_dir=root / "prefect",
            host="127.0.0.1",
            port=free_port(),
            log_path=root / "prefect-server.log",
            database_url=self.database_url if prefect_on_pg else None,
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        self.env = {
            **base,
            "PYTHONPATH": str(REPO),
            **self.prefect.env(),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "DATAGEMS_DATABASE_URL": self.database_url,
            "R1EN_CHAINSTORE_PEERS": json.dumps(list(peers)),
            "DATAGEMS_RECORD_TASKS_MAX": "0",
        }
        self.peers = peers

    def start(self, *, latency_ms: float, concurrency: int) -> None:
        for peer in self.peers:
            port = free_port()
            self.gateways[peer] = start_server(
                [
                    *("-m", "tests.support.fake_gateway", "--port", str(port)),
                    *("--latency-ms", str(latency_ms)),
                ],
                url=f"http://127.0.0.1:{port}",
                health_path="/v1/models",
                log_path=self.root / f"gateway-{peer}.log",
            )
        self._run(["deploy"], "deploy")
        for peer in self.peers:
            env = {
                **self.env,
                "PREFECT_HOME": str(self.root / peer / "prefect-client"),
                "DATAGEMS_DATA_DIR": str(self.root / peer / "data"),
                "R1EN_HOST_ADDR": peer,
                "DATAGEN_INFERENCE_BASE_URL": self.gateways[peer].url + "/v1",
                "DATAGEMS_INFERENCE_FLAVOUR": "openai",
                "DATAGEMS_INFERENCE_CONCURRENCY": str(concurrency),
            }
            with (self.root / f"worker-{peer}.log").open("ab") as log:
                self.workers[peer] = subprocess.Popen(
                    [DATAGEMS, "worker"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        deadline = time.monotonic() + 120
        while not asyncio.run(self._online()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not come online; logs in {self.root}")
            time.sleep(0.5)

    def _run(self, args: list[str], name: str) -> None:
        done = subprocess.run(
            [DATAGEMS, *args], cwd=REPO, env={**self.env, "DATAGEMS_DATA_DIR": str(self.root)},
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        (self.root / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"datagems {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    async def _online(self) -> bool:
        async with PrefectClient(self.prefect.api_url) as client:
            workers = await client.read_workers_for_work_pool("datagems")
        names = {w.name for w in workers if w.status == WorkerStatus.ONLINE}
        return all(f"datagems-{peer}" in names for peer in self.peers)

    def cpu(self) -> dict[str, float]:
        return {
            "prefect": _tree_cpu(self.prefect.process.pid),
            "workers": sum(_tree_cpu(w.pid) for w in self.workers.values()),
            "gateways": sum(_tree_cpu(g.process.pid) for g in self.gateways.values()),
        }

    def stop(self) -> None:
        for worker in self.workers.values():
            stop_process_group(worker, timeout=20)
        for gateway in self.gateways.values():
            gateway.stop()
        self.prefect.stop()


def _postgres_cpu(pg: PostgresServer) -> float:
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pg.root / "data") in cmdline:
            return _tree_cpu(proc.pid)
    return 0.0


async def _run_job(cluster: Cluster, *, peers: list[str], records: int) -> dict[str, Any]:
    settings = load_settings(
        None, data_dir=cluster.root / "client", database_url=cluster.database_url
    )
    store, files = open_store(settings), open_file_store(settings)
    try:
        definition = DatasetDefinition(
            title=f"scale-out {records}", instructions=INSTRUCTIONS, schema=TICKET_SCHEMA, seed=1,
            # Each gateway answers records of its own, but they share their words.
            gates=GateConfig(near_duplicate_threshold=None),
        )  # fmt: skip
        job = await create_job(
            store, files, definition, owner="bench", total_records=records, peers=peers
        )
        started = time.perf_counter()
        async with PrefectClient(cluster.prefect.api_url) as client:
            await arun_deployment(
                GENERATE_DATASET, parameters={"job_id": job.id}, timeout=0, client=client
            )
        while not (job := await read_job(store, job.id)).is_finished:
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        await files.close()
        await store.close()
    return {"status": job.status, "valid": job.total_ok, "seconds": seconds, "error": job.error}


def _case(cluster: Cluster, pg: PostgresServer, *, peers: list[str], n: int) -> dict[str, Any]:
    cpu0, pg0 = cluster.cpu(), _postgres_cpu(pg)
    result = asyncio.run(_run_job(cluster, peers=peers, records=n))
    time.sleep(2)  # the server records what the runs sent last
    cpu1, pg1 = cluster.cpu(), _postgres_cpu(pg)
    result["cpu"] = {k: cpu1[k] - cpu0[k] for k in cpu0} | {"postgres": pg1 - pg0}
    result["rate"] = rate(int(result["valid"]), float(result["seconds"]))
    return result


def _figures(result: dict[str, Any], n: int, limit: float) -> dict[str, str]:
    per_k = 1000 / n
    cpu = result["cpu"]
    return {
        "rec/s": f"{result['rate']:.1f}",
        "x limit": f"{result['rate'] / limit:.2f}",
        "valid": f"{result['valid']}/{n}",
        "CPU s per 1k rec: workers": f"{cpu['workers'] * per_k:.2f}",
        "Prefect server": f"{cpu['prefect'] * per_k:.2f}",
        "PostgreSQL": f"{cpu['postgres'] * per_k:.2f}",
        "gateways": f"{cpu['gateways'] * per_k:.2f}",
        "load avg": f"{os.getloadavg()[0]:.2f}",
    }


def run(
    stack: Stack,
    *,
    sizes: tuple[int, ...] = (20000,),
    concurrency: int = 32,
    latency_ms: float = 200.0,
) -> list[Line]:
    """Per N: one worker, two workers (Prefect on PostgreSQL), one worker with Prefect on SQLite."""
    pg = start_postgres()
    lines: list[Line] = []
    limit = concurrency / (latency_ms / 1000)
    try:
        results: dict[str, dict[int, dict[str, Any]]] = {"one": {}, "two": {}, "sqlite": {}}
        on_pg = Cluster(stack.case_dir("scale-out-pg"), pg, prefect_on_pg=True, peers=PEERS)
        try:
            on_pg.start(latency_ms=latency_ms, concurrency=concurrency)
            for n in sizes:
                results["one"][n] = _case(on_pg, pg, peers=[PEERS[0]], n=n)
                results["two"][n] = _case(on_pg, pg, peers=list(PEERS), n=n)
        finally:
            on_pg.stop()
        on_lite = Cluster(
            stack.case_dir("scale-out-sqlite"), pg, prefect_on_pg=False, peers=PEERS[:1]
        )
        try:
            on_lite.start(latency_ms=latency_ms, concurrency=concurrency)
            for n in sizes:
                results["sqlite"][n] = _case(on_lite, pg, peers=[PEERS[0]], n=n)
        finally:
            on_lite.stop()
        for n in sizes:
            one, two, lite = results["one"][n], results["two"][n], results["sqlite"][n]
            lines.append(
                show(Line("scale-out", f"N={n} one worker", _figures(one, n, limit), raw=one))
            )
            ratio = two["rate"] / one["rate"] if one["rate"] else 0.0
            figures = {"two/one": f"{ratio:.2f}", **_figures(two, n, 2 * limit)}
            lines.append(
                show(
                    Line(
                        "scale-out",
                        f"N={n} two workers",
                        figures,
                        target=f"two/one >= {TWO_OVER_ONE_TARGET}",
                        met=ratio >= TWO_OVER_ONE_TARGET,
                        raw=two,
                    )
                )
            )
            pg_k, lite_k = (r["cpu"]["prefect"] * 1000 / n for r in (one, lite))
            shown = {
                "Prefect server CPU s per 1k rec on PostgreSQL": f"{pg_k:.2f}",
                "on SQLite": f"{lite_k:.2f}",
                "PG/SQLite": f"{pg_k / lite_k:.2f}" if lite_k else "n/a",
                **_figures(lite, n, limit),
            }
            lines.append(show(Line("scale-out", f"N={n} Prefect on PG vs SQLite", shown, raw=lite)))
    finally:
        pg.stop("immediate")
        shutil.rmtree(pg.root, ignore_errors=True)
    return lines


if __name__ == "__main__":
    from bench.standalone import run_standalone

    run_standalone("scale_out", run, sizes_default="20000", with_prefect=False)
