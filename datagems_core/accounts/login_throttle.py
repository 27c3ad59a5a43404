"""Failed-login throttling that an attacker cannot turn against the account's owner.

Three counters, each a sliding window of `DATAGEMS_LOGIN_WINDOW_SECONDS`:

* per (username, address): `DATAGEMS_LOGIN_MAX_FAILURES` guesses at one account from one place;
* per address: `DATAGEMS_LOGIN_MAX_FAILURES_PER_ADDRESS` guesses from one place at any account;
* per username, across addresses: no lockout, only a short delay between guesses once the
  account has had more than `DATAGEMS_LOGIN_MAX_FAILURES` failures, doubling with each one
  (1 s, 2 s, 4 s ...) up to `DATAGEMS_LOGIN_USER_DELAY_MAX_SECONDS`. An address with no failed
  sign-in in the window skips it, so someone who knows a username cannot keep its owner out.

Every attempt is logged *before* the password is checked and counts while it runs, so a burst
of parallel guesses is held to the limits too. A refusal says when to try again (Retry-After
and the message). A successful sign-in removes its own entries and clears the pair's failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from datagems_core.accounts import rate_limits
from datagems_core.accounts.rate_limits import Limit
from datagems_core.clock import now_ms
from datagems_core.config.settings import Settings
from datagems_core.errors import RateLimited
from datagems_core.store.base import KVStore


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    address: str
    pair_entry: str
    address_entry: str
    user_entry: str


@dataclass(frozen=True)
class _Limits:
    pair: Limit
    address: Limit
    user: Limit


def _limits(settings: Settings) -> _Limits:
    window = settings.login_window_seconds
    return _Limits(
        pair=Limit("login:pair", settings.login_max_failures, window),
        address=Limit("login:ip", settings.login_max_failures_per_address, window),
        user=Limit("login:user", settings.login_max_failures, window),
    )


def _refused(retry_after: int) -> RateLimited:
    return RateLimited(
        f"Too many failed sign-in attempts. Try again in {wait_text(retry_after)}.",
        retry_after=retry_after,
    )


def wait_text(seconds: int) -> str:
    """`45 seconds`, `15 minutes`, `3 hours`: how long Retry-After asks to wait, for people."""
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


def user_delay_seconds(settings: Settings, failures: int) -> int:
    """The wait between guesses at an account with `failures` in the window (0 = none)."""
    extra = failures - settings.login_max_failures
    if extra <= 0:
        return 0
    return min(int(2 ** min(extra - 1, 30)), settings.login_user_delay_max_seconds)


async def begin_login(
    store: KVStore, settings: Settings, *, username: str, address: str
) -> LoginAttempt:
    """Log the attempt; RateLimited (with retry-after) when a limit is used up."""
    limits = _limits(settings)
    subject = username.strip().lower()
    pair = f"{subject}|{address}"
    attempt = LoginAttempt(
        username=subject,
        address=address,
        pair_entry=await rate_limits.record_attempt(store, limits.pair, pair),
        address_entry=await rate_limits.record_attempt(store, limits.address, address),
        user_entry=await rate_limits.record_attempt(store, limits.user, subject),
    )
    for limit, who in ((limits.pair, pair), (limits.address, address)):
        count = await rate_limits.count_attempts(store, limit, who)
        if count.attempts > limit.max_attempts:
            await _forget_user_entry(store, limits, attempt)
            raise _refused(count.retry_after)
    address_count = await rate_limits.count_attempts(store, limits.address, address)
    if address_count.attempts <= 1:
        return attempt  # this address has not been failing: no username-wide delay
    stamps = await rate_limits.attempt_stamps(store, limits.user, subject)
    earlier = sorted(stamps)[:-1]  # without this attempt (the newest)
    delay = user_delay_seconds(settings, len(earlier))
    if delay and earlier:
        wait_ms = earlier[-1] + delay * 1000 - now_ms()
        if wait_ms > 0:
            # A refused guess is not a failure of the account: it does not lengthen the delay.
            await _forget_user_entry(store, limits, attempt)
            raise _refused(max(1, math.ceil(wait_ms / 1000)))
    return attempt


async def _forget_user_entry(store: KVStore, limits: _Limits, attempt: LoginAttempt) -> None:
    await rate_limits.forget_attempt(store, limits.user, attempt.username, attempt.user_entry)


async def login_succeeded(store: KVStore, settings: Settings, attempt: LoginAttempt) -> None:
    limits = _limits(settings)
    await rate_limits.clear_attempts(store, limits.pair, f"{attempt.username}|{attempt.address}")
    await rate_limits.forget_attempt(store, limits.address, attempt.address, attempt.address_entry)
    await _forget_user_entry(store, limits, attempt)
