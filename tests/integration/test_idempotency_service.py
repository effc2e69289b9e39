"""IdempotencyService and SqlIdempotencyRepository over SQLite and PostgreSQL."""

import hashlib
import threading
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine

from optledger.domain.secrets import KeyedHasher
from optledger.outbound.spool import TemporaryFileSpools
from optledger.services import ServiceContext, Services
from optledger.services.idempotency import (
    RETENTION,
    IdempotencyService,
    StoredResponse,
    fingerprint,
    is_valid_key,
)
from optledger.storage import migrate, tables
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions
from tests.fakes import FakeKeyring, FrozenClock

FINGERPRINT = fingerprint(
    method="POST", path=b"/v1/unsubscribe", query=b"", body_sha256=hashlib.sha256(b"{}").digest()
)
OTHER = fingerprint(
    method="POST", path=b"/v1/unsubscribe", query=b"", body_sha256=hashlib.sha256(b"{ }").digest()
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def services(transactions, clock) -> Services:
    return Services.build(
        ServiceContext(
            transactions=transactions,
            clock=clock,
            hasher=KeyedHasher(b"s" * 32),
            keyring=FakeKeyring(),
            public_url="https://optout.example.com",
            spools=TemporaryFileSpools(),
        )
    )


@pytest.fixture
def idempotency(services) -> IdempotencyService:
    return services.idempotency


@pytest.fixture
def tenants(services) -> tuple[int, int]:
    return (
        services.tenants.create_tenant(name="acme").tenant.id,
        services.tenants.create_tenant(name="globex").tenant.id,
    )


def store(idempotency, tenant_id, key="key-1", *, fp=FINGERPRINT, status=201, body=b'{"a":1}'):
    return idempotency.store(
        tenant_id=tenant_id,
        key=key,
        fingerprint=fp,
        status=status,
        content_type="application/json",
        body=body,
    )


def test_store_then_find_round_trips(idempotency, tenants, clock):
    tenant_id, _ = tenants
    assert idempotency.find(tenant_id=tenant_id, key="key-1") is None
    body = b'{"change":"\xc3\xa9"}\x00\xff' + bytes(range(256)) * 4000  # ~1 MB, any bytes
    kept = store(idempotency, tenant_id, body=body)
    expected = StoredResponse(
        fingerprint=FINGERPRINT,
        status=201,
        content_type="application/json",
        body=body,
        created_at=clock.now(),
    )
    assert kept == expected
    assert idempotency.find(tenant_id=tenant_id, key="key-1") == expected


def test_a_response_without_content_type_is_kept(idempotency, tenants):
    tenant_id, _ = tenants
    idempotency.store(
        tenant_id=tenant_id, key="k", fingerprint=FINGERPRINT, status=204, content_type=None,
        body=b"",
    )  # fmt: skip
    found = idempotency.find(tenant_id=tenant_id, key="k")
    assert found is not None
    assert (found.status, found.content_type, found.body) == (204, None, b"")


def test_kept_for_24_hours_then_treated_as_new(idempotency, tenants, clock):
    tenant_id, _ = tenants
    first = store(idempotency, tenant_id)

    clock.advance(timedelta(hours=23, minutes=59))
    assert idempotency.find(tenant_id=tenant_id, key="key-1") == first
    clock.advance(timedelta(minutes=1))  # exactly 24 h: still kept
    assert idempotency.find(tenant_id=tenant_id, key="key-1") == first

    clock.advance(timedelta(minutes=1))  # 24 h 1 m
    assert idempotency.find(tenant_id=tenant_id, key="key-1") is None
    second = store(idempotency, tenant_id, fp=OTHER, status=200, body=b"new")
    assert (second.fingerprint, second.body, second.created_at) == (OTHER, b"new", clock.now())
    assert idempotency.find(tenant_id=tenant_id, key="key-1") == second


def test_store_keeps_the_live_first_response(idempotency, tenants, clock):
    tenant_id, _ = tenants
    first = store(idempotency, tenant_id, body=b"first")
    clock.advance(timedelta(hours=1))
    kept = store(idempotency, tenant_id, fp=OTHER, body=b"second")
    assert kept == first
    assert idempotency.find(tenant_id=tenant_id, key="key-1") == first


def test_keys_are_scoped_per_tenant(idempotency, tenants):
    acme, globex = tenants
    a = store(idempotency, acme, "shared-key", body=b"acme")
    assert idempotency.find(tenant_id=globex, key="shared-key") is None
    b = store(idempotency, globex, "shared-key", fp=OTHER, status=200, body=b"globex")
    assert b.body == b"globex"
    assert idempotency.find(tenant_id=acme, key="shared-key") == a
    assert idempotency.find(tenant_id=globex, key="shared-key") == b


def test_keys_are_case_sensitive(idempotency, tenants):
    tenant_id, _ = tenants
    store(idempotency, tenant_id, "Key", body=b"upper")
    assert idempotency.find(tenant_id=tenant_id, key="key") is None


def test_purge_expired_deletes_in_batches_oldest_first(idempotency, tenants, clock):
    acme, globex = tenants
    for n in range(5):
        store(idempotency, acme if n % 2 else globex, f"old-{n}")
        clock.advance(timedelta(minutes=1))
    clock.advance(RETENTION)
    store(idempotency, acme, "fresh")
    clock.advance(timedelta(minutes=1))

    assert idempotency.purge_expired(limit=2) == 2
    assert idempotency.purge_expired(limit=2) == 2
    assert idempotency.purge_expired(limit=2) == 1
    assert idempotency.purge_expired(limit=2) == 0
    assert idempotency.find(tenant_id=acme, key="fresh") is not None
    with pytest.raises(ValueError, match="limit"):
        idempotency.purge_expired(limit=0)


def test_store_refuses_5xx_and_invalid_keys(idempotency, tenants):
    tenant_id, _ = tenants
    with pytest.raises(ValueError, match="5xx"):
        store(idempotency, tenant_id, status=500)
    with pytest.raises(ValueError, match="visible ASCII"):
        store(idempotency, tenant_id, "has space")


def test_claim_and_release(idempotency):
    assert idempotency.claim(tenant_id=1, key="k")
    assert not idempotency.claim(tenant_id=1, key="k")
    assert idempotency.claim(tenant_id=2, key="k")
    idempotency.release(tenant_id=1, key="k")
    assert idempotency.claim(tenant_id=1, key="k")


def test_claim_admits_one_of_many_threads(idempotency):
    barrier = threading.Barrier(16)
    wins: list[bool] = []

    def race() -> None:
        barrier.wait()
        wins.append(idempotency.claim(tenant_id=1, key="race"))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 15 + [True]


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", True),
        ("!~" * 127 + "x", True),
        ("x" * 256, False),
        ("", False),
        ("with space", False),
        ("tab\there", False),
        ("caf\u00e9", False),
        ("del\x7f", False),
    ],
)
def test_is_valid_key(key, valid):
    assert is_valid_key(key) is valid


def test_fingerprint_covers_every_part():
    base = {"method": "POST", "path": b"/v1/a", "query": b"x=1", "body_sha256": b"\x01" * 32}
    variants = [
        {**base, "method": "PUT"},
        {**base, "path": b"/v1/b"},
        {**base, "query": b"x=2"},
        {**base, "body_sha256": b"\x02" * 32},
        {**base, "path": b"/v1/ax=1", "query": b""},  # parts cannot run into each other
    ]
    prints = {fingerprint(**base), *(fingerprint(**variant) for variant in variants)}
    assert len(prints) == 6
    assert fingerprint(**base) == fingerprint(**{**base, "method": "post"})
    assert len(fingerprint(**base)) == 64


def test_migration_0002_upgrades_a_0001_database(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(migrate._config(connection), "0001")
            connection.execute(
                tables.tenants.insert(),
                {
                    "name": "acme",
                    "default_region": "US",
                    "default_locale": "en-US",
                    "grace_period": timedelta(days=7),
                    "created_at": FrozenClock().now().replace(tzinfo=None),
                },
            )
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        _use_the_table(engine)
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0001")
        with engine.connect() as connection:
            names = connection.dialect.get_table_names(connection)
        assert "idempotency_keys" not in names
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
    finally:
        engine.dispose()


def _use_the_table(engine: Engine) -> None:
    transactions = SqlTransactions(engine)
    try:
        services = Services.build(
            ServiceContext(
                transactions=transactions,
                clock=FrozenClock(),
                hasher=KeyedHasher(b"s" * 32),
                keyring=FakeKeyring(),
                public_url="https://optout.example.com",
                spools=TemporaryFileSpools(),
            )
        )
        tenant_id = services.tenants.get_tenant(name="acme").id
        kept = store(services.idempotency, tenant_id)
        assert services.idempotency.find(tenant_id=tenant_id, key="key-1") == kept
    finally:
        transactions.close()
