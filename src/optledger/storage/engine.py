"""Engines with durable settings for SQLite and PostgreSQL.

SQLite (`sqlite:////abs/path.db`) is configured on every new DBAPI connection for
durability and concurrency: WAL journal (readers never block the writer), synchronous=FULL
(a commit is on disk before it returns), foreign keys enforced, and a 5 s busy timeout.
The file is created readable by its owner alone (0600; SQLite gives its -wal and -shm
files the same mode), in a directory that must exist: a mistyped path is an error, never
a new empty ledger somewhere else.

Python's sqlite3 driver (before 3.12) does its own, non-standard transaction control: it
emits no BEGIN before SELECTs or SAVEPOINTs, which breaks repeatable reads and savepoints.
Following SQLAlchemy's documented recipe, the driver's control is switched off
(`isolation_level = None`) and the engine emits BEGIN itself in the "begin" event. Which
BEGIN is chosen by `for_writing` and `for_reading`:

- writing: `BEGIN IMMEDIATE`, so the write lock is taken up front and a transaction never
  fails half-way with "database is locked" when it tries to upgrade a read lock; it is
  attempted with no busy timeout, because the writer waits for the lock itself
  (`write_turns`), and answers `SQLITE_BUSY` at once when another process holds it;
- reading: `BEGIN` with `PRAGMA query_only` on, so a read transaction cannot write.

PostgreSQL (`postgresql+psycopg://…`; a bare `postgresql://` gets the psycopg driver) uses
a normal connection pool. Every new connection must have `synchronous_commit` other than
`off`, otherwise an acknowledged opt-out could be lost in a crash; read transactions are
`READ ONLY` through psycopg, without an extra round trip.

Both engines hide statement parameters from SQLAlchemy's error messages
(`hide_parameters`): they hold addresses and tokens, and an error message can reach a log.
"""

import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "MissingDirectory",
    "UnsafeDatabaseSetting",
    "UnsupportedDatabase",
    "database_ready",
    "for_reading",
    "for_writing",
    "is_lock_conflict",
    "is_sqlite_busy",
    "make_engine",
    "sqlite_file",
]

SQLITE_BUSY_TIMEOUT_MS: Final = 5000
SQLITE_PRAGMAS: Final = ("PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")
"""Set on every new connection, after the busy timeout and WAL mode."""

_BEGIN_OPTION: Final = "optledger_begin"
_QUERY_ONLY_KEY: Final = "optledger_query_only"
_BUSY_TIMEOUT_KEY: Final = "optledger_busy_timeout"
_LOCK_CONFLICTS: Final = frozenset({"40001", "40P01", "55P03"})
"""PostgreSQL's serialization_failure, deadlock_detected and lock_not_available: the
transaction lost a race with another one and may simply run again."""
_WRITE: Final = "write"
_READ: Final = "read"


class UnsupportedDatabase(ValueError):
    """The URL names a database or driver that optledger does not run on."""


class MissingDirectory(ValueError):
    """The SQLite file's directory does not exist."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"the database's directory {directory} does not exist")
        self.directory = directory


class UnsafeDatabaseSetting(RuntimeError):
    """The database is configured so that acknowledged writes could be lost, or so that
    the settings optledger relies on cannot take effect."""


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine for `url`, a SQLite file or a PostgreSQL database.

    `pool_size` and `max_overflow` size the pool of reader connections (plus the one
    connection the writer keeps).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size, max_overflow=max_overflow)
    if backend == "postgresql":
        return _postgresql_engine(parsed, pool_size=pool_size, max_overflow=max_overflow)
    raise UnsupportedDatabase(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def database_ready(engine: Engine) -> bool:
    """Whether the database answers a trivial query (for readiness probes)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    except (SQLAlchemyError, UnsafeDatabaseSetting):
        return False
    return True


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite engine; None for PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return None
    return Path(engine.url.database or "")


def is_sqlite_busy(error: BaseException) -> bool:
    """Whether `error` is SQLite saying another connection holds the lock it needs."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(cause, sqlite3.OperationalError) and cause.sqlite_errorcode in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


def is_lock_conflict(error: BaseException) -> bool:
    """Whether `error` means the work lost a race for a lock with another transaction
    (SQLite busy; a PostgreSQL deadlock or serialization failure), so that running it
    again in a new transaction is the remedy."""
    if is_sqlite_busy(error):
        return True
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return sqlstate in _LOCK_CONFLICTS


def for_writing(connection: Connection) -> Connection:
    """`connection`, set so that its transactions take the write lock at BEGIN (SQLite)."""
    return connection.execution_options(**{_BEGIN_OPTION: _WRITE})


def for_reading(connection: Connection) -> Connection:
    """`connection`, set so that its transactions are read-only."""
    if connection.dialect.name == "postgresql":
        return connection.execution_options(postgresql_readonly=True)
    return connection.execution_options(**{_BEGIN_OPTION: _READ})


def _sqlite_engine(url: URL, *, pool_size: int, max_overflow: int) -> Engine:
    if url.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise UnsupportedDatabase("only the standard sqlite3 driver is supported for SQLite")
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise UnsupportedDatabase(
            "SQLite needs a database file: an in-memory database is not shared between "
            "the writer and the readers"
        )
    _create_private_file(Path(database))
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, hide_parameters=True
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _create_private_file(path: Path) -> None:
    """Create the database file empty and 0600 unless it exists (SQLite then writes its
    header into it, and creates -wal and -shm with the same mode)."""
    if not path.parent.is_dir():
        raise MissingDirectory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 driver; `_sqlite_on_begin` emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _ensure_wal(cursor)
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _ensure_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode, which then persists in the file.

    Only the first connections to a new file switch it. The switch needs an exclusive
    lock, and SQLite answers "busy" at once, without waiting, when another connection is
    inside a write transaction; so the mode is read first and the switch retried.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode != "wal":
            raise UnsafeDatabaseSetting(
                "SQLite cannot put this database file in WAL mode (is it on a network file system?)"
            )


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION)
    query_only = mode == _READ
    busy_timeout = 0 if mode == _WRITE else SQLITE_BUSY_TIMEOUT_MS
    # Both pragmas last for the DBAPI connection's life, so they are set only on change.
    if connection.info.get(_QUERY_ONLY_KEY, False) != query_only:
        pragma = "PRAGMA query_only=ON" if query_only else "PRAGMA query_only=OFF"
        connection.exec_driver_sql(pragma)
        connection.info[_QUERY_ONLY_KEY] = query_only
    if connection.info.get(_BUSY_TIMEOUT_KEY, SQLITE_BUSY_TIMEOUT_MS) != busy_timeout:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={busy_timeout}")
        connection.info[_BUSY_TIMEOUT_KEY] = busy_timeout
    if mode == _WRITE:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # A deferred BEGIN takes no lock and cannot fail as busy, so it goes to the driver
        # directly: through `exec_driver_sql` it cost a third of a one-row read.
        connection.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]


def _postgresql_engine(url: URL, *, pool_size: int, max_overflow: int) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise UnsupportedDatabase("only the psycopg driver is supported for PostgreSQL")
    # No pre-ping: it would cost a round trip per read. After a server restart the first
    # failing connection invalidates the whole pool, so one request fails, not many.
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, hide_parameters=True
    )
    event.listen(engine, "connect", _postgresql_on_connect)
    return engine


def _postgresql_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SHOW synchronous_commit")
        (setting,) = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()
    if setting == "off":
        raise UnsafeDatabaseSetting(
            "PostgreSQL synchronous_commit is 'off', so acknowledged writes could be lost "
            "in a crash; set it to 'on' for optledger's database or role"
        )
