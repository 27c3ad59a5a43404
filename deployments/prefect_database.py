"""Which database the Prefect server DataGems starts uses, and Prefect's settings for it.

SQLite in the data dir by default. PostgreSQL when `PREFECT_SERVER_DATABASE_CONNECTION_URL` (or
Prefect's older `PREFECT_API_DATABASE_CONNECTION_URL`) names one, or, when only
`DATAGEMS_DATABASE_URL` is set, a database of Prefect's own next to DataGems' on that server,
`<db>_prefect`, created when missing: Prefect's migrations and vacuum then never touch DataGems'
tables. Prefect's server talks to PostgreSQL through asyncpg, so a plain `postgresql://` URL gets
the `postgresql+asyncpg://` driver.

On PostgreSQL the server also gets `POSTGRES_TUNING`, Prefect 3.8's settings for many task runs
(docs/running.md says why each); the environment still wins over every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import errors as pg_errors

from datagems_core.errors import ConfigError, ServiceUnavailable
from datagems_core.store.postgres_pool import CONNECT_TIMEOUT_SECONDS, describe_url, one_line

CONNECTION_URL = "PREFECT_SERVER_DATABASE_CONNECTION_URL"
_OLD_CONNECTION_URL = "PREFECT_API_DATABASE_CONNECTION_URL"
ASYNCPG_SCHEME = "postgresql+asyncpg"

POSTGRES_TUNING = {
    # Connections of the server's SQLAlchemy pool: the API, the task-run recorder, the event
    # persister and the loop services share it; Prefect's 5 + 10 queue up under many task runs.
    "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE": "10",
    "PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW": "20",
    # Events (several per task run) are inserted 200 at a time, not 20: one round trip each.
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    # A bulk insert of a batch may take longer than Prefect's 10 s statement timeout on a
    # loaded server; a timed-out batch is retried and then dropped.
    "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
}
"""Set only where the environment does not already set them."""


def prefect_database_environment(
    database_url: str | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """`PREFECT_SERVER_DATABASE_*` for the server process; empty for the SQLite default.

    Raises:
        ConfigError: the URL is not one Prefect can use, or its database cannot be created.
        ServiceUnavailable: the PostgreSQL server cannot be reached (host named, no password).
    """
    given = environ.get(CONNECTION_URL) or environ.get(_OLD_CONNECTION_URL)
    if given:
        if given.startswith("sqlite"):
            return {CONNECTION_URL: given}
        url = asyncpg_url(given)
    elif database_url:
        url = asyncpg_url(ensure_prefect_database(database_url))
    else:
        return {}
    tuning = {name: environ.get(name, value) for name, value in POSTGRES_TUNING.items()}
    return {CONNECTION_URL: url, **tuning}


def asyncpg_url(url: str) -> str:
    """`url` with the asyncpg driver Prefect's server needs."""
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    if scheme not in ("postgresql", "postgres", ASYNCPG_SCHEME):
        raise ConfigError(
            f"{CONNECTION_URL} must be a PostgreSQL URL (postgresql+asyncpg://user:password@"
            "host:5432/prefect) or a SQLite one, not a "
            f"{scheme or 'schemeless'} URL"
        )
    return f"{ASYNCPG_SCHEME}://{rest}"


def prefect_database_name(database_url: str) -> str:
    parts = pg_conninfo.conninfo_to_dict(database_url)
    return f"{parts.get('dbname') or parts.get('user') or 'datagems'}_prefect"


def ensure_prefect_database(database_url: str) -> str:
    """Create `<db>_prefect` on DataGems' server when missing; return its URL."""
    name = prefect_database_name(database_url)
    where = describe_url(database_url)
    try:
        with psycopg.connect(
            database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as db:
            found = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                db.execute(f"CREATE DATABASE {_identifier(name)}")
    except pg_errors.DuplicateDatabase:
        pass  # another process created it meanwhile
    except pg_errors.InsufficientPrivilege:
        raise ConfigError(
            f"the PostgreSQL user of DATAGEMS_DATABASE_URL ({where}) may not create the Prefect "
            f"database {name!r}: create it once (CREATE DATABASE {_identifier(name)} OWNER "
            f"<that user>) or set {CONNECTION_URL} to a database Prefect may use"
        ) from None
    except psycopg.Error as exc:
        secret = str(pg_conninfo.conninfo_to_dict(database_url).get("password") or "")
        raise ServiceUnavailable(
            f"PostgreSQL at {where} cannot be reached to prepare Prefect's database "
            f"{name!r}: {one_line(str(exc), secret=secret)}; check that the server is running and reachable and "
            "that DATAGEMS_DATABASE_URL's user, password and database are right"
        ) from None
    split = urlsplit(database_url)
    return urlunsplit(split._replace(path="/" + quote(name)))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
