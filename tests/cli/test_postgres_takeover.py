"""A shard whose process was killed -9 on PostgreSQL is taken over by another process from its
checkpoint once its lease runs out: every record once, the dead holder's lease replaced."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections import Counter

import polars as pl
import pytest

from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.shard_lease import lease_key
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.files.postgres import PostgresFileStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool
from tests.cli.test_generate_command import CLI, JOB_LINE, cli_env, generate_args, run_cli
from tests.support.schemas import PERSON_SCHEMA


@pytest.fixture
def workdir(tmp_path, prefect_server):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    return tmp_path


async def _read(url: str, job_id: str) -> tuple[str, int, Counter[int], object]:
    pool = PostgresPool(url=url)
    store, files = PostgresStore(pool=pool), PostgresFileStore(pool=pool.share())
    try:
        job = await read_job(store, job_id)
        shards = await read_shards(store, job_id)
        seen: Counter[int] = Counter()
        async for chunk in iter_result_chunks(store, files, job_id):
            seen.update(r["index"] for r in chunk)
        lease = await store.get(lease_key(job_id, shards[0].shard_key))
        return job.status, sum(s.generated_ok for s in shards), seen, lease
    finally:
        await files.close()
        await store.close()


def test_a_killed_shard_is_taken_over_from_its_checkpoint(workdir, fake_gateway, postgres_url):
    total = 120
    fake_gateway.configure(latency_ms=40)
    env = cli_env(
        DATAGEMS_DATABASE_URL=postgres_url,
        DATAGEMS_SHARD_LEASE_SECONDS="3",
        DATAGEN_UPDATE_EVERY_K_REQUESTS="10",
    )
    args = generate_args(
        "people.jsonl", total, "--gateway", fake_gateway.openai_base, "--model", "fake",
        "--concurrency", "4",
    )  # fmt: skip
    process = subprocess.Popen(
        [*CLI, *args], cwd=workdir, env=env, stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    job_id = JOB_LINE.search(process.stderr.readline()).group(1)
    deadline = time.monotonic() + 150
    while asyncio.run(_read(postgres_url, job_id))[1] < total * 0.5:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    process.kill()  # kill -9 while it holds the shard
    process.wait()
    process.stderr.close()
    status, committed, seen, lease = asyncio.run(_read(postgres_url, job_id))
    assert status == "running" and committed < total
    assert isinstance(lease, dict) and lease["token"] == 1
    assert re.search(rf":{process.pid}:", lease["owner"])  # the dead process still holds it

    result = run_cli(["resume", job_id], cwd=workdir, env=env, timeout=240)

    assert result.returncode == 0, result.stderr
    status, committed, seen, lease = asyncio.run(_read(postgres_url, job_id))
    assert (status, committed) == ("succeeded", total)
    assert seen == Counter(range(total))  # each record once, across the takeover
    assert lease is None  # the taker released it when the shard was done
    assert pl.read_ndjson(workdir / "people.jsonl").height == total
