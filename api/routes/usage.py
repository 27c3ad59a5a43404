"""What users spent (`/api/usage`) and the monthly quotas admins set per user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.deps import AdminUser, CurrentUser, KVStoreDep, SettingsDep
from api.openapi import errors
from api.schemas import ApiModel, ApiRequest
from datagems_core.accounts.administration import list_accounts
from datagems_core.accounts.users import get_user
from datagems_core.billing.ledger import (
    UsageReport,
    check_month,
    month_of,
    read_usage,
    users_with_usage,
)
from datagems_core.billing.quotas import Quota, QuotaStatus, quota_status, write_quota
from datagems_core.errors import BadRequest, Forbidden, NotFound

router = APIRouter(tags=["usage"])

Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC); default: now")]


class UsagePublic(ApiModel):
    """Usage reports, one per user (yours only unless an admin asks for others)."""

    month: str
    reports: list[UsageReport]
    quota: QuotaStatus | None = None


class QuotasPublic(ApiModel):
    """Every account's quota next to what it used this month."""

    month: str
    quotas: list[QuotaStatus]


class QuotaUpdate(ApiRequest):
    """A user's monthly limits; a null limit means no limit. `reset: true` restores the defaults."""

    tokens: Annotated[int, Field(ge=0, le=10**15, strict=True)] | None = None
    cost_usd: Annotated[float, Field(ge=0, le=10**9, allow_inf_nan=False)] | None = None
    records: Annotated[int, Field(ge=0, le=10**12, strict=True)] | None = None
    reset: bool = False


@router.get("/api/usage", summary="Read usage and cost by month and model", responses=errors(403))
async def read_usage_route(
    user: CurrentUser,
    settings: SettingsDep,
    store: KVStoreDep,
    month: Month | None = None,
    of_user: Annotated[
        str | None, Query(alias="user", max_length=200, description="admins: a username or *")
    ] = None,
) -> UsagePublic:
    """Tokens, cost and accepted records per model for one month: your own; admins may ask for
    any user (`?user=name`) or everyone (`?user=*`)."""
    try:
        chosen = check_month(month) if month else month_of()
    except ValueError:
        raise BadRequest(
            f"month must be YYYY-MM, got {month!r}", details={"field": "month"}
        ) from None
    target = of_user or user.username
    if target != user.username and not user.is_admin:
        raise Forbidden("Admin access required to read another user's usage")
    names = await users_with_usage(store, chosen) if target == "*" else [target]
    reports = [await read_usage(store, user=name, month=chosen) for name in names]
    status = None
    if target != "*" and chosen == month_of():
        status = await quota_status(store, settings, target)
    return UsagePublic(month=chosen, reports=reports, quota=status)


@router.get("/api/admin/quotas", summary="Read every user's quota and usage", responses=errors(403))
async def read_quotas_route(
    admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> QuotasPublic:
    """This month's usage of each account against its quota (what the admin page shows)."""
    del admin
    accounts = await list_accounts(store, settings)
    statuses = [await quota_status(store, settings, a.username) for a in accounts]
    return QuotasPublic(month=month_of(), quotas=statuses)


@router.get(
    "/api/admin/users/{username}/quota",
    summary="Read a user's monthly quota",
    responses=errors(403, 404),
)
async def read_quota_route(
    username: str, admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> QuotaStatus:
    del admin  # the dependency is the check
    await _existing(store, settings, username)
    return await quota_status(store, settings, username)


@router.put(
    "/api/admin/users/{username}/quota",
    summary="Set a user's monthly quota",
    responses=errors(404),
)
async def write_quota_route(
    username: str, body: QuotaUpdate, admin: AdminUser, settings: SettingsDep, store: KVStoreDep
) -> QuotaStatus:
    """Limits on tokens, cost (USD) and accepted records per calendar month (UTC)."""
    del admin
    await _existing(store, settings, username)
    quota = (
        None
        if body.reset
        else Quota(
            tokens=body.tokens, cost_usd=body.cost_usd, records=body.records, is_default=False
        )
    )
    await write_quota(store, username, quota)
    return await quota_status(store, settings, username)


async def _existing(store: KVStoreDep, settings: SettingsDep, username: str) -> None:
    if await get_user(store, settings, username) is None:
        raise NotFound(f"user {username} not found")
