"""Server-side sessions: a valid signature is not enough once the record is gone."""

from __future__ import annotations

import jwt
import pytest

from datagems_core.accounts import sessions, users
from datagems_core.config.settings import load_settings
from datagems_core.errors import Unauthorized
from datagems_core.store.memory import MemoryStore


@pytest.fixture
async def setup(tmp_path):
    settings = load_settings(None, data_dir=tmp_path, session_secret="a-session-secret-for-tests")
    store = MemoryStore()
    user = await users.create_user(store, settings, "erin", "pw-erin-1")
    return store, settings, user


async def test_read_session_returns_user_and_role(setup):
    store, settings, user = setup
    token, session = await sessions.start_session(store, settings, user, address="1.2.3.4")
    found, found_user = await sessions.read_session(store, settings, token)
    assert found.id == session.id and found_user.username == "erin" and found.role == "user"


async def test_end_session_refuses_the_old_token(setup):
    store, settings, user = setup
    token, session = await sessions.start_session(store, settings, user)
    await sessions.end_session(store, "erin", session.id)
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, settings, token)


async def test_end_sessions_keeps_the_named_one(setup):
    store, settings, user = setup
    first, _ = await sessions.start_session(store, settings, user)
    second, kept = await sessions.start_session(store, settings, user)
    assert await sessions.end_sessions(store, "erin", keep=kept.id) == 1
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, settings, first)
    await sessions.read_session(store, settings, second)


async def test_password_change_anywhere_ends_sessions(setup):
    store, settings, user = setup
    token, _ = await sessions.start_session(store, settings, user)
    await users.set_password(store, settings, user, "pw-erin-2")  # as another app would
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, settings, token)


async def test_removed_account_ends_sessions(setup):
    store, settings, user = setup
    token, _ = await sessions.start_session(store, settings, user)
    await users.mark_deleted(store, settings, user, by="admin")
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, settings, token)


async def test_token_signed_with_another_secret_is_refused(setup):
    store, settings, user = setup
    _, session = await sessions.start_session(store, settings, user)
    forged = jwt.encode(
        {"sub": "erin", "sid": session.id, "iat": 1, "exp": 4_000_000_000},
        "x" * 32,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, settings, forged)


async def test_expired_session_is_refused(setup, tmp_path):
    store, _, user = setup
    short = load_settings(
        None, data_dir=tmp_path, session_secret="a-session-secret-for-tests", session_ttl_seconds=1
    )
    token, session = await sessions.start_session(store, short, user)
    record = await store.hget(sessions.sessions_key("erin"), session.id)
    await store.hset(sessions.sessions_key("erin"), session.id, {**record, "expiresAtEpoch": 1})
    with pytest.raises(Unauthorized):
        await sessions.read_session(store, short, token)
