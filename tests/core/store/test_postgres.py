"""PostgresStore and PostgresFileStore beyond the shared contracts: choice by settings, several
processes, the API's indexes, and a server that is down, refusing, or restarting mid-job."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap

import psycopg
import pytest

from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, ConfigError, FileStoreError, StoreError
from datagems_core.store.base import hash_prefix
from datagems_core.store.cstore import CStoreStore
from datagems_core.store.factory import open_store
from datagems_core.store.files.factory import open_file_store
from datagems_core.store.files.postgres import CHUNK_BYTES, PostgresFileStore
from datagems_core.store.files.r1fs import R1FSFileStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool
from tests.support.postgres import PASSWORD, start_postgres
from tests.support.processes import REPO, free_port

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datagems_core.config.settings import load_settings
    from datagems_core.store.factory import open_store

    async def main(name, count):
        store = open_store(load_settings(None))
        async def one(i):
            await store.hset("datagen:jobs", f"{name}-{i}", {"writer": name, "i": i})
        await asyncio.gather(*(one(i) for i in range(count)))
        await store.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_open_store_and_file_store_use_postgres_and_share_one_pool(postgres_url, monkeypatch):
    monkeypatch.setenv("DATAGEMS_DATABASE_URL", postgres_url)
    settings = load_settings(None)
    store, files = open_store(settings), open_file_store(settings)
    assert isinstance(store, PostgresStore) and isinstance(files, PostgresFileStore)
    assert store.pool is files.pool
    assert PASSWORD not in store.name and PASSWORD not in files.name
    assert store.name.startswith("PostgreSQL store at 127.0.0.1:")
    file_id = await files.put_json("job.json", {"a": 1})
    await store.close()  # the file store keeps the shared pool open
    assert await files.get_json(file_id) == {"a": 1}
    await files.close()
    with pytest.raises(StoreError, match="is closed"):
        await store.get("k")


async def test_ratio1_wins_over_postgres_when_both_are_set(postgres_url, monkeypatch):
    monkeypatch.setenv("DATAGEMS_DATABASE_URL", postgres_url)
    monkeypatch.setenv("EE_CHAINSTORE_API_URL", "127.0.0.1:31234")
    monkeypatch.setenv("EE_R1FS_API_URL", "127.0.0.1:31235")
    settings = load_settings(None)
    store, files = open_store(settings), open_file_store(settings)
    assert isinstance(store, CStoreStore) and isinstance(files, R1FSFileStore)
    await store.close()
    await files.close()


def test_a_database_url_that_is_not_postgres_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("DATAGEMS_DATABASE_URL", "mysql://u:hunter2@db/x")
    with pytest.raises(ConfigError, match=r"DATAGEMS_DATABASE_URL.*postgresql://") as caught:
        load_settings(None)
    assert "hunter2" not in str(caught.value)


async def test_two_processes_writing_at_once_lose_nothing(postgres_url):
    await PostgresStore(pool=PostgresPool(url=postgres_url)).close()
    env = {"DATAGEMS_DATABASE_URL": postgres_url, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, name, "300"], cwd=REPO, env=env, stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, err = await asyncio.to_thread(writer.communicate, timeout=120)
        assert writer.returncode == 0, err.decode()
    store = PostgresStore(pool=PostgresPool(url=postgres_url))
    jobs = await store.hgetall("datagen:jobs")
    assert len(jobs) == 600 and jobs["b-299"] == {"writer": "b", "i": 299}
    await store.close()


async def test_the_api_hot_reads_use_the_field_index(postgres_url):
    store = PostgresStore(pool=PostgresPool(url=postgres_url))
    with psycopg.connect(postgres_url, autocommit=True) as db:
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO datagems_kv (key, hash_prefix, field, value) VALUES (%s, %s, %s, '1')",
                [
                    (f"hs:{p:010x}:{i}", f"hs:{p:010x}:", f"f{i:05d}")
                    for p in range(20)
                    for i in range(2000)
                ],
            )
        db.execute("ANALYZE datagems_kv")
        plan = db.execute(
            "EXPLAIN SELECT field FROM datagems_kv WHERE hash_prefix = %s ORDER BY field DESC "
            "LIMIT 50 OFFSET 100",
            (f"hs:{3:010x}:",),
        ).fetchall()
    assert "datagems_kv_hash_field" in " ".join(str(row[0]) for row in plan)
    page, total = await store.hkeys_page(hash_prefix("x"), offset=0, limit=5)
    assert (page, total) == ([], 0)
    await store.close()


async def test_keys_postgres_cannot_hold_are_refused(postgres_url):
    store = PostgresStore(pool=PostgresPool(url=postgres_url))
    with pytest.raises(BadRequest, match="NUL"):
        await store.set("a\x00b", 1)
    await store.set("k", {"text": "a\x00b", "lone": "x\ud800y"})  # values carry anything JSON does
    assert await store.get("k") == {"text": "a\x00b", "lone": "x\ud800y"}
    await store.close()


async def test_a_big_file_is_stored_in_chunks(postgres_url, tmp_path):
    files = PostgresFileStore(pool=PostgresPool(url=postgres_url))
    data = bytes(range(256)) * (CHUNK_BYTES // 256) * 3 + b"tail"
    source = tmp_path / "big.jsonl"
    source.write_bytes(data)
    file_id = await files.put_file("big.jsonl", source)
    assert await files.put_bytes("again.jsonl", data) == file_id  # same content, same id
    with psycopg.connect(postgres_url) as db:
        sizes = db.execute(
            "SELECT length(data) FROM datagems_file_chunks WHERE file_id = %s ORDER BY seq",
            (file_id,),
        ).fetchall()
    assert [size for (size,) in sizes] == [CHUNK_BYTES] * 3 + [4]
    assert await files.get_bytes(file_id) == data
    await files.close()


def test_an_unreachable_server_is_named_at_start_up_without_the_password():
    url = f"postgresql://datagems:{PASSWORD}@127.0.0.1:{free_port()}/datagems"
    with pytest.raises(StoreError) as caught:
        PostgresStore(pool=PostgresPool(url=url))
    message = str(caught.value)
    assert "PostgreSQL at 127.0.0.1:" in message and "/datagems as datagems" in message
    assert "Connection refused" in message or "connection refused" in message.lower()
    assert "check that the PostgreSQL server is running" in message
    assert PASSWORD not in message


def test_a_wrong_password_is_reported_without_either_password(postgres_server):
    url = postgres_server.url(password="not-the-password")
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        PostgresPool(url=url)
    assert "not-the-password" not in str(caught.value) and PASSWORD not in str(caught.value)


async def test_a_server_restart_mid_job_is_retried_and_a_dead_one_reported():
    server = start_postgres()  # a server of this test's own: it is stopped and started here
    try:
        server.create_database("jobs")
        store = PostgresStore(
            pool=PostgresPool(url=server.url("jobs"), retries=6, backoff_seconds=0.2)
        )
        files = PostgresFileStore(
            pool=PostgresPool(url=server.url("jobs"), retries=1, backoff_seconds=0.1)
        )
        await store.hset("h", "before", 1)
        server.stop("immediate")  # the open connections die with it
        restart = asyncio.get_running_loop().run_in_executor(None, _start_after, server, 1.0)
        await store.hset("h", "during", 2)  # waits out the restart with backoff
        await restart
        assert await store.hgetall("h") == {"before": 1, "during": 2}

        server.stop("immediate")
        with pytest.raises(FileStoreError) as caught:
            await files.put_bytes("x.json", b"{}")
        message = str(caught.value)
        assert message.startswith(f"PostgreSQL file store at 127.0.0.1:{server.port}/jobs")
        assert "check that the PostgreSQL server is running" in message
        assert PASSWORD not in message
        await store.close()
        await files.close()
    finally:
        server.stop("immediate")
        shutil.rmtree(server.root, ignore_errors=True)


def _start_after(server, seconds: float) -> None:
    import time

    time.sleep(seconds)
    server.start()
