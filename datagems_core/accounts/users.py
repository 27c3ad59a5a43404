"""Users in `@ratio1/cstore-auth-ts`' exact wire format, shared with the TS apps of a deployment.

A user is one field of the CStore hash `R1EN_CSTORE_AUTH_HKEY` (field = canonical username) whose
value is a JSON *string* with the keys in `JSON.stringify` order: type, password, role, metadata,
createdAt, updatedAt. A null password means no login (how a removed account stays refused by the
TS apps too). See spec/ratio1-wire.md section 3.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import Final, Literal, cast

from datagems_core.accounts import passwords
from datagems_core.clock import now_iso
from datagems_core.config.settings import Settings
from datagems_core.errors import BadRequest, Conflict, NotFound, Unauthorized
from datagems_core.store.base import JSONValue, KVStore

log = logging.getLogger(__name__)

Role = Literal["admin", "user"]
ROLES: Final = ("admin", "user")
ADMIN_USERNAME: Final = "admin"
DELETED_FLAG: Final = "__datagemsDeleted"
MOCK_USERS: Final = (("admin", "admin", "admin"), ("test_user", "testtest", "user"))

_USERNAME = re.compile(r"^[a-z0-9._-]+$")


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    metadata: dict[str, JSONValue] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    password: dict[str, JSONValue] | None = None

    @property
    def is_deleted(self) -> bool:
        return self.password is None or self.metadata.get(DELETED_FLAG) is True

    @property
    def email(self) -> str | None:
        value = self.metadata.get("email")
        return value if isinstance(value, str) else None

    def to_record(self) -> str:
        """The stored value: a JSON string with the TS package's key order and separators."""
        record = {
            "type": "simple",
            "password": self.password,
            "role": self.role,
            "metadata": self.metadata,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def canonical_username(raw: str) -> str:
    """trim, lower-case, 3-64 characters of [a-z0-9._-], as cstore-auth's InvalidUsername check."""
    name = raw.strip().lower()
    if not 3 <= len(name) <= 64 or not _USERNAME.match(name):
        raise BadRequest(
            "invalid username: use 3 to 64 characters from a-z, 0-9, '.', '_' and '-'",
            details={"field": "username"},
        )
    return name


def parse_user(username: str, value: JSONValue) -> User | None:
    """A User from the stored value, or None where cstore-auth's parseUserRecord would refuse it."""
    if not isinstance(value, str):
        return None  # the TS package reads String(value): an object is unusable there too
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "simple":
        return None
    role, created, updated = data.get("role"), data.get("createdAt"), data.get("updatedAt")
    if role not in ROLES or not isinstance(created, str) or not isinstance(updated, str):
        return None
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return None
    password = data.get("password")
    if password is not None and not _is_password_record(password):
        return None
    return User(
        username=username,
        role=cast(Role, role),
        metadata=metadata,
        created_at=created,
        updated_at=updated,
        password=password,
    )


def _is_password_record(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    strings = all(isinstance(value.get(k), str) for k in ("algo", "hash", "salt"))
    version = value.get("version")
    is_number = isinstance(version, int | float) and not isinstance(version, bool)
    return strings and is_number and isinstance(value.get("params"), dict)


async def get_user(store: KVStore, settings: Settings, username: str) -> User | None:
    """The user under the canonical form of `username`, deleted or not; None if absent or unreadable."""
    try:
        name = canonical_username(username)
    except BadRequest:
        return None
    return parse_user(name, await store.hget(settings.auth_hkey, name))


async def require_user(store: KVStore, settings: Settings, username: str) -> User:
    user = await get_user(store, settings, username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


async def list_users(store: KVStore, settings: Settings) -> list[User]:
    """Every readable user, deleted ones included, sorted by username (bad records skipped)."""
    users = []
    for name, value in (await store.hgetall(settings.auth_hkey)).items():
        user = parse_user(name, value)
        if user is None:
            log.warning("skipping unreadable user record %r in %s", name, settings.auth_hkey)
        else:
            users.append(user)
    return sorted(users, key=lambda u: u.username)


async def create_user(
    store: KVStore,
    settings: Settings,
    username: str,
    password: str,
    *,
    role: Role = "user",
    metadata: dict[str, JSONValue] | None = None,
) -> User:
    """Create a user as cstore-auth's createUser does; Conflict if the username is taken."""
    name = canonical_username(username)
    if not password:
        raise BadRequest("password must not be empty", details={"field": "password"})
    if await store.hget(settings.auth_hkey, name) is not None:
        raise Conflict(f"user {name!r} already exists")
    record = await passwords.hash_password_async(password, pepper=_pepper(settings))
    stamp = now_iso()
    user = User(name, role, dict(metadata or {}), stamp, stamp, record)
    await store.hset(settings.auth_hkey, name, user.to_record())
    return user


async def authenticate(store: KVStore, settings: Settings, username: str, password: str) -> User:
    """The user if the password matches; Unauthorized otherwise, in about the same time either way."""
    user = await get_user(store, settings, username)
    if user is None or user.password is None:
        # Spend the cost of a verification anyway, so the answer time does not tell whether
        # the account exists.
        await asyncio.to_thread(
            passwords.burn_verification_time, password, pepper=_pepper(settings)
        )
        raise Unauthorized("Invalid credentials")
    if not await passwords.verify_password_async(password, user.password, pepper=_pepper(settings)):
        raise Unauthorized("Invalid credentials")
    if user.is_deleted:
        raise Unauthorized("Invalid credentials")
    return user


async def set_password(store: KVStore, settings: Settings, user: User, new_password: str) -> User:
    """Store a new password for `user` (the caller has checked the current one)."""
    if not new_password:
        raise BadRequest("the new password must not be empty", details={"field": "newPassword"})
    record = await passwords.hash_password_async(new_password, pepper=_pepper(settings))
    updated = replace(user, password=record, updated_at=now_iso())
    await store.hset(settings.auth_hkey, user.username, updated.to_record())
    return updated


async def mark_deleted(store: KVStore, settings: Settings, user: User, *, by: str) -> User:
    """Soft-delete as the TS DataGems does: password null plus flags, so every app refuses login."""
    stamp = now_iso()
    metadata = {
        **user.metadata,
        DELETED_FLAG: True,
        "__datagemsDeletedAt": stamp,
        "__datagemsDeletedBy": by,
    }
    deleted = replace(user, password=None, metadata=metadata, updated_at=stamp)
    await store.hset(settings.auth_hkey, user.username, deleted.to_record())
    return deleted


async def bootstrap_admin(store: KVStore, settings: Settings) -> bool:
    """Create `admin` from the bootstrap password when the record is missing; True if created."""
    if await store.hget(settings.auth_hkey, ADMIN_USERNAME) is not None:
        return False
    password = settings.bootstrap_admin_password.get_secret_value()
    try:
        await create_user(store, settings, ADMIN_USERNAME, password, role="admin")
    except Conflict:
        return False  # another instance won the race with the same password
    log.info("bootstrapped the admin account in %s", settings.auth_hkey)
    return True


async def ensure_mock_users(store: KVStore, settings: Settings) -> None:
    """Mock mode's users as in the TS seed: admin/admin and test_user/testtest."""
    for name, password, role in MOCK_USERS:
        if await store.hget(settings.auth_hkey, name) is None:
            try:
                await create_user(store, settings, name, password, role=cast(Role, role))
            except Conflict:
                continue


def _pepper(settings: Settings) -> str:
    return settings.auth_pepper.get_secret_value()
