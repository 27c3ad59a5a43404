"""Schema drafts: a drafted schema travels to job creation inside a signed token, never stored.

As in the seed (`lib/datagen/draftToken.ts`), `POST /api/jobs/schema` returns the draft as an
HS256 JWT valid for 30 minutes, signed with a key derived from `DATAGEN_SESSION_SECRET`; the
token is bound to the user who drafted it. Drafting again with `previousDraftToken` counts
refreshes.

    token = issue_draft_token(settings, draft)
    draft = read_draft_token(settings, token, username="alice")
"""

from __future__ import annotations

import hashlib
import time
from typing import Final

import jwt
from pydantic import ValidationError

from datagems_core.config.settings import Settings
from datagems_core.datasets.definition import DatasetDefinition
from datagems_core.errors import BadRequest

DRAFT_TTL_SECONDS: Final = 30 * 60
_ALGORITHM: Final = "HS256"
_AUDIENCE: Final = "datagems:draft"
INVALID_DRAFT: Final = "Invalid or expired draft"


class Draft(DatasetDefinition):
    """What a draft token carries: the seed's DraftTokenPayload (a definition with its drafted
    schema), plus who drafted it."""

    owner: str
    schema_generated_at: str
    schema_duration_ms: float
    schema_refreshes: int = 0


def issue_draft_token(settings: Settings, draft: Draft, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": draft.owner,
        "aud": _AUDIENCE,
        "iat": issued,
        "exp": issued + DRAFT_TTL_SECONDS,
        "draft": draft.model_dump(by_alias=True, mode="json"),
    }
    return jwt.encode(claims, _key(settings), algorithm=_ALGORITHM)


def read_draft_token(settings: Settings, token: str, *, username: str) -> Draft:
    """The draft inside `token`; BadRequest when it is forged, expired or someone else's."""
    try:
        claims = jwt.decode(
            token,
            _key(settings),
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "aud", "exp", "draft"]},
        )
        draft = Draft.model_validate(claims["draft"])
    except (jwt.InvalidTokenError, ValidationError):
        raise BadRequest(INVALID_DRAFT, details={"field": "draftToken"}) from None
    if claims["sub"] != username or draft.owner != username:
        raise BadRequest(INVALID_DRAFT, details={"field": "draftToken"})
    return draft


def read_optional_draft(settings: Settings, token: str | None, *, username: str) -> Draft | None:
    return read_draft_token(settings, token, username=username) if token else None


def refreshes_after(settings: Settings, previous_token: str | None, *, username: str) -> int:
    """`schemaRefreshes` for a new draft: one more than a still-valid previous draft's, else 0."""
    if not previous_token:
        return 0
    try:
        return read_draft_token(settings, previous_token, username=username).schema_refreshes + 1
    except BadRequest:
        return 0


def _key(settings: Settings) -> bytes:
    # A key of its own: a session token never verifies as a draft, nor a draft as a session.
    secret = settings.session_secret.get_secret_value()
    return hashlib.sha256(f"{secret}:datagems:draft:v1".encode()).digest()
