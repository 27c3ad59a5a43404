"""Draft tokens: signed, 30 minutes, bound to the user who drafted, never a session."""

from __future__ import annotations

import time

import jwt
import pytest

from datagems_core.accounts.sessions import read_session
from datagems_core.config.settings import load_settings
from datagems_core.datasets.drafts import (
    DRAFT_TTL_SECONDS,
    Draft,
    issue_draft_token,
    read_draft_token,
    refreshes_after,
)
from datagems_core.errors import BadRequest, Unauthorized
from datagems_core.store.memory import MemoryStore


@pytest.fixture
def settings(tmp_path):
    return load_settings(None, data_dir=tmp_path, session_secret="a-test-session-secret")


def _draft(**overrides):
    values = {
        "owner": "alice",
        "title": "People",
        "instructions": "Fictional customers",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
        "schema_generated_at": "2026-01-01T00:00:00.000Z",
        "schema_duration_ms": 12.5,
        "schema_refreshes": 2,
    }
    return Draft(**{**values, **overrides})


def test_draft_token_round_trips_the_draft(settings):
    token = issue_draft_token(settings, _draft())
    draft = read_draft_token(settings, token, username="alice")
    assert draft == _draft()
    assert refreshes_after(settings, token, username="alice") == 3


def test_draft_token_expires_after_thirty_minutes(settings):
    issued = time.time() - DRAFT_TTL_SECONDS - 5
    token = issue_draft_token(settings, _draft(), now=issued)
    with pytest.raises(BadRequest, match="Invalid or expired draft"):
        read_draft_token(settings, token, username="alice")
    assert refreshes_after(settings, token, username="alice") == 0
    fresh = issue_draft_token(settings, _draft(), now=time.time() - DRAFT_TTL_SECONDS + 60)
    assert read_draft_token(settings, fresh, username="alice").title == "People"


def test_draft_token_is_refused_when_forged_or_someone_elses(settings, tmp_path):
    token = issue_draft_token(settings, _draft())
    with pytest.raises(BadRequest):
        read_draft_token(settings, token, username="bob")
    other = load_settings(None, data_dir=tmp_path, session_secret="another-session-secret")
    with pytest.raises(BadRequest):
        read_draft_token(other, token, username="alice")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["draft"]["schemaRefreshes"] = 99
    forged = jwt.encode(claims, "a-guessed-key-of-thirty-two-bytes!", algorithm="HS256")
    with pytest.raises(BadRequest):
        read_draft_token(settings, forged, username="alice")


async def test_draft_token_is_not_a_session(settings):
    token = issue_draft_token(settings, _draft())
    with pytest.raises(Unauthorized):
        await read_session(MemoryStore(), settings, token)
