"""Schema migrations: upgrade a database to the newest revision, and check it for drift.

The Alembic scripts live in the package (`optledger/storage/migrations`); the Alembic
configuration is built here in code, so no alembic.ini is needed at run time.

An upgrade runs in one transaction holding the write lock (SQLite `BEGIN IMMEDIATE`,
PostgreSQL an advisory lock), so two processes starting at once cannot both migrate: the
second waits, then finds the database at head.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text

from optledger.storage.engine import for_writing, make_engine
from optledger.storage.tables import metadata

__all__ = ["SCRIPT_LOCATION", "check_drift", "upgrade"]

SCRIPT_LOCATION: Final = "optledger.storage:migrations"

_MIGRATION_LOCK: Final = 0x6F70_746C_6467_72
"""PostgreSQL advisory lock key of migrations ("optldgr")."""


def upgrade(engine_or_url: Engine | str) -> None:
    """Bring the database to the newest revision; a no-op when it is there already."""
    with (
        _engine(engine_or_url) as engine,
        for_writing(engine.connect()) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(_config(connection), "head")


def check_drift(engine_or_url: Engine | str) -> list[str]:
    """The differences between `tables.metadata` and the database; empty when none.

    Each entry names the operation that would bring the database in line with the
    tables, e.g. `add_index ix_addresses_address_hash`.
    """
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return [_describe(diff) for diff in compare_metadata(context, metadata)]


def _config(connection: Connection) -> Config:
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
