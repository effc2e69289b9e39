"""Database fixtures.

Integration tests take `database_url`, `engine` or `transactions` and run twice: on a
fresh SQLite file, and on PostgreSQL when OPTLEDGER_TEST_POSTGRES_URL names a server
(e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`); without it the PostgreSQL
half is skipped.

PostgreSQL isolation: one database `optledger_test_<hex>` is created on that server for
the session, migrated, and dropped at the end; every test starts with all tables
truncated. Tests of migrations themselves take `empty_database_url`, which is an empty
SQLite file or a database created for that test alone.
"""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.engine import URL

from optledger.storage import migrate, tables
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions

POSTGRES_URL_VARIABLE = "OPTLEDGER_TEST_POSTGRES_URL"
POSTGRES_SKIPPED = "PostgreSQL half skipped: OPTLEDGER_TEST_POSTGRES_URL is not set"
POSTGRES_REQUIRED_VARIABLE = "OPTLEDGER_REQUIRE_POSTGRES"
"""Set to 1 (as scripts/test does) to fail instead of skipping the PostgreSQL half."""

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _postgres_server() -> URL:
    value = os.environ.get(POSTGRES_URL_VARIABLE)
    if not value:
        if os.environ.get(POSTGRES_REQUIRED_VARIABLE) == "1":
            pytest.fail(f"{POSTGRES_REQUIRED_VARIABLE}=1 but {POSTGRES_URL_VARIABLE} is not set")
        pytest.skip(POSTGRES_SKIPPED)
    return make_url(value)


def _url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@contextmanager
def _postgres_database(server: URL) -> Iterator[str]:
    """A new, empty database on `server`, dropped afterwards."""
    name = f"optledger_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield _url_text(server.set(database=name))
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def postgres_server_url() -> str:
    """The server named by OPTLEDGER_TEST_POSTGRES_URL (for tests that need no schema)."""
    return _url_text(_postgres_server())


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[tuple[str, Engine]]:
    """The session's migrated PostgreSQL database: its URL and an engine to clean it."""
    with _postgres_database(_postgres_server()) as url:
        migrate.upgrade(url)
        cleaner = make_engine(url, pool_size=1, max_overflow=0)
        try:
            yield url, cleaner
        finally:
            cleaner.dispose()


def truncate_all(engine: Engine) -> None:
    """Empty every table of the schema (PostgreSQL)."""
    names = ", ".join(f'"{table.name}"' for table in tables.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))


def sqlite_database(path: Path) -> str:
    """The URL of a new SQLite file at `path` with the current schema and no rows."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        tables.metadata.create_all(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with the current schema and no rows."""
    if request.param == "sqlite":
        return sqlite_database(tmp_path / "optledger.db")
    url, cleaner = request.getfixturevalue("postgres_session_database")
    truncate_all(cleaner)
    return str(url)


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any tables, for testing migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _postgres_database(_postgres_server()) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def transactions(engine: Engine) -> Iterator[SqlTransactions]:
    runner = SqlTransactions(engine)
    try:
        yield runner
    finally:
        runner.close()
