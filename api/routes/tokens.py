"""Personal API tokens: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import CurrentUser, KVStoreDep, SettingsDep
from api.openapi import errors
from api.schemas import Ok, TokenCreate, TokenCreated, TokenPublic, TokensPublic
from datagems_core.accounts import api_tokens

router = APIRouter(prefix="/api/auth/tokens", tags=["auth"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API token")
async def create_token(
    body: TokenCreate, user: CurrentUser, settings: SettingsDep, store: KVStoreDep
) -> TokenCreated:
    secret, token = await api_tokens.create_api_token(
        store, username=user.username, name=body.name, max_tokens=settings.max_api_tokens
    )
    return TokenCreated(id=token.id, name=token.name, created_at=token.created_at, token=secret)


@router.get("", summary="List your API tokens")
async def list_tokens(user: CurrentUser, store: KVStoreDep) -> TokensPublic:
    tokens = await api_tokens.list_api_tokens(store, username=user.username)
    return TokensPublic(
        tokens=[TokenPublic(id=t.id, name=t.name, created_at=t.created_at) for t in tokens]
    )


@router.delete("/{token_id}", summary="Revoke an API token", responses=errors(404))
async def revoke_token(token_id: str, user: CurrentUser, store: KVStoreDep) -> Ok:
    await api_tokens.revoke_api_token(store, username=user.username, token_id=token_id)
    return Ok()
