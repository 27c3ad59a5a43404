"""Account administration: the accounts list and removing an account with everything it holds open."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from datagems_core.accounts import undelivered_mail as registration_failures
from datagems_core.accounts.api_tokens import revoke_all_api_tokens
from datagems_core.accounts.sessions import end_sessions
from datagems_core.accounts.user_directory import remove_user_from_index
from datagems_core.accounts.users import canonical_username, get_user, list_users, mark_deleted
from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, NotFound
from datagems_core.store.base import JSONValue, KVStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    email: str | None
    country: str | None
    created_at: str

    def public(self) -> dict[str, JSONValue]:
        return {
            "username": self.username,
            "role": self.role,
            "email": self.email,
            "country": self.country,
            "createdAt": self.created_at,
        }


async def list_accounts(store: KVStore, settings: Settings) -> list[Account]:
    """Live accounts sorted by username (removed ones left out)."""
    accounts = []
    for user in await list_users(store, settings):
        if user.is_deleted:
            continue
        country = user.metadata.get("country")
        accounts.append(
            Account(
                username=user.username,
                role=user.role,
                email=user.email,
                country=country if isinstance(country, str) else None,
                created_at=user.created_at,
            )
        )
    return accounts


async def remove_account(store: KVStore, settings: Settings, username: str, *, by: str) -> None:
    """Soft-delete `username` (every app then refuses it), end its sessions and API tokens, and
    free its email for a new registration. BadRequest for yourself, NotFound if absent or removed."""
    try:
        name = canonical_username(username)
    except BadRequest:
        raise NotFound(f"account {username!r} not found") from None
    if name == canonical_username(by):
        raise BadRequest("You cannot delete your own account")
    user = await get_user(store, settings, name)
    if user is None or user.is_deleted:
        raise NotFound(f"account {name!r} not found")
    # The record first: once it is refused everywhere, the rest is cleanup.
    await mark_deleted(store, settings, user, by=by)
    sessions = await end_sessions(store, name)
    tokens = await revoke_all_api_tokens(store, username=name)
    await remove_user_from_index(store, username=name, email=user.email)
    if user.email:
        await registration_failures.discard_pending(store, user.email, code="account_removed")
    log.info(
        "account %s removed by %s (%d sessions ended, %d API tokens revoked)",
        name,
        by,
        sessions,
        tokens,
    )
