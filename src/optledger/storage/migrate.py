"""Schema migrations: upgrade a database to the newest revision, and check it for drift.

The Alembic scripts live in the package (`optledger/storage/migrations`); the Alembic
configuration is built here in code, so no alembic.ini is needed at run time.

An upgrade first reads the database's revision and does nothing more when it is at head,
so starting a command never waits for another process's writes (a running import). Only
a database behind head is migrated, in one transaction holding the write lock (SQLite
`BEGIN IMMEDIATE`, waited for up to `LOCK_WAIT`; PostgreSQL an advisory lock), so two
processes starting at once cannot both migrate: the second waits, then finds the
database at head.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Engine, RootTransaction, inspect, text
from sqlalchemy.exc import OperationalError

from optledger.storage.engine import for_writing, is_sqlite_busy, make_engine
from optledger.storage.tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "LOCK_WAIT", "SCRIPT_LOCATION", "check_drift", "upgrade"]

HEAD: Final = "0008"
"""The newest revision (a test holds it to the scripts' head). Whether a database is at it
is read without Alembic, which is imported only to migrate or compare: its imports took
about a tenth of a second of every command's start-up, a list check's above all."""

LOCK_WAIT: Final = 60.0
"""Seconds a migration waits for another process's SQLite write transaction."""

SCRIPT_LOCATION: Final = "optledger.storage:migrations"

_MIGRATION_LOCK: Final = 0x6F70_746C_6467_72
"""PostgreSQL advisory lock key of migrations ("optldgr")."""


def upgrade(engine_or_url: Engine | str) -> None:
    """Bring the database to the newest revision; a no-op when it is there already."""
    with _engine(engine_or_url) as engine:
        if _at_head(engine):
            return
        from alembic import command  # noqa: PLC0415 - see HEAD

        with for_writing(engine.connect()) as connection, _begin_waiting(connection):
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(_config(connection), "head")


def _at_head(engine: Engine) -> bool:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version"))
        return versions.scalars().all() == [HEAD]


def _begin_waiting(connection: Connection) -> RootTransaction:
    """A write transaction, waiting up to LOCK_WAIT for another process's lock."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            return connection.begin()
        except OperationalError as exc:
            if not is_sqlite_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def check_drift(engine_or_url: Engine | str) -> list[str]:
    """The differences between `tables.metadata` and the database; empty when none.

    Each entry names the operation that would bring the database in line with the
    tables, e.g. `add_index ix_consent_events_address_id`.
    """
    from alembic.autogenerate import compare_metadata  # noqa: PLC0415 - see HEAD
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    with _engine(engine_or_url) as engine, engine.connect() as connection:
        dialect = connection.dialect.name
        context = MigrationContext.configure(
            connection, opts={"include_object": partial(_of_dialect, dialect=dialect)}
        )
        return [_describe(diff) for diff in compare_metadata(context, metadata)]


def _of_dialect(item: Any, name: str | None, kind: str, *_: Any, dialect: str) -> bool:
    """Whether a table, column or index of the metadata is compared on `dialect`: an
    index made only on some dialects (`Index.ddl_if`) only on those."""
    del name
    condition = getattr(item, "_ddl_if", None) if kind == "index" else None
    return condition is None or condition.dialect in (None, dialect)


def _config(connection: Connection | None) -> "Config":
    from alembic.config import Config  # noqa: PLC0415 - see HEAD

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@contextmanager
def _engine(engine_or_url: Engine | str) -> Iterator[Engine]:
    """The given engine, or a temporary one for a URL (disposed afterwards)."""
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


def _describe(diff: Any) -> str:
    """One diff of `compare_metadata`: a tuple, or a list of tuples for column changes."""
    if isinstance(diff, list):
        return "; ".join(_describe(part) for part in diff)
    operation, *details = diff
    return " ".join([operation, *(_name(detail) for detail in details if detail is not None)])


def _name(detail: Any) -> str:
    if isinstance(detail, dict):
        return ",".join(f"{key}={value}" for key, value in sorted(detail.items()))
    name = getattr(detail, "name", None)
    table = getattr(detail, "table", None)
    if name is not None and table is not None and not hasattr(detail, "columns"):
        return f"{table.name}.{name}"
    if name is not None:
        return str(name)
    return str(detail)
