"""`datagems generate | resume | export` as real processes against the session's Prefect server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import psutil
import pytest

from datagems_core.jobs.repository import read_job, read_shards
from datagems_core.jobs.stored_records import iter_result_chunks
from datagems_core.store.files.local import LocalFileStore
from datagems_core.store.sqlite import SqliteStore
from tests.support.processes import REPO
from tests.support.schemas import PERSON_SCHEMA

CLI = [sys.executable, "-c", "from deployments.cli import main; main()"]
JOB_LINE = re.compile(r"job (job_\d+_[0-9a-f]{6}):")


@pytest.fixture
def workdir(tmp_path, prefect_server):
    (tmp_path / "person.schema.json").write_text(json.dumps(PERSON_SCHEMA))
    return tmp_path


def cli_env(**extra: str) -> dict[str, str]:
    """This test's environment (its data dir, the session's Prefect server) plus `extra`."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def run_cli(args, *, cwd, env=None, timeout=180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def generate_args(out: str, records: int, *extra: str) -> list[str]:
    return [
        "generate",
        "--instructions",
        "Fictional customers of a software shop",
        "--schema",
        "person.schema.json",
        "--records",
        str(records),
        "--out",
        out,
        *extra,
    ]


def stored_indices(data_dir: Path, job_id: str) -> Counter[int]:
    async def read() -> Counter[int]:
        store = SqliteStore(path=data_dir / "store.sqlite3")
        files = LocalFileStore(root=data_dir / "files")
        seen: Counter[int] = Counter()
        try:
            async for chunk in iter_result_chunks(store, files, job_id):
                seen.update(r["index"] for r in chunk)
        finally:
            await store.close()
        return seen

    return asyncio.run(read())


def progress_of(data_dir: Path, job_id: str) -> tuple[str, int]:
    async def read() -> tuple[str, int]:
        store = SqliteStore(path=data_dir / "store.sqlite3")
        try:
            job = await read_job(store, job_id)
            shards = await read_shards(store, job_id)
            return job.status, sum(s.generated_ok + s.generated_failed for s in shards)
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generate_with_the_mock_writes_the_dataset(workdir, fmt):
    result = run_cli(generate_args(f"people.{fmt}", 12), cwd=workdir)
    assert result.returncode == 0, result.stderr
    frame = (pl.read_csv if fmt == "csv" else pl.read_parquet)(workdir / f"people.{fmt}")
    assert frame.height == 12
    assert set(frame.columns) == set(PERSON_SCHEMA["properties"])
    assert "wrote 12 records" in result.stderr
    job_id = JOB_LINE.search(result.stderr).group(1)

    exported = run_cli(["export", job_id, "--out", "again.jsonl"], cwd=workdir)
    assert exported.returncode == 0, exported.stderr
    assert pl.read_ndjson(workdir / "again.jsonl").height == 12


def test_generate_over_several_shards_makes_each_index_once(workdir):
    result = run_cli(generate_args("people.jsonl", 9, "--shards", "3"), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert pl.read_ndjson(workdir / "people.jsonl").height == 9
    job_id = JOB_LINE.search(result.stderr).group(1)
    data_dir = Path(os.environ["DATAGEMS_DATA_DIR"])
    assert stored_indices(data_dir, job_id) == Counter(range(9))


def test_too_many_shards_are_refused_in_one_line_naming_shards(workdir):
    result = run_cli(generate_args("people.jsonl", 3, "--shards", "4"), cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: shards must be between 1 and 3 (at most 64 and at most totalRecords), got 4"
    ]


def test_a_bad_schema_fails_with_one_line_naming_the_json_path(workdir):
    bad = dict(PERSON_SCHEMA, properties={"age": {"type": "integer", "minimum": "ten"}})
    (workdir / "bad.json").write_text(json.dumps(bad))
    args = generate_args("x.csv", 3)
    args[args.index("person.schema.json")] = "bad.json"
    result = run_cli(args, cwd=workdir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "$.properties.age" in lines[0]


def test_an_unknown_output_extension_is_refused_in_one_line(workdir):
    result = run_cli(generate_args("people.xlsx", 3), cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot tell the export format from 'people.xlsx': use a file name ending in "
        ".json, .jsonl, .csv or .parquet"
    ]


def test_an_unreachable_gateway_exits_non_zero_with_the_reason(workdir):
    env = cli_env(DATAGEMS_INFERENCE_MAX_ATTEMPTS="1")
    result = run_cli(
        generate_args("x.csv", 3, "--gateway", "http://127.0.0.1:9/v1", "--model", "m"),
        cwd=workdir,
        env=env,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: job ") and "InferenceUnreachable" in last
    assert "Traceback" not in result.stderr


def test_a_killed_run_resumes_with_no_duplicate_and_at_most_k_redone(workdir, fake_gateway):
    k, concurrency, total = 10, 4, 150
    fake_gateway.configure(latency_ms=40)
    data_dir = Path(os.environ["DATAGEMS_DATA_DIR"])
    env = cli_env(DATAGEN_UPDATE_EVERY_K_REQUESTS=str(k))
    args = generate_args(
        "people.jsonl",
        total,
        "--gateway",
        fake_gateway.openai_base,
        "--model",
        "fake",
        "--concurrency",
        str(concurrency),
    )
    process = subprocess.Popen(
        [*CLI, *args],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    job_id = JOB_LINE.search(process.stderr.readline()).group(1)
    deadline = time.monotonic() + 120
    while progress_of(data_dir, job_id)[1] < total * 0.6:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()  # kill -9
    process.wait()
    process.stderr.close()
    status, committed = progress_of(data_dir, job_id)
    assert status == "running" and committed < total
    sent_before = fake_gateway.stats()["requests"]

    result = run_cli(["resume", job_id], cwd=workdir, env=env)

    assert result.returncode == 0, result.stderr
    assert stored_indices(data_dir, job_id) == Counter(range(total))
    assert pl.read_ndjson(workdir / "people.jsonl").height == total
    requests = fake_gateway.stats()["requests"]
    assert requests - sent_before == total - committed  # the resume redoes only what was lost
    # Lost to the kill: finished but not yet committed (< K) and in flight (<= concurrency).
    assert sent_before - committed <= k + concurrency


def test_generate_keeps_its_state_in_cstore_and_r1fs(workdir, ratio1_node):
    env = cli_env(EE_CHAINSTORE_API_URL=ratio1_node.url, EE_R1FS_API_URL=ratio1_node.url)
    before = ratio1_node.requests()
    result = run_cli(generate_args("people.json", 6), cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert len(json.loads((workdir / "people.json").read_text())) == 6
    assert ratio1_node.requests() > before
    job_id = JOB_LINE.search(result.stderr).group(1)
    assert any(job_id in str(value) for value in ratio1_node.state()["cstore"].values())


def test_generate_killed_with_9_leaves_no_temporary_prefect_server_nor_temp_dir(
    workdir, fake_gateway
):
    data_dir = Path(os.environ["DATAGEMS_DATA_DIR"])
    tmp = workdir / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in cli_env().items() if not k.startswith("PREFECT_")}
    env["TMPDIR"] = str(tmp)  # where the temporary server's directory goes
    fake_gateway.configure(latency_ms=100)
    args = generate_args("people.jsonl", 300, "--gateway", fake_gateway.openai_base)
    process = subprocess.Popen(
        [*CLI, *args], cwd=workdir, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        job_id = JOB_LINE.search(process.stderr.readline().decode()).group(1)
        deadline = time.monotonic() + 120
        while progress_of(data_dir, job_id)[1] < 5:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        children = psutil.Process(process.pid).children(recursive=True)
        assert children and list(tmp.glob("datagems-prefect-*"))  # the temporary server
    finally:
        process.kill()  # kill -9
        process.wait()
        process.stderr.close()

    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
    assert list(tmp.iterdir()) == []

    async def read() -> str | None:
        store = SqliteStore(path=data_dir / "store.sqlite3")
        try:
            return (await read_job(store, job_id)).flow_run_id
        finally:
            await store.close()

    assert asyncio.run(read()) is None  # no link to a server that is gone


def test_a_gateway_answering_500_exits_non_zero_after_a_few_calls(workdir, fake_gateway):
    fake_gateway.configure(rate_500=1.0)
    env = cli_env(DATAGEMS_INFERENCE_MAX_ATTEMPTS="2")
    args = generate_args("x.csv", 1000, "--gateway", fake_gateway.openai_base, "--model", "m")
    result = run_cli(args, cwd=workdir, env=env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: job ") and "gateway error 500: model worker crashed" in last
    assert "Traceback" not in result.stderr
    assert fake_gateway.stats()["requests"] <= 8 * 2
    assert not (workdir / "x.csv").exists()


def test_a_spent_budget_exits_non_zero_and_resume_with_a_larger_one_delivers_n(
    workdir, fake_gateway
):
    data_dir = Path(os.environ["DATAGEMS_DATA_DIR"])
    fake_gateway.configure(rate_invalid=1.0)  # every answer and every re-ask is invalid
    args = generate_args(
        "people.jsonl",
        10,
        "--gateway",
        fake_gateway.openai_base,
        "--model",
        "m",
        "--max-candidates",
        "12",
        "--unique",
        "name",
    )
    result = run_cli(args, cwd=workdir, env=cli_env(DATAGEMS_INFERENCE_MAX_ATTEMPTS="2"))
    assert result.returncode == 1
    job_id = JOB_LINE.search(result.stderr).group(1)
    last = result.stderr.strip().splitlines()[-1]
    assert "candidate budget spent: 0 of 10 accepted; rejected: 12 invalid" in last
    assert "quality: candidates 12, accepted 0 of 10" in result.stderr
    assert not (workdir / "people.jsonl").exists()

    fake_gateway.configure(rate_invalid=0.0)
    small = run_cli(["resume", job_id, "--max-candidates", "12"], cwd=workdir)
    assert small.returncode == 1 and "maxCandidates must be larger" in small.stderr
    resumed = run_cli(["resume", job_id, "--max-candidates", "30"], cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    frame = pl.read_ndjson(workdir / "people.jsonl")
    assert frame.height == 10 and frame["name"].n_unique() == 10
    seen = stored_indices(data_dir, job_id)
    assert max(seen.values()) == 1 and len(seen) == 22  # 12 rejected + 10 accepted candidates


def test_the_progress_bar_shows_the_running_tokens_and_cost(workdir, fake_gateway):
    args = generate_args("x.jsonl", 6, "--gateway", fake_gateway.openai_base, "--model", "m")
    env = cli_env(
        COLUMNS="240",  # one bar line, as on a wide terminal
        DATAGEMS_INFERENCE_INPUT_PRICE_PER_MTOK="2",
        DATAGEMS_INFERENCE_OUTPUT_PRICE_PER_MTOK="8",
    )
    result = run_cli(args, cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    bar = next(line for line in result.stderr.splitlines() if "rec/s" in line)
    spend = re.search(r"([\d,]+) tokens (\$[\d.]+)", bar)
    assert spend, bar
    assert int(spend.group(1).replace(",", "")) > 0
    assert spend.group(2) != "$0.00"
    assert re.search(r"cost \$[\d.]+ ", result.stderr)  # and the end line agrees it is known


def test_an_unknown_unique_field_is_refused_in_one_line(workdir):
    result = run_cli(generate_args("x.csv", 3, "--unique", "nickname"), cwd=workdir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: uniqueFields: 'nickname'")
