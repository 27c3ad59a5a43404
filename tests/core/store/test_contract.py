"""One contract for every KVStore: memory, SQLite, PostgreSQL (a real server), and CStore against
the stand-in over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from datagems_core.errors import BadRequest
from datagems_core.jobs.shard_lease import hold_shard
from datagems_core.store.base import GuardedWrites, KVStore, hash_field_key
from datagems_core.store.cstore import CStoreStore
from datagems_core.store.memory import MemoryStore
from datagems_core.store.postgres import PostgresStore
from datagems_core.store.postgres_pool import PostgresPool
from datagems_core.store.sqlite import SqliteStore


@pytest_asyncio.fixture(loop_scope="function", params=["memory", "sqlite", "cstore", "postgres"])
async def store(request, tmp_path) -> AsyncIterator[KVStore]:
    if request.param == "memory":
        kv: KVStore = MemoryStore()
    elif request.param == "sqlite":
        kv = SqliteStore(path=tmp_path / "store.sqlite3")
    elif request.param == "postgres":
        kv = PostgresStore(pool=PostgresPool(url=request.getfixturevalue("postgres_url")))
    else:
        node = request.getfixturevalue("ratio1_node")
        kv = CStoreStore(base_url=node.url, peers=["0xai_peer"], retries=0)
    yield kv
    await kv.close()


@pytest.fixture
def ns() -> str:
    """A key prefix of this test's own: the stand-in node is shared by the whole session."""
    return f"test:{uuid.uuid4().hex[:12]}:"


async def test_get_of_a_missing_key_is_none(store, ns):
    assert await store.get(ns + "missing") is None


async def test_set_then_get_returns_nested_unicode_values(store, ns):
    value = {"name": "Zoë 🚀", "rows": [1, 2.5, True, None, {"deep": ["ß", {}]}], "empty": []}
    await store.set(ns + "k", value)
    assert await store.get(ns + "k") == value


async def test_scalars_round_trip(store, ns):
    for index, value in enumerate([0, -7, 3.25, True, False, "", "plain", [], {}]):
        await store.set(f"{ns}s{index}", value)
        assert await store.get(f"{ns}s{index}") == value


async def test_integers_beyond_64_bits_stay_exact(store, ns):
    value = {"big": 2**70 + 1, "neg": -(2**65), "list": [12345678901234567890123]}
    await store.set(ns + "k", value)
    await store.hset(ns + "h", "f", value)
    assert await store.get(ns + "k") == value
    assert await store.hgetall(ns + "h") == {"f": value}


async def test_int_dict_keys_become_strings_and_tuples_lists(store, ns):
    await store.set(ns + "k", {8080: "http", "nested": {1: (1, 2)}})
    assert await store.get(ns + "k") == {"8080": "http", "nested": {"1": [1, 2]}}


async def test_strings_holding_json_are_never_decoded(store, ns):
    record = '{"type":"simple","role":"user"}'
    await store.set(ns + "k", record)
    await store.hset(ns + "h", "bob", record)
    assert await store.get(ns + "k") == record
    assert await store.hget(ns + "h", "bob") == record
    assert await store.hgetall(ns + "h") == {"bob": record}


async def test_set_none_deletes_the_key(store, ns):
    await store.set(ns + "k", {"a": 1})
    await store.set(ns + "k", None)
    assert await store.get(ns + "k") is None
    await store.set(ns + "never-there", None)  # deleting a missing key is fine
    assert await store.get(ns + "never-there") is None


async def test_overwrite_is_last_write_wins(store, ns):
    await store.set(ns + "k", {"v": 1})
    await store.set(ns + "k", {"v": 2})
    assert await store.get(ns + "k") == {"v": 2}


async def test_hset_hget_and_hgetall(store, ns):
    await store.hset(ns + "jobs", "job_1", {"status": "queued"})
    await store.hset(ns + "jobs", "job_2", {"status": "running", "n": 3})
    await store.hset(ns + "other", "job_1", "elsewhere")
    assert await store.hget(ns + "jobs", "job_1") == {"status": "queued"}
    assert await store.hget(ns + "jobs", "job_3") is None
    assert await store.hgetall(ns + "jobs") == {
        "job_1": {"status": "queued"},
        "job_2": {"status": "running", "n": 3},
    }
    assert await store.hgetall(ns + "other") == {"job_1": "elsewhere"}


async def test_hgetall_of_a_missing_hash_is_empty(store, ns):
    assert await store.hgetall(ns + "nothing") == {}


async def test_hset_none_deletes_the_field(store, ns):
    await store.hset(ns + "h", "a", 1)
    await store.hset(ns + "h", "b", 2)
    await store.hset(ns + "h", "a", None)
    assert await store.hget(ns + "h", "a") is None
    assert await store.hgetall(ns + "h") == {"b": 2}


async def test_unicode_and_odd_field_names(store, ns):
    fields = {"user@example.com": 1, "Zoë/ß?&=": 2, "with space": 3, "a:b:c": 4}
    for field, value in fields.items():
        await store.hset(ns + "h", field, value)
    assert await store.hgetall(ns + "h") == fields


async def test_hget_many_json_returns_the_fields_that_exist_as_json_text(store, ns):
    await store.hset(ns + "jobs", "job_1", {"status": "queued", "name": "Zoë 🚀"})
    await store.hset(ns + "jobs", "Zoë/ß", [1, "two"])
    await store.hset(ns + "jobs", "big", {"n": 2**70 + 1})
    await store.hset(ns + "jobs", "text", '{"kept":"as a string"}')
    await store.hset(ns + "other", "job_2", "elsewhere")
    fields = ["job_1", "job_2", "Zoë/ß", "big", "text", "job_1"]
    found = await store.hget_many_json(ns + "jobs", fields)
    assert {field: json.loads(text) for field, text in found.items()} == {
        "job_1": {"status": "queued", "name": "Zoë 🚀"},
        "Zoë/ß": [1, "two"],
        "big": {"n": 2**70 + 1},
        "text": '{"kept":"as a string"}',
    }
    assert await store.hget_many_json(ns + "jobs", []) == {}
    assert await store.hget_many_json(ns + "nothing", ["job_1"]) == {}


async def test_hget_each_reads_fields_of_several_hashes_in_order(store, ns):
    await store.hset(ns + "tokens", "t1", {"user": "bob"})
    await store.hset(ns + "auth", "bob", '{"role":"user"}')
    pairs = [(ns + "auth", "bob"), (ns + "tokens", "missing"), (ns + "tokens", "t1")]
    assert await store.hget_each(pairs) == ['{"role":"user"}', None, {"user": "bob"}]
    assert await store.hget_each([(ns + "auth", "bob"), (ns + "auth", "bob")]) == [
        '{"role":"user"}',
        '{"role":"user"}',
    ]
    assert await store.hget_each([]) == []


async def test_hkeys_page_pages_fields_in_code_point_order_and_counts_them(store, ns):
    fields = ["job_2", "job_10", "job_1", "Zoë", "zz", "é", "🚀"]
    for field in fields:
        await store.hset(ns + "h", field, {"f": field})
    await store.hset(ns + "other", "aaa", 1)
    ordered = sorted(fields)
    assert await store.hkeys_page(ns + "h", offset=0, limit=100) == (ordered, 7)
    assert await store.hkeys_page(ns + "h", offset=2, limit=3) == (ordered[2:5], 7)
    newest = ordered[::-1]
    assert await store.hkeys_page(ns + "h", offset=0, limit=2, descending=True) == (newest[:2], 7)
    assert await store.hkeys_page(ns + "h", offset=6, limit=5, descending=True) == (newest[6:], 7)
    assert await store.hkeys_page(ns + "h", offset=9, limit=5) == ([], 7)
    assert await store.hkeys_page(ns + "h", offset=0, limit=0) == ([], 7)
    await store.hset(ns + "h", "zz", None)
    assert await store.hkeys_page(ns + "h", offset=0, limit=100) == (
        sorted(set(fields) - {"zz"}),
        6,
    )
    assert await store.hkeys_page(ns + "nothing", offset=0, limit=10) == ([], 0)


async def test_hkeys_page_refuses_a_negative_offset_or_limit(store, ns):
    with pytest.raises(BadRequest, match="offset >= 0"):
        await store.hkeys_page(ns + "h", offset=-1, limit=10)
    with pytest.raises(BadRequest, match="limit >= 0"):
        await store.hkeys_page(ns + "h", offset=0, limit=-1)


async def test_hash_field_is_visible_under_the_composed_key(store, ns):
    await store.hset(ns + "auth", "admin", {"role": "admin"})
    assert await store.get(hash_field_key(ns + "auth", "admin")) == {"role": "admin"}


async def test_values_read_back_are_copies(store, ns):
    value = {"list": [1]}
    await store.set(ns + "k", value)
    value["list"].append(2)  # the caller's object changes after the write
    read = await store.get(ns + "k")
    assert read == {"list": [1]}
    read["list"].append(3)
    assert await store.get(ns + "k") == {"list": [1]}


@pytest.mark.parametrize("bad", [{"when": object()}, float("nan"), {"s": {1, 2}}, b"bytes"])
async def test_values_json_cannot_carry_are_refused_before_storing(store, ns, bad):
    with pytest.raises(BadRequest, match="not JSON-serialisable"):
        await store.set(ns + "k", bad)
    with pytest.raises(BadRequest, match="not JSON-serialisable"):
        await store.hset(ns + "h", "f", bad)
    assert await store.get(ns + "k") is None
    assert await store.hgetall(ns + "h") == {}


@pytest.mark.parametrize("key", ["", None, 5])
async def test_empty_or_non_string_keys_are_refused(store, key):
    with pytest.raises(BadRequest, match="non-empty string"):
        await store.set(key, 1)
    with pytest.raises(BadRequest, match="non-empty string"):
        await store.hset("h", key, 1)
    with pytest.raises(BadRequest, match="non-empty string"):
        await store.hget_many_json("h", ["ok", key])
    with pytest.raises(BadRequest, match="non-empty string"):
        await store.hget_each([("h", "ok"), ("h", key)])


def test_composed_key_matches_the_node_format():
    # The verified example from spec/ratio1-wire.md section 1.4.
    assert hash_field_key("auth:default", "admin") == "hs:aadcbfa805:YWRtaW4="


async def test_set_if_writes_only_while_the_guard_holds(store, ns):
    if not isinstance(store, GuardedWrites):
        # CStore has no compare-and-set: a shard there runs unleased, with the store itself.
        assert isinstance(store, CStoreStore)
        async with hold_shard(store, job_id="j", shard_key="s", owner="o", ttl_seconds=5) as held:
            assert held is store
        return
    guard = ns + "lease"
    assert await store.set_if(guard, {"owner": "a", "n": 1}, guard=guard, expected=None)
    assert not await store.set_if(guard, {"owner": "b"}, guard=guard, expected=None)
    assert await store.set_if(ns + "k", [1], guard=guard, expected={"owner": "a"})
    assert not await store.set_if(ns + "k", [2], guard=guard, expected={"owner": "b"})
    assert not await store.set_if(ns + "k", [3], guard=guard, expected={"owner": "a", "n": 2})
    assert await store.set_if(ns + "h-field", None, guard=guard, expected={"n": 1})
    await store.hset(ns + "h", "f", 0)
    assert await store.set_if(hash_field_key(ns + "h", "f"), 5, guard=guard, expected={"n": 1})
    assert await store.hgetall(ns + "h") == {"f": 5}  # a composed key is a hash field
    assert await store.get(ns + "k") == [1]
    assert await store.set_if(guard, None, guard=guard, expected={"owner": "a"})
    assert await store.get(guard) is None
