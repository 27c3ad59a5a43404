"""Which database `datagems server`/`up` give the Prefect server: SQLite, an operator's URL, or a
database of Prefect's own on DataGems' PostgreSQL server (created on the real test server)."""

from __future__ import annotations

import psycopg
import pytest

from datagems_core.errors import ConfigError, ServiceUnavailable
from deployments.prefect_database import (
    CONNECTION_URL,
    POSTGRES_TUNING,
    asyncpg_url,
    prefect_database_environment,
)
from deployments.prefect_server import server_environment
from tests.support.postgres import PASSWORD
from tests.support.processes import free_port


def test_sqlite_stays_the_default_without_any_database_url(tmp_path, monkeypatch):
    monkeypatch.delenv(CONNECTION_URL, raising=False)
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    env = server_environment(data_dir=tmp_path, host="127.0.0.1", port=4200)
    assert env[CONNECTION_URL] == f"sqlite+aiosqlite:///{tmp_path / 'prefect' / 'prefect.db'}"
    assert not set(POSTGRES_TUNING) & set(env)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/prefect", "postgresql+asyncpg://u:p@db:5432/prefect"),
        ("postgres://u:p@db/prefect", "postgresql+asyncpg://u:p@db/prefect"),
        ("postgresql+asyncpg://u:p@db/prefect", "postgresql+asyncpg://u:p@db/prefect"),
    ],
)
def test_a_postgres_url_gets_the_asyncpg_driver_prefect_needs(given, expected):
    assert asyncpg_url(given) == expected


def test_a_url_prefect_cannot_use_is_refused_by_name():
    with pytest.raises(ConfigError, match=f"{CONNECTION_URL} must be a PostgreSQL URL"):
        asyncpg_url("mysql://u:p@db/prefect")


def test_an_operators_url_wins_and_gets_the_tuning_unless_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql://u:p@db/prefect")
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE", "3")
    env = server_environment(
        data_dir=tmp_path, host="127.0.0.1", port=4200, database_url="postgresql://x:y@other/z"
    )
    assert env[CONNECTION_URL] == "postgresql+asyncpg://u:p@db/prefect"
    assert env["PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE"] == "3"
    assert env["PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE"] == "200"
    assert int(env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"]) > 1


def test_datagems_database_url_alone_gives_prefect_a_database_of_its_own(
    postgres_server, monkeypatch
):
    monkeypatch.delenv(CONNECTION_URL, raising=False)
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    url = postgres_server.create_database("jobs_db")

    env = prefect_database_environment(url, {})
    again = prefect_database_environment(url, {})  # an existing database is used as it is

    prefect_url = postgres_server.url("jobs_db_prefect").replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    assert env[CONNECTION_URL] == again[CONNECTION_URL] == prefect_url
    assert {k: env[k] for k in POSTGRES_TUNING} == POSTGRES_TUNING
    with psycopg.connect(postgres_server.url()) as db:
        names = {name for (name,) in db.execute("SELECT datname FROM pg_database")}
    assert "jobs_db_prefect" in names


def test_a_user_who_may_not_create_databases_is_told_what_to_do(postgres_server):
    postgres_server.create_database("locked")
    with psycopg.connect(postgres_server.url(), autocommit=True) as db:
        db.execute("CREATE ROLE plain LOGIN PASSWORD 'plain-pw' NOCREATEDB")
    url = postgres_server.url("locked").replace(f"datagems_test:{PASSWORD}", "plain:plain-pw")
    with pytest.raises(ConfigError, match=r"may not create the Prefect database 'locked_prefect'"):
        prefect_database_environment(url, {})


def test_an_unreachable_server_is_named_without_the_password():
    url = f"postgresql://dg:{PASSWORD}@127.0.0.1:{free_port()}/jobs"
    with pytest.raises(
        ServiceUnavailable, match=r"PostgreSQL at 127\.0\.0\.1:\d+/jobs as dg"
    ) as caught:
        prefect_database_environment(url, {})
    assert PASSWORD not in str(caught.value)
