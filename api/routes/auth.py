"""Sign-in, sign-out, who am I, and password change (session cookie `datagen_session`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.csrf import check_same_origin, refuse_foreign_origin
from api.deps import CurrentUser, KVStoreDep, SettingsDep, client_address
from api.openapi import errors
from api.schemas import LoginRequest, LogoutResult, Me, PasswordChange, UserPublic
from datagems_core.accounts import login_throttle, users
from datagems_core.accounts.sessions import (
    SESSION_COOKIE,
    end_session,
    end_sessions,
    read_session,
    start_session,
)
from datagems_core.accounts.users import User
from datagems_core.config.settings import Settings
from datagems_core.errors import DatagemsError, Unauthorized
from datagems_core.store.base import KVStore

router = APIRouter(prefix="/api/auth", tags=["auth"])

MOCK_HINT = " (mock mode defaults: admin/admin or test_user/testtest)"


def _set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


async def _checked_sign_in(
    store: KVStore, settings: Settings, *, username: str, password: str, address: str
) -> User:
    """authenticate() behind the failed-login throttle."""
    attempt = await login_throttle.begin_login(store, settings, username=username, address=address)
    user = await users.authenticate(store, settings, username, password)
    await login_throttle.login_succeeded(store, settings, attempt)
    return user


@router.post("/login", summary="Sign in", responses=errors(401, 403, 429))
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: KVStoreDep,
) -> UserPublic:
    refuse_foreign_origin(request, settings)
    address = client_address(request, settings)
    if body.username.strip().lower() == users.ADMIN_USERNAME and not settings.mock_cstore:
        await users.bootstrap_admin(store, settings)  # in case start-up could not reach the store
    try:
        user = await _checked_sign_in(
            store,
            settings,
            username=body.username,
            password=body.password.get_secret_value(),
            address=address,
        )
    except Unauthorized as exc:
        hint = MOCK_HINT if settings.mock_cstore else ""
        raise Unauthorized(exc.message + hint) from None
    token, _ = await start_session(store, settings, user, address=address)
    _set_session_cookie(response, settings, token)
    return UserPublic(username=user.username, role=user.role)


@router.post("/logout", summary="Sign out", responses=errors(403))
async def logout(
    request: Request, response: Response, settings: SettingsDep, store: KVStoreDep
) -> LogoutResult:
    """End this session (if any) and clear the cookie. Needs no valid session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            session, _ = await read_session(store, settings, cookie)
        except DatagemsError:
            session = None
        if session is not None:
            check_same_origin(request, settings)
            await end_session(store, session.username, session.id)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.is_production
    )
    return LogoutResult()


@router.get("/me", summary="Who am I")
async def me(user: CurrentUser) -> Me:
    return Me(
        username=user.username,
        role=user.role,
        auth=user.auth,
        iat=user.issued_at,
        exp=user.expires_at,
    )


@router.post("/password", summary="Change your password", responses=errors(429))
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: KVStoreDep,
) -> UserPublic:
    """Change your password (current one required). Ends every session of the account; a
    cookie caller gets a fresh session. API tokens keep working."""
    address = client_address(request, settings)
    account = await _checked_sign_in(
        store,
        settings,
        username=user.username,
        password=body.current_password.get_secret_value(),
        address=address,
    )
    updated = await users.set_password(
        store, settings, account, body.new_password.get_secret_value()
    )
    await end_sessions(store, user.username)
    if user.auth == "session":
        token, _ = await start_session(store, settings, updated, address=address)
        _set_session_cookie(response, settings, token)
    return UserPublic(username=updated.username, role=updated.role)
