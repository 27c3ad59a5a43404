"""Exports: every format round-trips through polars; failed records are left out and counted."""

from __future__ import annotations

import json
import os
import stat

import polars as pl
import pytest

from datagems_core.datasets.record_maker import RecordResult
from datagems_core.errors import BadRequest
from datagems_core.jobs.checkpoints import ShardProgress, commit_block
from datagems_core.jobs.repository import read_shard
from datagems_core.jobs.stored_records import iter_ok_records
from datagems_core.output import exports
from datagems_core.output.exports import export_to_path, format_for_path, iter_export_bytes
from datagems_core.store.memory import MemoryStore
from tests.core.jobs.engine_factories import make_files, make_job

READERS = {
    "json": pl.read_json,
    "jsonl": pl.read_ndjson,
    "csv": pl.read_csv,
    "parquet": pl.read_parquet,
}


def row(index: int, mixed: bool) -> dict:
    """Fields drift: `score` is an int early and a float later, `extra` appears late and,
    when `mixed`, `meta` is an object in some records and a string in others (polars' JSON
    readers refuse that, so only CSV and Parquet get it)."""
    meta = {"k": index} if index % 2 or not mixed else "plain"
    data = {
        "id": index,
        "name": f'n,{index}"q',
        "score": index if index < 30 else index + 0.5,
        "tags": ["a", str(index)],
        "meta": meta,
    }
    if index >= 40:
        data["extra"] = True
    return data


async def stored_job(store, files, total=50, failing=(3, 17), mixed=True):
    job = await make_job(store, files, total_records=total)
    progress = ShardProgress(shard=await read_shard(store, job.id, "local"), plan=range(total))
    results = [
        RecordResult(index=i, ok=False, data=None, error="bad", attempts=2)
        if i in failing
        else RecordResult(index=i, ok=True, data=row(i, mixed), error=None, attempts=1)
        for i in range(total)
    ]
    for start in range(0, total, 7):
        await commit_block(
            store,
            files,
            job_id=job.id,
            progress=progress,
            results=list(reversed(results[start : start + 7])),
        )
    return job


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 8)  # types must unify across chunks


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
async def test_export_round_trips_through_polars(store, tmp_path, fmt):
    files = make_files(tmp_path)
    job = await stored_job(store, files, mixed=fmt in ("csv", "parquet"))
    path = tmp_path / f"out.{fmt}"
    summary = await export_to_path(store, files, job.id, path)
    frame = READERS[fmt](path)
    assert (summary.rows, summary.failed) == (48, 2)
    assert frame.height == 48
    assert frame.columns == ["id", "name", "score", "tags", "meta", "extra"]
    assert frame["id"].to_list() == [i for i in range(50) if i not in (3, 17)]
    assert frame["name"][0] == 'n,0"q'
    if fmt in ("csv", "parquet"):
        assert frame["score"].dtype == pl.Float64
        metas = frame["meta"].to_list()
        assert metas[0] == "plain" and json.loads(metas[1]) == {"k": 1}
    if fmt == "csv":
        assert json.loads(frame["tags"][0]) == ["a", "0"]
        assert frame["extra"][0] is None and frame["extra"][-1] is True


async def test_export_bytes_stream_matches_the_file(store, tmp_path):
    files = make_files(tmp_path)
    job = await stored_job(store, files)
    for fmt in ("csv", "json"):
        path = tmp_path / f"out.{fmt}"
        await export_to_path(store, files, job.id, path)
        streamed = b"".join([c async for c in iter_export_bytes(store, files, job.id, fmt=fmt)])
        assert streamed == path.read_bytes()


async def test_an_export_gets_the_users_usual_file_mode(store, tmp_path, umask_022):
    files = make_files(tmp_path)
    job = await stored_job(store, files)
    path = tmp_path / "out.csv"
    await export_to_path(store, files, job.id, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o077)  # a user who keeps files private keeps exports private too
    await export_to_path(store, files, job.id, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_empty_dataset_exports_valid_empty_files(store, tmp_path):
    files = make_files(tmp_path)
    job = await stored_job(store, files, total=2, failing=(0, 1))
    await export_to_path(store, files, job.id, tmp_path / "e.json")
    assert json.loads((tmp_path / "e.json").read_text()) == []
    summary = await export_to_path(store, files, job.id, tmp_path / "e.parquet")
    assert (summary.rows, summary.failed) == (0, 2)
    assert pl.read_parquet(tmp_path / "e.parquet").height == 0


async def test_ok_records_stream_in_index_order(store, tmp_path):
    files = make_files(tmp_path)
    job = await stored_job(store, files)
    indices = [i async for i, _ in iter_ok_records(store, files, job.id)]
    assert indices == [i for i in range(50) if i not in (3, 17)]


def test_format_for_path_names_the_supported_extensions():
    assert format_for_path("a/b.JSONL") == "jsonl"
    with pytest.raises(BadRequest, match=r"\.json, \.jsonl, \.csv or \.parquet"):
        format_for_path("data.xlsx")
