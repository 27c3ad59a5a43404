"""API tokens: shown once, stored as a digest, revocable, private to their owner."""

from __future__ import annotations

import json

import pytest

from datagems_core.accounts import api_tokens, users
from datagems_core.config.settings import load_settings
from datagems_core.errors import BadRequest, NotFound
from datagems_core.store.memory import MemoryStore


@pytest.fixture
async def accounts(tmp_path):
    """A store holding the account `fay`, and the settings that name its hash."""
    settings = load_settings(None, data_dir=tmp_path)
    store = MemoryStore()
    await users.create_user(store, settings, "fay", "pw-fay-1")
    return store, settings


async def test_create_and_read_api_token(accounts):
    store, settings = accounts
    secret, token = await api_tokens.create_api_token(
        store, username="fay", name="ci", max_tokens=5
    )
    assert secret.startswith("dgm_") and len(secret) > 40
    found = await api_tokens.read_api_token(store, settings, secret)
    assert found is not None
    found_token, user = found
    assert found_token.username == "fay" and found_token.id == token.id
    assert user.username == "fay" and user.role == "user"
    assert await api_tokens.read_api_token(store, settings, secret + "x") is None
    assert await api_tokens.read_api_token(store, settings, "not-a-token") is None


def test_api_token_digest_is_hex_sha256_of_the_secret():
    # Tokens already stored were looked up by this digest: it must never change.
    assert api_tokens.token_digest("dgm_abc") == (
        "ca858cc5eb29a080d4402cfdfa78c666331a084ebeb4a50716f2c00b4fa7a9d9"
    )


async def test_api_token_of_a_removed_account_is_refused_at_once(accounts):
    store, settings = accounts
    secret, _ = await api_tokens.create_api_token(store, username="fay", name="ci", max_tokens=5)
    user = await users.require_user(store, settings, "fay")
    await users.mark_deleted(store, settings, user, by="admin")
    assert await api_tokens.read_api_token(store, settings, secret) is None


async def test_api_token_missing_from_its_owners_listing_is_refused(accounts):
    # As on a node that saw the listing's delete but missed the lookup entry's.
    store, settings = accounts
    secret, token = await api_tokens.create_api_token(
        store, username="fay", name="ci", max_tokens=5
    )
    await store.hset(api_tokens.user_tokens_key("fay"), token.id, None)
    assert await api_tokens.read_api_token(store, settings, secret) is None


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


async def test_revoke_api_token_is_owner_only(accounts):
    store, settings = accounts
    secret, token = await api_tokens.create_api_token(
        store, username="fay", name="ci", max_tokens=5
    )
    with pytest.raises(NotFound):
        await api_tokens.revoke_api_token(store, username="gus", token_id=token.id)
    await api_tokens.revoke_api_token(store, username="fay", token_id=token.id)
    assert await api_tokens.read_api_token(store, settings, secret) is None
    assert await api_tokens.list_api_tokens(store, username="fay") == []


async def test_create_api_token_respects_the_cap():
    store = MemoryStore()
    for i in range(2):
        await api_tokens.create_api_token(store, username="fay", name=f"t{i}", max_tokens=2)
    with pytest.raises(BadRequest, match="Maximum API tokens"):
        await api_tokens.create_api_token(store, username="fay", name="t3", max_tokens=2)


async def test_revoke_all_api_tokens(accounts):
    store, settings = accounts
    secrets_ = [
        (await api_tokens.create_api_token(store, username="fay", name=n, max_tokens=5))[0]
        for n in ("a", "b")
    ]
    assert await api_tokens.revoke_all_api_tokens(store, username="fay") == 2
    for secret in secrets_:
        assert await api_tokens.read_api_token(store, settings, secret) is None
