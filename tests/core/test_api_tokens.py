"""API tokens: shown once, stored as a digest, revocable, private to their owner."""

from __future__ import annotations

import json

import pytest

from datagems_core import api_tokens
from datagems_core.errors import BadRequest, NotFound
from datagems_core.store.memory import MemoryStore


async def test_create_and_read_api_token():
    store = MemoryStore()
    secret, token = await api_tokens.create_api_token(
        store, username="fay", name="ci", max_tokens=5
    )
    assert secret.startswith("dgm_") and len(secret) > 40
    found = await api_tokens.read_api_token(store, secret)
    assert found is not None and found.username == "fay" and found.id == token.id
    assert await api_tokens.read_api_token(store, secret + "x") is None
    assert await api_tokens.read_api_token(store, "not-a-token") is None


async def test_api_token_secret_is_never_stored():
    store = MemoryStore()
    secret, _ = await api_tokens.create_api_token(store, username="fay", name="ci", max_tokens=5)
    everything = json.dumps(
        [
            await store.hgetall(api_tokens.TOKENS_KEY),
            await store.hgetall(api_tokens.user_tokens_key("fay")),
        ]
    )
    assert secret not in everything and secret[4:] not in everything


async def test_revoke_api_token_is_owner_only():
    store = MemoryStore()
    secret, token = await api_tokens.create_api_token(
        store, username="fay", name="ci", max_tokens=5
    )
    with pytest.raises(NotFound):
        await api_tokens.revoke_api_token(store, username="gus", token_id=token.id)
    await api_tokens.revoke_api_token(store, username="fay", token_id=token.id)
    assert await api_tokens.read_api_token(store, secret) is None
    assert await api_tokens.list_api_tokens(store, username="fay") == []


async def test_create_api_token_respects_the_cap():
    store = MemoryStore()
    for i in range(2):
        await api_tokens.create_api_token(store, username="fay", name=f"t{i}", max_tokens=2)
    with pytest.raises(BadRequest, match="Maximum API tokens"):
        await api_tokens.create_api_token(store, username="fay", name="t3", max_tokens=2)


async def test_revoke_all_api_tokens():
    store = MemoryStore()
    secrets_ = [
        (await api_tokens.create_api_token(store, username="fay", name=n, max_tokens=5))[0]
        for n in ("a", "b")
    ]
    assert await api_tokens.revoke_all_api_tokens(store, username="fay") == 2
    for secret in secrets_:
        assert await api_tokens.read_api_token(store, secret) is None
