"""CStoreStore on the wire: faults against the stand-in node, and the exact requests it sends."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from datagems_core.config.settings import load_settings
from datagems_core.errors import StoreError, StoreUnconfirmed
from datagems_core.store.cstore import CStoreStore
from tests.support.processes import free_port


def _store(url: str, **overrides) -> CStoreStore:
    options = {"retries": 2, "backoff_seconds": 0.01, "peers": ["0xai_peer"]}
    return CStoreStore(base_url=url, **{**options, **overrides})


def _key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


async def test_server_errors_are_retried_then_reported_with_store_and_key(ratio1_node):
    store = _store(ratio1_node.url)
    ratio1_node.set_mode("error500")
    before = ratio1_node.requests()
    key = _key()
    with pytest.raises(StoreError) as caught:
        await store.set(key, {"a": 1})
    assert ratio1_node.requests() - before == 3  # one try and two retries
    message = str(caught.value)
    assert f"CStore at {ratio1_node.url}" in message
    assert key in message
    assert "after 3 attempts: HTTP 500: Error in set: stand-in error500 mode" in message
    assert "EE_CHAINSTORE_API_URL" in message
    with pytest.raises(StoreError, match=r"GET /hgetall for hash 'datagen:jobs' failed"):
        await store.hgetall("datagen:jobs")
    await store.close()


async def test_a_node_that_hangs_times_out_with_a_clear_error(ratio1_node):
    store = _store(ratio1_node.url, retries=1, write_timeout_seconds=0.3)
    ratio1_node.set_mode("hang")
    with pytest.raises(StoreError, match=r"POST /set for key .* no answer within 0.3 s"):
        await store.set(_key(), 1)
    with pytest.raises(StoreError, match=r"GET /get for key 'k' failed after 2 attempts"):
        await store.get("k")
    await store.close()


async def test_unconfirmed_writes_are_retried_then_raise_unconfirmed(ratio1_node):
    store = _store(ratio1_node.url)
    ratio1_node.set_mode("unconfirmed")
    before = ratio1_node.requests()
    key = _key()
    with pytest.raises(StoreUnconfirmed) as caught:
        await store.hset(key, "field", {"a": 1})
    assert ratio1_node.requests() - before == 4  # three writes, then one read back
    message = str(caught.value)
    assert f"CStore at {ratio1_node.url} kept hash '{key}' field 'field' on this node" in message
    assert "DATAGEMS_CSTORE_ACCEPT_UNCONFIRMED" in message
    assert await store.hget(key, "field") == {"a": 1}  # it is stored locally
    await store.close()


async def test_unconfirmed_writes_are_accepted_when_configured(ratio1_node):
    store = _store(ratio1_node.url, accept_unconfirmed=True)
    ratio1_node.set_mode("unconfirmed")
    key = _key()
    await store.set(key, {"a": 1})
    await store.set(key + ":gone", None)  # a local delete is a stored delete
    assert await store.get(key) == {"a": 1}
    await store.close()


async def test_a_node_without_peers_stores_nothing_and_says_so(ratio1_node):
    store = _store(ratio1_node.url)
    ratio1_node.set_mode("no-peers")
    key = _key()
    with pytest.raises(StoreError) as caught:
        await store.set(key, {"a": 1})
    assert not isinstance(caught.value, StoreUnconfirmed)
    assert "did not store key" in str(caught.value)
    assert "R1EN_CHAINSTORE_PEERS" in str(caught.value)
    assert await store.get(key) is None
    with pytest.raises(StoreError, match=r"No target peers resolved for hsync"):
        await store.hsync(key)
    await store.close()


async def test_hsync_returns_the_nodes_answer(ratio1_node):
    store = _store(ratio1_node.url)
    answer = await store.hsync("datagen:jobs")
    assert answer["hkey"] == "datagen:jobs"
    assert set(answer) == {"hkey", "source_peer", "merged_fields"}
    await store.close()


async def test_an_unreachable_node_is_reported_with_its_address():
    url = f"http://127.0.0.1:{free_port()}"
    store = _store(url, retries=1)
    with pytest.raises(StoreError) as caught:
        await store.get("datagen:jobs")
    message = str(caught.value)
    assert f"CStore at {url}: GET /get for key 'datagen:jobs'" in message
    assert "cannot connect" in message
    assert "reachable" in message
    await store.close()


def _recording_client(
    replies: list[httpx.Response], seen: list[httpx.Request]
) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return replies.pop(0) if len(replies) > 1 else replies[0]

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _envelope(result) -> httpx.Response:
    return httpx.Response(200, json={"result": result, "server_node_addr": "0xai_X"})


async def test_every_write_carries_the_peers_and_the_timeouts():
    seen: list[httpx.Request] = []
    settings = load_settings(
        None,
        cstore_url="http://node:31234",
        chainstore_peers='["0xai_A","0xai_B"]',
        cstore_timeout_seconds=40,
        cstore_read_timeout_seconds=7,
    )
    async with _recording_client([_envelope(True)], seen) as http:
        store = CStoreStore.from_settings(settings, http=http)
        await store.set("k", {1: "a"})
        await store.hset("h", "f", "text")
        await store.get("k")
        await store.close()
        assert not http.is_closed  # an injected client belongs to the caller
    bodies = [json.loads(r.content) for r in seen[:2]]
    assert bodies[0] == {"key": "k", "value": {"1": "a"}, "chainstore_peers": ["0xai_A", "0xai_B"]}
    assert bodies[1] == {
        "hkey": "h",
        "key": "f",
        "value": "text",
        "chainstore_peers": ["0xai_A", "0xai_B"],
    }
    assert [str(r.url) for r in seen] == [
        "http://node:31234/set",
        "http://node:31234/hset",
        "http://node:31234/get?key=k",
    ]
    assert seen[0].extensions["timeout"]["read"] == 40
    assert seen[2].extensions["timeout"]["read"] == 7


async def test_a_refused_request_is_not_retried():
    seen: list[httpx.Request] = []
    reply = httpx.Response(422, json={"detail": [{"type": "missing", "loc": ["body", "value"]}]})
    async with _recording_client([reply], seen) as http:
        store = CStoreStore(base_url="http://node:31234", http=http, retries=3)
        with pytest.raises(StoreError, match=r"refused with HTTP 422"):
            await store.set("k", 1)
    assert len(seen) == 1


async def test_a_reply_without_the_envelope_is_an_error():
    async with _recording_client([httpx.Response(200, json={"ok": True})], []) as http:
        store = CStoreStore(base_url="http://node:31234", http=http)
        with pytest.raises(StoreError, match=r"without a Ratio1 envelope"):
            await store.get("k")


async def test_a_write_answer_other_than_true_or_false_is_an_error():
    async with _recording_client([_envelope("yes")], []) as http:
        store = CStoreStore(base_url="http://node:31234", http=http)
        with pytest.raises(StoreError, match=r"answered 'yes' instead of true/false"):
            await store.set("k", 1)
