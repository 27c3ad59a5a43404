"""Self-service sign-up: generated credentials sent by email, as the TS DataGems does (seed 5.4-5.5).

Fixed against the seed: the rate-limit counters do not lose updates when requests race (see
rate_limits), two racing sign-ups with one email cannot both succeed (the first claim wins), and
the email of a removed account can register again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from datagems_core.accounts import rate_limits
from datagems_core.accounts import undelivered_mail as registration_failures
from datagems_core.accounts.mailer import MailConfig, mail_config, send_mail
from datagems_core.accounts.rate_limits import Limit
from datagems_core.accounts.user_directory import (
    add_user_to_index,
    normalise_email,
    username_for_email,
)
from datagems_core.accounts.users import create_user, get_user
from datagems_core.clock import now_ms
from datagems_core.config.settings import Settings
from datagems_core.errors import Conflict, MailError, ServiceUnavailable
from datagems_core.store.base import KVStore

log = logging.getLogger(__name__)

RESEND_MESSAGE: Final = "If credentials are eligible for resend, they were sent."
MAIL_FAILED_MESSAGE: Final = (
    "Account created, but email delivery failed. Use the resend endpoint to retry."
)
MAIL_SUBJECT: Final = "Your DataGems account credentials"
_CLAIM_SECONDS: Final = 120  # an abandoned claim (a crashed request) stops counting after this
_CLAIM_WAIT_SECONDS: Final = 15.0
_CREATE_ATTEMPTS: Final = 3


class RegistrationMailFailed(MailError):
    """The account exists but its credentials mail did not go out; a resend can retry."""


@dataclass(frozen=True)
class Registration:
    username: str
    email: str


def _limits(settings: Settings, kind: str) -> tuple[Limit, Limit]:
    message = (
        f"Too many {'resend' if kind == 'resend' else 'registration'} attempts. Try again later."
    )
    if kind == "resend":
        window, per_ip, per_email = (
            settings.resend_window_seconds,
            settings.resend_max_per_ip,
            settings.resend_max_per_email,
        )
    else:
        window, per_ip, per_email = (
            settings.register_window_seconds,
            settings.register_max_per_ip,
            settings.register_max_per_email,
        )
    prefix = "register:resend" if kind == "resend" else "register"
    return (
        Limit(f"{prefix}:ip", per_ip, window, fixed_window=True, message=message),
        Limit(f"{prefix}:email", per_email, window, fixed_window=True, message=message),
    )


async def _check_limits(
    store: KVStore, settings: Settings, *, kind: str, address: str, email: str
) -> None:
    by_ip, by_email = _limits(settings, kind)
    await rate_limits.hit(store, by_ip, address)  # over the IP limit: the email is not counted
    await rate_limits.hit(store, by_email, email)


def _require_mail(settings: Settings) -> MailConfig:
    config = mail_config(settings)
    if config is None:
        raise ServiceUnavailable(
            "Email delivery is not configured",
            details={
                "fix": "set DATAGEN_SMTP_HOST, DATAGEN_SMTP_USER, DATAGEN_SMTP_PASS, DATAGEN_SMTP_FROM"
            },
        )
    return config


def generate_username(email: str) -> str:
    """The email's local part as [a-z0-9_], plus `_` and 4 hex digits (the seed's rule)."""
    local = normalise_email(email).split("@", 1)[0]
    base = re.sub(r"[^a-z0-9_]", "_", local).strip("_") or "user"
    return f"{base[:59]}_{secrets.token_hex(2)}"


def generate_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, as the seed's randomBytes(12) base64url


def credentials_mail(settings: Settings, *, name: str, username: str, password: str) -> str:
    return (
        f"Hello {name},\n\n"
        "Welcome to DataGems. Your account is ready:\n\n"
        f"  Username: {username}\n"
        f"  Password: {password}\n\n"
        f"Sign in at {settings.app_url} and change your password if needed\n"
        "(POST /api/auth/password, or the account page).\n"
    )


async def register(
    store: KVStore, settings: Settings, *, name: str, email: str, country: str, address: str
) -> Registration:
    """Create an account for `email` and mail its credentials.

    Raises RateLimited, ServiceUnavailable (no mail configured; nothing created), Conflict (email
    taken) or RegistrationMailFailed (account created, mail not sent; a resend can retry).
    """
    email = normalise_email(email)
    await _check_limits(store, settings, kind="register", address=address, email=email)
    config = _require_mail(settings)
    claims_key = f"datagen:register:claims:{quote(email, safe='@._-')}"
    claim = await _claim(store, claims_key)
    try:
        if await username_for_email(store, settings, email) is not None:
            raise Conflict("Email already registered")
        password = generate_password()
        username = await _create_account(
            store, settings, email=email, password=password, name=name, country=country
        )
        await add_user_to_index(store, username=username, email=email, name=name, country=country)
    finally:
        await store.hset(claims_key, claim, None)
    body = credentials_mail(settings, name=name, username=username, password=password)
    try:
        await send_mail(config, to=email, subject=MAIL_SUBJECT, body=body)
    except MailError as exc:
        log.warning("credentials mail for new user %s failed: %s", username, exc.message)
        await registration_failures.record_mail_failure(
            store, settings, email=email, username=username, password=password
        )
        raise RegistrationMailFailed(MAIL_FAILED_MESSAGE, details={"canResend": True}) from exc
    return Registration(username=username, email=email)


async def resend_credentials(
    store: KVStore, settings: Settings, *, email: str, address: str
) -> str:
    """Mail pending credentials again; the same answer whether or not any were pending."""
    email = normalise_email(email)
    await _check_limits(store, settings, kind="resend", address=address, email=email)
    config = _require_mail(settings)
    pending = await registration_failures.read_for_resend(store, settings, email)
    if pending is None:
        return RESEND_MESSAGE
    user = await get_user(store, settings, pending.username)
    if user is None or user.is_deleted:
        await registration_failures.discard_pending(store, email, code="account_removed")
        return RESEND_MESSAGE
    name = user.metadata.get("name")
    body = credentials_mail(
        settings,
        name=name if isinstance(name, str) else email,
        username=pending.username,
        password=pending.password,
    )
    try:
        await send_mail(config, to=email, subject=MAIL_SUBJECT, body=body)
    except MailError as exc:
        log.warning("resend of credentials for %s failed: %s", pending.username, exc.message)
        await registration_failures.mark_retry_failed(store, email)
        raise MailError("Email delivery failed. Try again later.") from exc
    await registration_failures.mark_sent(store, email)
    return RESEND_MESSAGE


async def _claim(store: KVStore, claims_key: str) -> str:
    """Hold the email's sign-up claim: only one request at a time may create its account.

    Write a claim, then read them all: whoever sees no other claim holds it. Two requests can
    never both hold it (the second to write sees the first's claim, which stays until the
    holder has written the email index), and when each sees the other both step back and try
    again after a random pause, so one of them soon gets through.
    """
    deadline = time.monotonic() + _CLAIM_WAIT_SECONDS
    while True:
        claim = f"{now_ms():013d}:{secrets.token_hex(6)}"
        await store.hset(claims_key, claim, now_ms())
        oldest = now_ms() - _CLAIM_SECONDS * 1000
        others = False
        for name, stamp in (await store.hgetall(claims_key)).items():
            if name == claim:
                continue
            if isinstance(stamp, int) and stamp >= oldest:
                others = True
            else:
                await store.hset(claims_key, name, None)  # left by a crashed request
        if not others:
            return claim
        await store.hset(claims_key, claim, None)
        if time.monotonic() > deadline:
            raise Conflict("A registration for this email is in progress. Try again shortly.")
        await asyncio.sleep(random.uniform(0.05, 0.25))


async def _create_account(
    store: KVStore, settings: Settings, *, email: str, password: str, name: str, country: str
) -> str:
    for attempt in range(_CREATE_ATTEMPTS):
        username = generate_username(email)
        try:
            await create_user(
                store,
                settings,
                username,
                password,
                role="user",
                metadata={"name": name, "email": email, "country": country},
            )
        except Conflict:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            continue
        return username
    raise Conflict("could not find a free username; try again")
