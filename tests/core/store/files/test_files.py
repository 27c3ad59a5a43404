"""The FileStore contract over the local store, PostgreSQL (a real server) and R1FS (the stand-in
over HTTP), then specifics."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, FileMissing, FileStoreError, NotFound
from datagems_core.store.files.base import FileStore
from datagems_core.store.files.factory import open_file_store
from datagems_core.store.files.local import LocalFileStore
from datagems_core.store.files.postgres import PostgresFileStore
from datagems_core.store.files.r1fs import R1FSFileStore
from datagems_core.store.postgres_pool import PostgresPool


@pytest_asyncio.fixture(loop_scope="function", params=["local", "r1fs", "postgres"])
async def files(request, tmp_path) -> AsyncIterator[FileStore]:
    if request.param == "local":
        store: FileStore = LocalFileStore(root=tmp_path / "files")
    elif request.param == "postgres":
        store = PostgresFileStore(pool=PostgresPool(url=request.getfixturevalue("postgres_url")))
    else:
        node = request.getfixturevalue("ratio1_node")
        store = R1FSFileStore(base_url=node.url, retries=0)
    yield store
    await store.close()


async def test_bytes_round_trip(files):
    data = bytes(range(256)) * 40 + "Zoë 🚀\n".encode()
    file_id = await files.put_bytes("dataset.jsonl", data)
    assert isinstance(file_id, str) and file_id
    assert await files.get_bytes(file_id) == data


async def test_empty_file_round_trips(files):
    assert await files.get_bytes(await files.put_bytes("empty.txt", b"")) == b""


async def test_json_round_trip_with_unicode_and_nesting(files):
    data = {"title": "Zoë", "rows": [{"a": 1, "b": [True, None, 2.5]}], "n": 3}
    file_id = await files.put_json("job.json", data)
    assert await files.get_json(file_id) == data


async def test_json_is_stored_canonical(files):
    file_id = await files.put_json("job.json", {"b": 1, "a": {"d": 2, "c": 3}})
    assert await files.get_bytes(file_id) == b'{"a":{"c":3,"d":2},"b":1}'


async def test_data_json_cannot_carry_is_refused(files):
    with pytest.raises(BadRequest, match=r"data for file 'bad.json' is not JSON-serialisable"):
        await files.put_json("bad.json", {"when": object()})


async def test_a_missing_file_is_reported_as_missing(files):
    missing = "Qm" + "1" * 44 if isinstance(files, R1FSFileStore) else "0" * 64
    with pytest.raises(FileMissing) as caught:
        await files.get_bytes(missing)
    assert isinstance(caught.value, NotFound)
    assert isinstance(caught.value, FileStoreError)
    assert files.name in str(caught.value)
    assert missing in str(caught.value)


async def test_reading_a_non_json_file_as_json_names_the_file(files):
    file_id = await files.put_bytes("notes.txt", b"\xff not json")
    with pytest.raises(FileStoreError, match=r"is not JSON"):
        await files.get_json(file_id)


async def test_a_file_on_disk_round_trips_and_stays_with_the_caller(files, tmp_path):
    # Larger than the copy chunk (1 MiB) and httpx' multipart chunk (64 KiB), not a multiple.
    data = bytes(range(256)) * 9000 + "Zoë 🚀\n".encode()
    source = tmp_path / "dataset.jsonl"
    source.write_bytes(data)
    file_id = await files.put_file("dataset.jsonl", source)
    assert await files.get_bytes(file_id) == data
    assert source.read_bytes() == data


async def test_an_empty_file_on_disk_round_trips(files, tmp_path):
    source = tmp_path / "empty.jsonl"
    source.write_bytes(b"")
    assert await files.get_bytes(await files.put_file("empty.jsonl", source)) == b""


async def test_a_missing_source_file_is_named(files, tmp_path):
    source = tmp_path / "gone.jsonl"
    with pytest.raises(FileStoreError, match=r"cannot read .*gone\.jsonl"):
        await files.put_file("gone.jsonl", source)


async def test_local_put_file_ids_match_put_bytes_and_leave_no_temporary_files(tmp_path):
    files = LocalFileStore(root=tmp_path / "files")
    source = tmp_path / "a.jsonl"
    source.write_bytes(b"x" * 3_000_000)
    file_id = await files.put_file("a.jsonl", source)
    assert file_id == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert await files.put_bytes("a.jsonl", b"x" * 3_000_000) == file_id
    assert await files.put_file("again.jsonl", source) == file_id
    stored = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [file_id]


async def test_local_files_get_the_users_usual_file_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        files = LocalFileStore(root=tmp_path / "files")
        ids = [
            await files.put_bytes("a.json", b"[]"),
            await files.put_file("b.csv", _csv(tmp_path)),
        ]
    finally:
        os.umask(previous)
    for file_id in ids:
        path = tmp_path / "files" / file_id[:2] / file_id
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def _csv(tmp_path):
    source = tmp_path / "b.csv"
    source.write_text("a,b\n1,2\n")
    return source


async def test_r1fs_put_file_uploads_multipart_add_file_with_its_name(ratio1_node, tmp_path):
    source = tmp_path / "local-name.jsonl"
    source.write_bytes(b'{"a":1}\n')
    files = R1FSFileStore(base_url=ratio1_node.url)
    cid = await files.put_file("job-1.jsonl", source)
    raw = httpx.get(f"{ratio1_node.url}/get_file", params={"cid": cid}, timeout=10)
    assert raw.content == b'{"a":1}\n'
    assert json.loads(raw.headers["x-meta"])["filename"] == "job-1.jsonl"
    await files.close()


async def test_r1fs_put_file_sends_the_whole_file_again_on_a_retry(tmp_path):
    data = bytes(range(256)) * 1000
    source = tmp_path / "dataset.jsonl"
    source.write_bytes(data)
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        if len(bodies) == 1:
            return httpx.Response(500, json={"detail": {"error": "busy"}})
        return httpx.Response(200, json={"result": {"cid": "QmUploaded"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        files = R1FSFileStore(base_url="http://r1fs.test", http=http, backoff_seconds=0.01)
        assert await files.put_file("dataset.jsonl", source) == "QmUploaded"
    assert len(bodies) == 2
    for body in bodies:  # each attempt carries the file from its first byte
        assert data in body and b'filename="dataset.jsonl"' in body


async def test_local_ids_are_sha256_of_the_content(tmp_path):
    files = LocalFileStore(root=tmp_path / "files")
    first = await files.put_bytes("a.txt", b"same")
    assert first == hashlib.sha256(b"same").hexdigest()
    assert await files.put_bytes("b.txt", b"same") == first
    stored = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [first]  # no temporary files left behind


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "abc", "Qm" + "x" * 44, ""])
async def test_local_store_refuses_ids_that_are_not_digests(tmp_path, bad_id):
    files = LocalFileStore(root=tmp_path / "files")
    with pytest.raises(FileMissing, match=r"sha256 hex"):
        await files.get_bytes(bad_id)


async def test_local_store_reports_an_unwritable_root(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    files = LocalFileStore(root=blocker / "files")
    with pytest.raises(FileStoreError, match=r"cannot write a file.*DATAGEMS_DATA_DIR"):
        await files.put_bytes("a.txt", b"x")


async def test_r1fs_ids_are_cids_and_not_deterministic(ratio1_node):
    files = R1FSFileStore(base_url=ratio1_node.url)
    first = await files.put_json("job.json", {"a": 1})
    second = await files.put_json("job.json", {"a": 1})
    assert first.startswith("Qm") and second.startswith("Qm")
    assert first != second
    await files.close()


async def test_r1fs_server_errors_are_retried_then_reported(ratio1_node):
    files = R1FSFileStore(base_url=ratio1_node.url, retries=1, backoff_seconds=0.01)
    ratio1_node.set_mode("error500")
    before = ratio1_node.requests()
    with pytest.raises(FileStoreError) as caught:
        await files.put_bytes("dataset.jsonl", b"{}")
    assert ratio1_node.requests() - before == 2
    message = str(caught.value)
    assert f"R1FS at {ratio1_node.url}: POST /add_file_base64 for file 'dataset.jsonl'" in message
    assert "HTTP 500" in message
    assert "EE_R1FS_API_URL" in message
    await files.close()


async def test_r1fs_hang_times_out(ratio1_node):
    files = R1FSFileStore(base_url=ratio1_node.url, retries=0, timeout_seconds=0.3)
    ratio1_node.set_mode("hang")
    with pytest.raises(FileStoreError, match=r"no answer within 0.3 s"):
        await files.get_bytes("Qm123")
    await files.close()


async def test_r1fs_calls_are_logged_when_asked(ratio1_node, caplog):
    files = R1FSFileStore(base_url=ratio1_node.url, log_calls=True)
    with caplog.at_level(logging.INFO, logger="datagems_core.store.ratio1_http"):
        await files.get_json(await files.put_json("job.json", {"secret": "not in the log"}))
    lines = [r.getMessage() for r in caplog.records]
    assert any("POST /add_json -> 200" in line for line in lines)
    assert any("POST /get_file_base64 -> 200" in line for line in lines)
    assert not any("not in the log" in line for line in lines)
    await files.close()


async def test_open_file_store_picks_r1fs_or_local(tmp_path, monkeypatch):
    local = open_file_store(load_settings(None, data_dir=tmp_path))
    assert isinstance(local, LocalFileStore)
    assert local.root == tmp_path / "files"
    monkeypatch.setenv("EE_R1FS_API_URL", "127.0.0.1:31235")
    monkeypatch.setenv("DATAGEMS_R1FS_TIMEOUT_SECONDS", "9")
    remote = open_file_store(load_settings(None))
    assert isinstance(remote, R1FSFileStore)
    assert (remote.name, remote.timeout) == ("R1FS at http://127.0.0.1:31235", 9)
    await remote.close()
    monkeypatch.setenv("DATAGEN_MOCK_CSTORE", "true")
    assert isinstance(open_file_store(load_settings(None)), LocalFileStore)


async def test_r1fs_reads_a_file_another_app_uploaded_with_add_file(ratio1_node):
    # The TypeScript apps upload with multipart /add_file; DataGems must read those files too.
    upload = httpx.post(
        f"{ratio1_node.url}/add_file",
        files={"file": ("report.csv", b"a,b\n1,2\n", "text/csv")},
        data={"body": '{"secret": "ratio1"}'},
        timeout=10,
    )
    cid = upload.json()["result"]["cid"]
    raw = httpx.get(f"{ratio1_node.url}/get_file", params={"cid": cid}, timeout=10)
    assert raw.content == b"a,b\n1,2\n"
    assert json.loads(raw.headers["x-meta"])["filename"] == "report.csv"
    files = R1FSFileStore(base_url=ratio1_node.url)
    assert await files.get_bytes(cid) == b"a,b\n1,2\n"
    await files.close()
