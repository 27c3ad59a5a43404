"""Signup mails that failed, kept for a resend: `datagen:register-mail-failures[email]`.

The record is the TS seed's: {email, username, passwordEncrypted?, attempts, status
(pending|sent|expired), failedAt, updatedAt, lastErrorCode}. The generated password is sealed with
AES-256-GCM (see secret_box) and dropped once sent, expired or unreadable. A record is usable for
`DATAGEN_REGISTER_FAILURE_TTL_SECONDS` after the failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from datagems_core.accounts.user_directory import normalise_email
from datagems_core.clock import now, now_iso, parse_iso
from datagems_core.config.settings import Settings
from datagems_core.secret_box import REGISTER_FAILURE_PURPOSE, SecretBox, SecretBoxError
from datagems_core.store.base import JSONValue, KVStore

log = logging.getLogger(__name__)

FAILURES_KEY: Final = "datagen:register-mail-failures"


@dataclass(frozen=True)
class PendingCredentials:
    email: str
    username: str
    password: str


def _box(settings: Settings) -> SecretBox:
    return SecretBox(
        secret=settings.session_secret.get_secret_value(), purpose=REGISTER_FAILURE_PURPOSE
    )


async def record_mail_failure(
    store: KVStore, settings: Settings, *, email: str, username: str, password: str
) -> None:
    email = normalise_email(email)
    previous = await store.hget(FAILURES_KEY, email)
    attempts = previous.get("attempts", 0) if isinstance(previous, dict) else 0
    stamp = now_iso()
    record: dict[str, JSONValue] = {
        "email": email,
        "username": username,
        "passwordEncrypted": _box(settings).seal(password),
        "attempts": (attempts if isinstance(attempts, int) else 0) + 1,
        "status": "pending",
        "failedAt": stamp,
        "updatedAt": stamp,
        "lastErrorCode": "delivery_failed",
    }
    await store.hset(FAILURES_KEY, email, record)


async def read_for_resend(
    store: KVStore, settings: Settings, email: str
) -> PendingCredentials | None:
    """The credentials to mail again, or None when nothing is pending (expired ones are closed)."""
    email = normalise_email(email)
    record = await store.hget(FAILURES_KEY, email)
    if not isinstance(record, dict) or record.get("status") != "pending":
        return None
    failed_at = parse_iso(str(record.get("failedAt", "")))
    sealed, username = record.get("passwordEncrypted"), record.get("username")
    ttl = timedelta(seconds=settings.register_failure_ttl_seconds)
    if failed_at is None or now() - failed_at > ttl:
        await _close(store, email, record, code=str(record.get("lastErrorCode", "expired")))
        return None
    if not isinstance(sealed, str) or not isinstance(username, str):
        await _close(store, email, record, code="decrypt_failed")
        return None
    try:
        password = _box(settings).open(sealed)
    except SecretBoxError:
        log.warning(
            "pending signup mail for a user could not be decrypted (session secret changed?)"
        )
        await _close(store, email, record, code="decrypt_failed")
        return None
    return PendingCredentials(email=email, username=username, password=password)


async def mark_sent(store: KVStore, email: str) -> None:
    email = normalise_email(email)
    record = await store.hget(FAILURES_KEY, email)
    if isinstance(record, dict):
        await _close(store, email, record, code="sent", status="sent")


async def discard_pending(store: KVStore, email: str, *, code: str) -> None:
    """Close a pending record without sending (e.g. the account was removed)."""
    email = normalise_email(email)
    record = await store.hget(FAILURES_KEY, email)
    if isinstance(record, dict) and record.get("status") == "pending":
        await _close(store, email, record, code=code)


async def mark_retry_failed(store: KVStore, email: str) -> None:
    email = normalise_email(email)
    record = await store.hget(FAILURES_KEY, email)
    if isinstance(record, dict):
        attempts = record.get("attempts")
        updated = {
            **record,
            "attempts": (attempts if isinstance(attempts, int) else 0) + 1,
            "updatedAt": now_iso(),
            "lastErrorCode": "delivery_failed",
        }
        await store.hset(FAILURES_KEY, email, updated)


async def _close(
    store: KVStore,
    email: str,
    record: dict[str, JSONValue],
    *,
    code: str,
    status: str = "expired",
) -> None:
    closed = {k: v for k, v in record.items() if k != "passwordEncrypted"}
    closed.update(status=status, updatedAt=now_iso(), lastErrorCode=code)
    await store.hset(FAILURES_KEY, email, closed)
