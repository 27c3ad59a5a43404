"""SqliteStore beyond the shared contract: several processes, persistence, faults; and open_store."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest

from datagems_core.config.settings import load_settings
from datagems_core.errors import StoreError
from datagems_core.store.base import hash_field_key, hash_prefix
from datagems_core.store.cstore import CStoreStore
from datagems_core.store.factory import open_store
from datagems_core.store.memory import MemoryStore
from datagems_core.store.sqlite import SqliteStore
from tests.support.processes import REPO

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from datagems_core.store.sqlite import SqliteStore

    async def main(path, name, count):
        store = SqliteStore(path=Path(path))
        async def one(i):
            await store.hset("datagen:jobs", f"{name}-{i}", {"writer": name, "i": i})
            await store.set(f"key:{name}:{i}", i)
        await asyncio.gather(*(one(i) for i in range(count)))
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "store.sqlite3"
    await SqliteStore(path=path).close()  # the schema first, as the API does before flow runs
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, "500"],
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, err = await asyncio.to_thread(writer.communicate, timeout=60)
        assert writer.returncode == 0, err.decode()

    store = SqliteStore(path=path)
    jobs = await store.hgetall("datagen:jobs")
    assert len(jobs) == 1000
    assert jobs["a-499"] == {"writer": "a", "i": 499}
    for name in ("a", "b"):
        values = await asyncio.gather(*(store.get(f"key:{name}:{i}") for i in range(500)))
        assert values == list(range(500))
    await store.close()


async def test_data_survives_reopening(tmp_path):
    path = tmp_path / "nested" / "dir" / "store.sqlite3"  # the directories do not exist yet
    store = SqliteStore(path=path)
    await store.hset("h", "f", {"kept": True})
    await store.close()
    reopened = SqliteStore(path=path)
    assert await reopened.hgetall("h") == {"f": {"kept": True}}
    await reopened.close()


async def test_many_concurrent_calls_on_one_store(tmp_path):
    store = SqliteStore(path=tmp_path / "store.sqlite3")
    await asyncio.gather(*(store.hset("h", f"f{i}", i) for i in range(200)))
    results = await asyncio.gather(*(store.hgetall("h") for _ in range(50)))
    assert all(len(result) == 200 for result in results)
    await store.close()


async def test_hget_many_json_reads_more_fields_than_one_query_carries(tmp_path):
    store = SqliteStore(path=tmp_path / "store.sqlite3")
    await asyncio.gather(*(store.hset("h", f"f{i:04d}", i) for i in range(1200)))
    found = await store.hget_many_json("h", [f"f{i:04d}" for i in range(0, 1300, 2)])
    assert found == {f"f{i:04d}": str(i) for i in range(0, 1200, 2)}
    await store.close()


async def test_a_store_file_from_before_the_field_index_is_upgraded(tmp_path):
    path = tmp_path / "store.sqlite3"
    with closing(sqlite3.connect(path)) as db:  # the schema this store had before
        db.executescript(
            "CREATE TABLE kv (key TEXT PRIMARY KEY, hash_prefix TEXT, field TEXT, "
            "value TEXT NOT NULL) WITHOUT ROWID; CREATE INDEX kv_hash ON kv (hash_prefix) "
            "WHERE hash_prefix IS NOT NULL;"
        )
        db.execute(
            "INSERT INTO kv VALUES (?, ?, ?, ?)",
            (hash_field_key("h", "old"), hash_prefix("h"), "old", '{"kept":true}'),
        )
        db.commit()
    store = SqliteStore(path=path)
    await store.hset("h", "new", 1)
    assert await store.hkeys_page("h", offset=0, limit=10) == (["new", "old"], 2)
    assert await store.hgetall("h") == {"old": {"kept": True}, "new": 1}
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        indexes = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert "kv_hash_field" in indexes and "kv_hash" not in indexes


async def test_a_closed_store_says_so(tmp_path):
    store = SqliteStore(path=tmp_path / "store.sqlite3")
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match=r"SQLite store at .*store\.sqlite3 is closed"):
        await store.get("k")


def test_an_unusable_path_is_reported_with_the_file(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    with pytest.raises(StoreError, match=r"cannot be opened.*DATAGEMS_DATA_DIR"):
        SqliteStore(path=blocker / "store.sqlite3")


async def test_open_store_defaults_to_sqlite_in_the_data_dir(tmp_path):
    store = open_store(load_settings(None, data_dir=tmp_path / "data"))
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "data" / "store.sqlite3"
    assert store.path.exists()
    await store.close()


async def test_open_store_uses_memory_when_cstore_is_mocked(monkeypatch):
    monkeypatch.setenv("DATAGEN_MOCK_CSTORE", "true")
    monkeypatch.setenv("EE_CHAINSTORE_API_URL", "http://127.0.0.1:31234")
    assert isinstance(open_store(load_settings(None)), MemoryStore)


async def test_open_store_uses_cstore_when_its_url_is_set(monkeypatch):
    monkeypatch.setenv("EE_CHAINSTORE_API_URL", "127.0.0.1:31234")
    monkeypatch.setenv("R1EN_CHAINSTORE_PEERS", '["0xai_A", "0xai_B"]')
    monkeypatch.setenv("DATAGEMS_CSTORE_TIMEOUT_SECONDS", "12")
    store = open_store(load_settings(None))
    assert isinstance(store, CStoreStore)
    assert store.name == "CStore at http://127.0.0.1:31234"
    assert store.peers == ["0xai_A", "0xai_B"]
    assert (store.write_timeout, store.read_timeout) == (12, 12)
    await store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_embedded_stores_keep_strings_with_lone_surrogates(tmp_path, kind):
    # JSON can carry them (escaped) and CStore keeps them; orjson cannot, so the exact path does.
    store = MemoryStore() if kind == "memory" else SqliteStore(path=tmp_path / "s.sqlite3")
    await store.set("k", {"text": "a\ud800b"})
    assert await store.get("k") == {"text": "a\ud800b"}
    await store.close()
