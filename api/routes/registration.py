"""Public sign-up with credentials by email, and resend of a failed credentials mail."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import KVStoreDep, SettingsDep, client_address
from api.openapi import errors
from api.schemas import Message, Registered, RegisterRequest, ResendRequest
from datagems_core.accounts import registration

router = APIRouter(prefix="/api/auth/register", tags=["registration"])


@router.post("", summary="Register an account", responses=errors(409, 429, 502, 503))
async def register(
    body: RegisterRequest, request: Request, settings: SettingsDep, store: KVStoreDep
) -> Registered:
    """Create an account and mail its generated credentials (502 with canResend if the mail fails)."""
    result = await registration.register(
        store,
        settings,
        name=body.name,
        email=str(body.email),
        country=body.country,
        address=client_address(request, settings),
    )
    return Registered(
        username=result.username, message="Account created. Credentials sent by email."
    )


@router.post("/resend", summary="Send the credentials mail again", responses=errors(429, 502, 503))
async def resend(
    body: ResendRequest, request: Request, settings: SettingsDep, store: KVStoreDep
) -> Message:
    message = await registration.resend_credentials(
        store, settings, email=str(body.email), address=client_address(request, settings)
    )
    return Message(message=message)
