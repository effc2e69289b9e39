"""Migrations, on an empty SQLite file and an empty PostgreSQL database."""

import ast
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from optledger.storage import migrate
from optledger.storage.engine import make_engine
from optledger.storage.tables import metadata

AT = datetime(2026, 12, 3)  # noqa: DTZ001 - stored naive, as storage stores UTC
VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"


def test_upgrade_to_head_without_drift_and_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert migrate.check_drift(empty_database_url) == []

    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert versions.scalars().all() == ["0008"]
            names = inspect(connection).get_table_names()
    finally:
        engine.dispose()
    assert sorted(names) == sorted([*metadata.tables, "alembic_version"])


def test_head_is_the_scripts_head() -> None:
    """`migrate.HEAD`, which tells a database at head without Alembic, is the newest
    revision of the scripts."""
    scripts = ScriptDirectory.from_config(migrate._config(None))
    assert scripts.get_heads() == [migrate.HEAD]


def test_a_database_behind_head_is_migrated_and_one_at_head_is_not(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert not migrate._at_head(engine)  # no version table yet
        migrate.upgrade(engine)
        assert migrate._at_head(engine)
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0007")
        assert not migrate._at_head(engine)
        migrate.upgrade(engine)
        assert migrate._at_head(engine)
    finally:
        engine.dispose()


def test_check_drift_reports_a_difference(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_consent_events_address_id"))
        assert migrate.check_drift(engine) == ["add_index ix_consent_events_address_id"]
    finally:
        engine.dispose()


def test_concurrent_upgrades(empty_database_url: str) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(migrate.upgrade, [empty_database_url] * 3))
    assert results == [None, None, None]
    assert migrate.check_drift(empty_database_url) == []


def test_revisions_never_import_optledger() -> None:
    revisions = sorted(VERSIONS.glob("*.py"))
    assert [path.name for path in revisions] == [
        "0001_initial.py",
        "0002_idempotency_keys.py",
        "0003_tenant_pages.py",
        "0004_import_runs.py",
        "0005_idempotency_bound_to_keys.py",
        "0006_import_indexes.py",
        "0007_addresses_keyed_by_hash.py",
        "0008_suppressions_by_address.py",
    ]
    for path in revisions:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {
            name
            for node in ast.walk(tree)
            for name in (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
        }
        assert modules <= {"collections.abc", "datetime", "hashlib", "sqlalchemy", "alembic"}


def test_import_runs_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0003")
            assert "import_runs" not in inspect(connection).get_table_names()
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
    finally:
        engine.dispose()


def test_import_indexes_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0005")
            names = {i["name"] for i in inspect(connection).get_indexes("addresses")}
            assert sorted(n for n in names if n and n.startswith("ix_")) == [
                "ix_addresses_address_hash",
                "ix_addresses_contact_id",
            ]
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        with engine.connect() as connection:
            names = {i["name"] for i in inspect(connection).get_indexes("addresses")}
        assert sorted(n for n in names if n and n.startswith("ix_")) == ["ix_addresses_contact_id"]
    finally:
        engine.dispose()


def test_address_digests_become_hashes_and_back(empty_database_url: str) -> None:
    """0007 rewrites the addresses already stored: `value_digest` takes the address hash;
    downgrading puts the SHA-256 of each value back."""
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    sha = {value: hashlib.sha256(value.encode()).hexdigest() for value in ("a@x.org", "b@x.org")}
    digests = text("SELECT value, value_digest FROM addresses ORDER BY id")
    try:
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0006")
            connection.execute(
                metadata.tables["tenants"].insert(),
                {
                    "id": 1,
                    "name": "acme",
                    "default_region": "US",
                    "default_locale": "en",
                    "grace_period": timedelta(days=1),
                    "created_at": AT,
                },
            )
            connection.execute(
                metadata.tables["addresses"].insert(),
                [
                    {
                        "tenant_id": 1,
                        "channel": "email",
                        "value": value,
                        "value_digest": digest,
                        "address_hash": f"{n}" * 64,
                        "created_at": AT,
                    }
                    for n, (value, digest) in enumerate(sha.items())
                ],
            )
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        with engine.begin() as connection:
            assert connection.execute(digests).all() == [
                ("a@x.org", "0" * 64),
                ("b@x.org", "1" * 64),
            ]
            command.downgrade(migrate._config(connection), "0006")
            assert connection.execute(digests).all() == list(sha.items())
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_the_list_check_index_is_made_on_sqlite_only_and_undone(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    name = "ix_suppressions_tenant_id_channel_address_id_address_hash"
    try:
        on_sqlite = engine.dialect.name == "sqlite"
        with engine.connect() as connection:
            names = {i["name"] for i in inspect(connection).get_indexes("suppressions")}
        assert (name in names) is on_sqlite
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0007")
            names = {i["name"] for i in inspect(connection).get_indexes("suppressions")}
            assert name not in names
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        with engine.connect() as connection:
            names = {i["name"] for i in inspect(connection).get_indexes("suppressions")}
        assert (name in names) is on_sqlite
        if on_sqlite:
            with engine.begin() as connection:
                connection.execute(text(f"DROP INDEX {name}"))
            assert migrate.check_drift(engine) == [f"add_index {name}"]
    finally:
        engine.dispose()
