"""Account administration (admins only)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminUser, KVStoreDep, SettingsDep
from api.openapi import errors
from api.schemas import AccountDelete, AccountPublic, AccountsPublic, Ok
from datagems_core.accounts import administration as accounts

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/accounts", summary="List accounts", responses=errors(403))
async def list_accounts(
    admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> AccountsPublic:
    del admin  # the dependency is the check
    found = await accounts.list_accounts(store, settings)
    return AccountsPublic(
        accounts=[
            AccountPublic(
                username=a.username,
                role=a.role,
                email=a.email,
                country=a.country,
                created_at=a.created_at,
            )
            for a in found
        ]
    )


@router.delete("/accounts", summary="Remove an account", responses=errors(404))
async def remove_account(
    body: AccountDelete, admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> Ok:
    """Remove an account: sign-in refused in every app, sessions and API tokens ended, email freed."""
    await accounts.remove_account(store, settings, body.username, by=admin.username)
    return Ok()
