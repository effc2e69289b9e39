"""Engine settings, on real databases."""

import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from optledger.storage.engine import (
    MissingDirectory,
    UnsafeDatabaseSetting,
    UnsupportedDatabase,
    database_ready,
    for_reading,
    for_writing,
    make_engine,
)
from optledger.storage.tables import tenants


def _add_tenant(connection: Connection, name: str) -> None:
    connection.execute(
        tenants.insert(),
        {
            "name": name,
            "default_region": "GB",
            "default_locale": "en-GB",
            "grace_period": timedelta(days=1),
            "created_at": datetime(2025, 1, 1),  # noqa: DTZ001 - the columns hold naive UTC
        },
    )


def _tenant_names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(tenants.select().order_by(tenants.c.name))
        return [row.name for row in rows]


def test_sqlite_pragmas_on_a_fresh_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        with engine.connect() as connection:
            values = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
    finally:
        engine.dispose()
    assert values == ["wal", 2, 1, 5000]


def test_sqlite_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0
            modes = {
                name: stat.S_IMODE((tmp_path / name).stat().st_mode)
                for name in ("private.db", "private.db-wal", "private.db-shm")
            }
    finally:
        engine.dispose()
    assert modes == {"private.db": 0o600, "private.db-wal": 0o600, "private.db-shm": 0o600}


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert database_ready(engine) is True
    finally:
        engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there.db"
    with pytest.raises(MissingDirectory, match=f"the database's directory {tmp_path}/not does"):
        make_engine(f"sqlite:///{path}")
    assert not (tmp_path / "not").exists()


def test_errors_never_carry_statement_parameters(engine: Engine) -> None:
    """SQLAlchemy's part of an error message leaves the parameters out. (A database's own
    message may still quote a value, as PostgreSQL's constraint errors do: no error
    message is ever logged or answered, see the doors.)"""
    secret = "ann.secret@example.com"
    with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        connection.execute(text("SELECT :value FROM no_such_table"), {"value": secret})
    assert secret not in str(raised.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sqlite_in_memory_is_refused(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match="needs a database file"):
        make_engine(url)


def test_other_backends_are_refused_without_echoing_the_url() -> None:
    with pytest.raises(UnsupportedDatabase) as caught:
        make_engine("mysql://user:secret@localhost/db")
    assert str(caught.value) == "unsupported database backend 'mysql': use sqlite or postgresql"


def test_bare_postgresql_url_gets_psycopg() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_unreachable_database_is_not_ready() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        assert database_ready(engine) is False
    finally:
        engine.dispose()


def test_database_ready(engine: Engine) -> None:
    assert database_ready(engine) is True


def test_savepoint_rolls_back_alone(engine: Engine) -> None:
    with for_writing(engine.connect()) as connection, connection.begin():
        _add_tenant(connection, "kept")
        savepoint = connection.begin_nested()
        _add_tenant(connection, "undone")
        savepoint.rollback()
        savepoint = connection.begin_nested()
        _add_tenant(connection, "released")
        savepoint.commit()
    assert _tenant_names(engine) == ["kept", "released"]


def test_rollback_undoes_released_savepoints(engine: Engine) -> None:
    """Under the sqlite3 driver's legacy transaction control this row would survive."""
    with for_writing(engine.connect()) as connection:
        transaction = connection.begin()
        savepoint = connection.begin_nested()
        _add_tenant(connection, "released")
        savepoint.commit()
        transaction.rollback()
    assert _tenant_names(engine) == []


def test_reading_connection_cannot_write(engine: Engine) -> None:
    with (
        for_reading(engine.connect()) as connection,
        connection.begin(),
        pytest.raises(DBAPIError),
    ):
        _add_tenant(connection, "sneaky")
    assert _tenant_names(engine) == []


def test_connection_writes_again_after_reading(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with for_reading(engine.connect()) as connection, connection.begin():
            assert connection.execute(tenants.select()).all() == []
        with for_writing(engine.connect()) as connection, connection.begin():
            _add_tenant(connection, "after-read")
        with engine.begin() as connection:
            _add_tenant(connection, "plain")
        assert _tenant_names(engine) == ["after-read", "plain"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_without_synchronous_commit_is_refused(postgres_server_url: str) -> None:
    engine = make_engine(f"{postgres_server_url}?options=-csynchronous_commit%3Doff")
    try:
        with pytest.raises(UnsafeDatabaseSetting, match="synchronous_commit is 'off'"):
            engine.connect()
        assert database_ready(engine) is False
    finally:
        engine.dispose()
