"""What handlers receive: settings, the stores, the signed-in user.

`CurrentUser` accepts the session cookie `datagen_session` or `Authorization: Bearer <API token>`;
cookie-authenticated state-changing requests must pass the CSRF check (api/csrf.py). Tests swap a
dependency with `app.dependency_overrides[get_kv_store] = lambda: store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, cast

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.csrf import check_same_origin
from datagems_core.accounts import client_addresses
from datagems_core.accounts.api_tokens import read_api_token
from datagems_core.accounts.sessions import SESSION_COOKIE, read_session
from datagems_core.config.settings import Settings
from datagems_core.errors import Forbidden, Unauthorized
from datagems_core.store.base import KVStore
from datagems_core.store.files.base import FileStore


# These read request state and never block: `async def` keeps FastAPI from running each of them
# in its thread pool, a thread hop per dependency per request.
async def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_kv_store(request: Request) -> KVStore:
    return cast(KVStore, request.state.store)


async def get_file_store(request: Request) -> FileStore:
    return cast(FileStore, request.state.files)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
KVStoreDep = Annotated[KVStore, Depends(get_kv_store)]
FileStoreDep = Annotated[FileStore, Depends(get_file_store)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user signed in by session cookie or by API token."""

    username: str
    role: str
    auth: Literal["session", "token"]
    session_id: str | None = None
    token_id: str | None = None
    issued_at: int | None = None
    expires_at: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def client_address(request: Request, settings: Settings) -> str:
    """The caller's address: the socket peer, or with DATAGEMS_TRUST_PROXY_HEADERS the right-most
    X-Forwarded-For entry a trusted proxy vouches for (`datagems_core.accounts.client_addresses`)."""
    return client_addresses.client_address(
        request.client.host if request.client else None,
        forwarded_for=request.headers.get("x-forwarded-for", ""),
        real_ip=request.headers.get("x-real-ip", ""),
        settings=settings,
    )


# Declared for /openapi.json (both show under /docs' Authorize button); either one signs in.
SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The session cookie set by POST /api/auth/login",
    auto_error=False,
)
TOKEN_SCHEME = HTTPBearer(
    scheme_name="apiToken",
    description="A personal API token from POST /api/auth/tokens",
    auto_error=False,
)


async def get_current_user(
    request: Request,
    settings: SettingsDep,
    store: KVStoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(TOKEN_SCHEME)],
    cookie: Annotated[str | None, Security(SESSION_SCHEME)],
) -> Principal:
    token = credentials.credentials.strip() if credentials else None
    if token:
        found = await read_api_token(store, settings, token)
        if found is None:
            raise Unauthorized("Invalid or revoked API token")
        api_token, user = found
        return Principal(user.username, user.role, "token", token_id=api_token.id)
    if not cookie:
        raise Unauthorized("Unauthorized")
    session, user = await read_session(store, settings, cookie)
    check_same_origin(request, settings)
    return Principal(
        user.username,
        user.role,
        "session",
        session_id=session.id,
        issued_at=session.issued_at,
        expires_at=session.expires_at,
    )


CurrentUser = Annotated[Principal, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise Forbidden("Admin access required")
    return user


AdminUser = Annotated[Principal, Depends(get_admin_user)]
