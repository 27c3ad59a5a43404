"""One PostgreSQL connection pool shared by the store, the file store and the leases of a process.

psycopg 3's synchronous pool runs on a small thread pool, as SqliteStore does: the event loop
never blocks on the network, and the same store works from any event loop or thread (a Prefect
flow and its tasks, the API, a CLI), which a pool bound to one loop would not. Connections are in
autocommit mode, so every statement is its own transaction unless a caller opens one.

A connection that fails (the server restarted, the network dropped) is retried with exponential
backoff, then reported with the host, database and user, never the password, and what to check.
Every write here is idempotent (an upsert, a delete, an insert of content-addressed chunks), so a
retry after a lost answer cannot double anything.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from datagems_core.errors import ConfigError, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

URL_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 10
_MAX_BACKOFF_SECONDS = 8.0


def describe_url(url: str) -> str:
    """`host:port/db as user` from a PostgreSQL URL: what an error may show (no password)."""
    try:
        parts = pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unparseable DATAGEMS_DATABASE_URL)"
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or 5432)
    dbname = str(parts.get("dbname") or parts.get("user") or "")
    user = str(parts.get("user") or "")
    return f"{host}:{port}/{dbname}" + (f" as {user}" if user else "")


def check_url(url: str) -> None:
    """Refuse a DATAGEMS_DATABASE_URL that is not a PostgreSQL URL, saying what it should be."""
    if not url.startswith(URL_SCHEMES):
        raise ConfigError(
            "DATAGEMS_DATABASE_URL must look like postgresql://user:password@host:5432/dbname"
        )
    try:
        pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigError(
            "DATAGEMS_DATABASE_URL cannot be parsed; use postgresql://user:password@host:5432/"
            "dbname with special characters in the password percent-encoded"
        ) from None


_SHARED: dict[tuple[str, int, int], PostgresPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(url: str, *, max_size: int, retries: int) -> PostgresPool:
    """The process' pool for `url`: the store, the file store and the leases of one process
    share it, so a flow run holds one set of connections, not one per client."""
    key = (url, max_size, retries)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
    if pool is not None:
        try:
            return pool.share()
        except StoreError:
            pass  # closed meanwhile: open a new one
    pool = PostgresPool(url=url, max_size=max_size, retries=retries)
    with _SHARED_LOCK:
        _SHARED.setdefault(key, pool)
    return pool


def _password(url: str) -> str:
    try:
        return str(pg_conninfo.conninfo_to_dict(url).get("password") or "")
    except psycopg.ProgrammingError:
        return ""


class PostgresPool:
    """A psycopg connection pool, its threads, and the retry and error policy around them.

    >>> pool = PostgresPool(url="postgresql://datagems:secret@db:5432/datagems")
    >>> rows = await pool.run("reading", lambda db: db.execute("SELECT 1").fetchall())
    >>> await pool.close()
    """

    def __init__(
        self,
        *,
        url: str,
        max_size: int = 10,
        retries: int = 5,
        backoff_seconds: float = 0.5,
        connection_wait_seconds: float = 10.0,
    ) -> None:
        check_url(url)
        self.where = describe_url(url)
        self.name = f"PostgreSQL at {self.where}"
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._url = url
        self._secret = _password(url)
        self._wait = connection_wait_seconds
        self._closed = False
        self._users = 1
        self.first_contact()
        self._pool: ConnectionPool[psycopg.Connection[tuple[object, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "datagems",
            },
            open=False,
            name="datagems",
        )
        self._pool.open(wait=False)
        self._executor = ThreadPoolExecutor(
            max_workers=max_size, thread_name_prefix="datagems-postgres"
        )

    def first_contact(self) -> None:
        """Connect once now, so start-up fails at once with the server's own reason."""
        try:
            with psycopg.connect(
                self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
            ) as db:
                db.execute("SELECT 1")
        except psycopg.Error as exc:
            raise StoreError(self._unreachable("cannot connect", exc)) from None

    def call(self, action: str, work: Callable[[psycopg.Connection[tuple[object, ...]]], T]) -> T:
        """Run `work` on a pooled connection in this thread, retrying connection failures."""
        if self._closed:
            raise StoreError(f"{self.name} is closed ({action}); open a new store")
        for attempt in range(self.retries + 1):
            try:
                with self._pool.connection(timeout=self._wait) as db:
                    return work(db)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if self._closed:
                    raise StoreError(f"{self.name} is closed ({action})") from None
                if attempt == self.retries:
                    raise StoreError(self._unreachable(f"failed {action}", exc)) from None
                delay = min(self.backoff_seconds * 2**attempt, _MAX_BACKOFF_SECONDS)
                logger.warning(
                    "%s failed %s (%s); retry %d of %d in %.1fs",
                    self.name,
                    action,
                    self._clean(str(exc)) or "no answer",
                    attempt + 1,
                    self.retries,
                    delay,
                )
                time.sleep(delay)
            except psycopg.Error as exc:
                raise StoreError(f"{self.name} failed {action}: {self._clean(str(exc))}") from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def run(
        self, action: str, work: Callable[[psycopg.Connection[tuple[object, ...]]], T]
    ) -> T:
        """`call` on the pool's threads, off the event loop."""
        if self._closed:
            raise StoreError(f"{self.name} is closed ({action}); open a new store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, action, work)

    def share(self) -> PostgresPool:
        """This pool for one more user; each user's `close` releases it, the last one closes it."""
        with _SHARED_LOCK:
            if self._closed:
                raise StoreError(f"{self.name} is closed; open a new store")
            self._users += 1
        return self

    async def close(self) -> None:
        with _SHARED_LOCK:
            if self._closed:
                return
            self._users -= 1
            if self._users > 0:
                return
            self._closed = True
            for key, pool in list(_SHARED.items()):
                if pool is self:
                    del _SHARED[key]
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        await asyncio.to_thread(self._pool.close)

    def _unreachable(self, what: str, exc: BaseException) -> str:
        reason = self._clean(str(exc)).strip() or type(exc).__name__
        if isinstance(exc, PoolTimeout):
            reason = self._diagnose() or reason
        return (
            f"{self.name} {what}: {reason}; check that the PostgreSQL server is running and "
            "reachable from this machine (host, port, firewall, listen_addresses, pg_hba.conf) "
            "and that the user, password and database in DATAGEMS_DATABASE_URL are right"
        )

    def _diagnose(self) -> str:
        """Why a fresh connection fails now: a pool timeout alone does not say."""
        try:
            with psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS):
                return ""
        except psycopg.Error as exc:
            return self._clean(str(exc)).strip()

    def _clean(self, text: str) -> str:
        return one_line(text, secret=self._secret)


def one_line(text: str, *, secret: str = "") -> str:
    """libpq's multi-line message as one line, with the password (if it shows) masked."""
    text = " ".join(text.split())
    return text.replace(secret, "***") if secret else text
