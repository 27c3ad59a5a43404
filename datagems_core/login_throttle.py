"""Failed-login throttling per username and per client address (sliding windows).

Every login attempt is logged *before* the password is checked, and counts against both limits
while it runs: a burst of parallel guesses is held to the limit too, not only a sequence. A
successful login removes its own entry and clears the username's failures; a failed one stays
until it leaves the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from datagems_core import rate_limits
from datagems_core.errors import RateLimited
from datagems_core.rate_limits import Limit
from datagems_core.settings import Settings
from datagems_core.store.base import KVStore

_MESSAGE = "Too many failed sign-in attempts. Try again later."


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    address: str
    user_entry: str
    address_entry: str


def _limits(settings: Settings) -> tuple[Limit, Limit]:
    window = settings.login_window_seconds
    by_user = Limit("login:user", settings.login_max_failures, window, message=_MESSAGE)
    by_address = Limit(
        "login:ip", settings.login_max_failures_per_address, window, message=_MESSAGE
    )
    return by_user, by_address


async def begin_login(
    store: KVStore, settings: Settings, *, username: str, address: str
) -> LoginAttempt:
    """Log the attempt; RateLimited (with retry-after) when either limit is already used up."""
    by_user, by_address = _limits(settings)
    subject = username.strip().lower()
    user_entry = await rate_limits.record_attempt(store, by_user, subject)
    address_entry = await rate_limits.record_attempt(store, by_address, address)
    attempt = LoginAttempt(subject, address, user_entry, address_entry)
    for limit, who in ((by_user, subject), (by_address, address)):
        count = await rate_limits.count_attempts(store, limit, who)
        if count.attempts > limit.max_attempts:
            raise RateLimited(limit.message, retry_after=count.retry_after)
    return attempt


async def login_succeeded(store: KVStore, settings: Settings, attempt: LoginAttempt) -> None:
    by_user, by_address = _limits(settings)
    await rate_limits.clear_attempts(store, by_user, attempt.username)
    await rate_limits.forget_attempt(store, by_address, attempt.address, attempt.address_entry)
