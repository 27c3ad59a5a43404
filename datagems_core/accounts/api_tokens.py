"""Personal API tokens for scripts: `Authorization: Bearer dgm_...`, shown once, stored hashed.

A token is `dgm_` + 256 random bits. Only its SHA-256 digest is kept: `datagen:api-tokens` maps
digest -> {id, username, name, createdAt} for lookup, and `datagen:user:{username}:api-tokens`
maps id -> {id, name, createdAt, digest} for listing and revoking. With that much entropy a fast
unsalted digest is safe (nothing to brute-force) and lets a request find its token in one read.
Nothing is cached: every request reads the token, its listing and its user again, so revoking a
token or removing an account works at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from datagems_core.accounts.users import User, parse_user
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, NotFound
from datagems_core.store.base import JSONValue, KVStore

TOKEN_PREFIX: Final = "dgm_"
TOKENS_KEY: Final = "datagen:api-tokens"


@dataclass(frozen=True)
class ApiToken:
    id: str
    username: str
    name: str
    created_at: str

    def public(self) -> dict[str, JSONValue]:
        return {"id": self.id, "name": self.name, "createdAt": self.created_at}


def user_tokens_key(username: str) -> str:
    return f"datagen:user:{username}:api-tokens"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 200


async def create_api_token(
    store: KVStore, *, username: str, name: str, max_tokens: int
) -> tuple[str, ApiToken]:
    """A new token for `username`; returns (the secret, shown once, and its public record)."""
    name = name.strip()
    if not name:
        raise BadRequest("token name must not be empty", details={"field": "name"})
    if len(await store.hgetall(user_tokens_key(username))) >= max_tokens:
        raise BadRequest(
            f"Maximum API tokens reached ({max_tokens}): revoke one before creating another"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(secrets.token_hex(6), username, name, now_iso())
    digest = token_digest(secret)
    # Lookup entry first: a token listed for the user always works, never the other way round.
    await store.hset(TOKENS_KEY, digest, {**token.public(), "username": username})
    await store.hset(user_tokens_key(username), token.id, {**token.public(), "digest": digest})
    return secret, token


async def list_api_tokens(store: KVStore, *, username: str) -> list[ApiToken]:
    tokens = []
    for token_id, record in (await store.hgetall(user_tokens_key(username))).items():
        if isinstance(record, dict):
            tokens.append(
                ApiToken(token_id, username, str(record.get("name")), str(record.get("createdAt")))
            )
    return sorted(tokens, key=lambda t: (t.created_at, t.id))


async def revoke_api_token(store: KVStore, *, username: str, token_id: str) -> None:
    """Revoke one of `username`'s tokens; NotFound for an unknown id or someone else's."""
    record = await store.hget(user_tokens_key(username), token_id)
    if not isinstance(record, dict):
        raise NotFound(f"API token {token_id!r} not found")
    digest = record.get("digest")
    if isinstance(digest, str):
        await store.hset(TOKENS_KEY, digest, None)
    await store.hset(user_tokens_key(username), token_id, None)


async def revoke_all_api_tokens(store: KVStore, *, username: str) -> int:
    tokens = await list_api_tokens(store, username=username)
    for token in tokens:
        await revoke_api_token(store, username=username, token_id=token.id)
    return len(tokens)


async def read_api_token(
    store: KVStore, settings: Settings, secret: str
) -> tuple[ApiToken, User] | None:
    """The token `secret` stands for and its user; None if the token is unknown or revoked, or
    the account is removed or unreadable. Two store reads: the lookup entry, then the owner's
    listing and user record together."""
    if not looks_like_token(secret):
        return None
    digest = token_digest(secret)
    record = await store.hget(TOKENS_KEY, digest)
    if not isinstance(record, dict):
        return None
    username, token_id = record.get("username"), record.get("id")
    if not isinstance(username, str) or not isinstance(token_id, str):
        return None
    listed, user_record = await store.hget_each(
        [(user_tokens_key(username), token_id), (settings.auth_hkey, username)]
    )
    # The user's own listing must still hold it with the same digest: revocation removes both,
    # and a node that missed one of the two deletes still refuses the token.
    if not isinstance(listed, dict) or not hmac.compare_digest(
        str(listed.get("digest", "")), digest
    ):
        return None
    user = parse_user(username, user_record)
    if user is None or user.is_deleted:
        return None
    token = ApiToken(token_id, username, str(record.get("name")), str(record.get("createdAt")))
    return token, user
