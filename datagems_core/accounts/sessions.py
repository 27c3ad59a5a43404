"""Browser sessions: a signed token naming a server-side session record.

The cookie holds an HS256 JWT (`DATAGEN_SESSION_SECRET`) with the username and a session id; the
session counts only while `datagen:user:{username}:sessions[id]` exists, has not expired, and the
account still has the password it had at sign-in. So logout, a password change (here or in
another app sharing the accounts) and account removal end sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Final

import jwt

from datagems_core.accounts.users import User, canonical_username, parse_user
from datagems_core.clock import iso_from_ms, now_iso
from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, Unauthorized
from datagems_core.store.base import JSONValue, KVStore

SESSION_COOKIE: Final = "datagen_session"
_ALGORITHM: Final = "HS256"


@dataclass(frozen=True)
class Session:
    id: str
    username: str
    role: str
    issued_at: int
    expires_at: int


def sessions_key(username: str) -> str:
    return f"datagen:user:{username}:sessions"


def password_stamp(user: User) -> str:
    """Changes whenever the user's password record does (no secret in it: a digest of a digest)."""
    source = "" if user.password is None else str(user.password.get("hash", ""))
    return hashlib.sha256(source.encode()).hexdigest()[:24]


async def start_session(
    store: KVStore, settings: Settings, user: User, *, address: str | None = None
) -> tuple[str, Session]:
    """Record a new session for `user`; returns the token for the cookie and the session."""
    now = int(time.time())
    session = Session(
        id=secrets.token_urlsafe(18),
        username=user.username,
        role=user.role,
        issued_at=now,
        expires_at=now + settings.session_ttl_seconds,
    )
    record: dict[str, JSONValue] = {
        "id": session.id,
        "createdAt": now_iso(),
        "expiresAt": iso_from_ms(session.expires_at * 1000),
        "expiresAtEpoch": session.expires_at,
        "passwordStamp": password_stamp(user),
        "address": address,
    }
    await _prune_expired(store, user.username, now=now)
    await store.hset(sessions_key(user.username), session.id, record)
    claims = {
        "sub": user.username,
        "username": user.username,
        "role": user.role,
        "sid": session.id,
        "iat": now,
        "exp": session.expires_at,
    }
    token = jwt.encode(claims, _secret(settings), algorithm=_ALGORITHM)
    return token, session


async def read_session(store: KVStore, settings: Settings, token: str) -> tuple[Session, User]:
    """The live session and its user; Unauthorized if the token or its record is no longer valid."""
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=[_ALGORITHM],
            options={"require": ["sub", "sid", "iat", "exp"]},
        )
    except jwt.InvalidTokenError:
        raise Unauthorized("Unauthorized") from None
    username, sid = str(claims["sub"]), str(claims["sid"])
    try:
        name = canonical_username(username)
    except BadRequest:
        raise Unauthorized("Unauthorized") from None
    # The session record and the account in one store read; nothing is cached, so logout, a
    # password change or a removed account ends the session at the next request.
    record, user_record = await store.hget_each(
        [(sessions_key(username), sid), (settings.auth_hkey, name)]
    )
    if not isinstance(record, dict):
        raise Unauthorized("Unauthorized")
    expires = record.get("expiresAtEpoch")
    if not isinstance(expires, int) or expires <= time.time():
        raise Unauthorized("Unauthorized")
    user = parse_user(name, user_record)
    if user is None or user.is_deleted or record.get("passwordStamp") != password_stamp(user):
        raise Unauthorized("Unauthorized")
    return Session(sid, username, user.role, int(claims["iat"]), expires), user


async def end_session(store: KVStore, username: str, session_id: str) -> None:
    await store.hset(sessions_key(username), session_id, None)


async def end_sessions(store: KVStore, username: str, *, keep: str | None = None) -> int:
    """End every session of `username` except `keep`; returns how many ended."""
    key = sessions_key(username)
    ended = 0
    for sid in await store.hgetall(key):
        if sid != keep:
            await store.hset(key, sid, None)
            ended += 1
    return ended


async def _prune_expired(store: KVStore, username: str, *, now: int) -> None:
    key = sessions_key(username)
    for sid, record in (await store.hgetall(key)).items():
        expires = record.get("expiresAtEpoch") if isinstance(record, dict) else None
        if not isinstance(expires, int) or expires <= now:
            await store.hset(key, sid, None)


def _secret(settings: Settings) -> bytes:
    # A key of its own for sessions (the secret also keys other things), always 32 bytes.
    secret = settings.session_secret.get_secret_value()
    return hashlib.sha256(f"{secret}:datagems:session:v1".encode()).digest()
