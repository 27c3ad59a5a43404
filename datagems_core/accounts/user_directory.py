"""The seed's user directory next to cstore-auth: profile facts and the email -> username index.

`datagen:users[username]` = {username, email, name, country, createdAt} and
`datagen:user-email-index[email]` = username (a plain string), as the TS DataGems writes them.
"""

from __future__ import annotations

from typing import Final

from datagems_core.accounts.users import get_user
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.store.base import JSONValue, KVStore

USERS_KEY: Final = "datagen:users"
EMAIL_INDEX_KEY: Final = "datagen:user-email-index"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def add_user_to_index(
    store: KVStore, *, username: str, email: str, name: str, country: str
) -> None:
    email = normalise_email(email)
    entry: dict[str, JSONValue] = {
        "username": username,
        "email": email,
        "name": name,
        "country": country,
        "createdAt": now_iso(),
    }
    await store.hset(USERS_KEY, username, entry)
    await store.hset(EMAIL_INDEX_KEY, email, username)


async def username_for_email(store: KVStore, settings: Settings, email: str) -> str | None:
    """The live account registered with `email`, or None (a removed account does not hold it)."""
    username = await store.hget(EMAIL_INDEX_KEY, normalise_email(email))
    if not isinstance(username, str) or not username:
        return None
    user = await get_user(store, settings, username)
    if user is None or user.is_deleted:
        return None  # also frees emails that the TS seed left pointing at deleted accounts
    return username


async def remove_user_from_index(store: KVStore, *, username: str, email: str | None) -> None:
    """Drop `username`'s entries; the email entry only while it still points at this user."""
    if email:
        key = normalise_email(email)
        if await store.hget(EMAIL_INDEX_KEY, key) == username:
            await store.hset(EMAIL_INDEX_KEY, key, None)
    await store.hset(USERS_KEY, username, None)
