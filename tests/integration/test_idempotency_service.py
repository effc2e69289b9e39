"""IdempotencyService and SqlIdempotencyRepository over SQLite and PostgreSQL."""

import hashlib
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from optledger.domain.model import Scope
from optledger.services import Services
from optledger.services.idempotency import (
    PURGE_BATCH,
    PURGE_INTERVAL,
    RETENTION,
    IdempotencyService,
    StoredResponse,
    fingerprint,
    is_valid_key,
)
from optledger.services.results import Principal
from optledger.storage import migrate, tables
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions
from tests.builders import EARLIEST_TENANT_ROW, service_context
from tests.fakes import FrozenClock

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
        service_context(
            transactions=transactions,
            clock=clock,
        )
    )


@pytest.fixture
def idempotency(services) -> IdempotencyService:
    return services.idempotency


@dataclass(frozen=True)
class Caller:
    principal: Principal
    secret: str


def caller(services, created) -> Caller:
    return Caller(services.tenants.authenticate(secret=created.secret), created.secret)


@pytest.fixture
def callers(services) -> tuple[Caller, Caller, Caller]:
    """Two keys of acme and one of globex."""
    acme = services.tenants.create_tenant(name="acme")
    globex = services.tenants.create_tenant(name="globex")
    second = services.tenants.create_key(tenant_id=acme.tenant.id, name="2", scope=Scope.WRITE)
    return (
        caller(services, acme.admin_key),
        caller(services, second),
        caller(services, globex.admin_key),
    )


def store(idempotency, who, key="key-1", *, fp=FINGERPRINT, status=201, body=b'{"a":1}'):
    return idempotency.store(
        principal=who.principal,
        credential=who.secret,
        key=key,
        fingerprint=fp,
        status=status,
        content_type="application/json",
        body=body,
    )


def find(idempotency, who, key="key-1", *, secret=None):
    return idempotency.find(principal=who.principal, credential=secret or who.secret, key=key)


def rows(engine: Engine) -> list[tuple[int, int, str]]:
    with engine.connect() as connection:
        query = text("SELECT tenant_id, api_key_id, key FROM idempotency_keys ORDER BY key")
        return [tuple(row) for row in connection.execute(query)]


def test_store_then_find_round_trips(idempotency, callers, clock):
    acme, _, _ = callers
    assert find(idempotency, acme) is None
    body = b'{"change":"\xc3\xa9"}\x00\xff' + bytes(range(256)) * 4000  # ~1 MB, any bytes
    kept = store(idempotency, acme, body=body)
    expected = StoredResponse(
        fingerprint=FINGERPRINT,
        status=201,
        content_type="application/json",
        body=body,
        created_at=clock.now(),
    )
    assert kept == expected
    assert find(idempotency, acme) == expected


def test_a_response_without_content_type_is_kept(idempotency, callers):
    acme, _, _ = callers
    idempotency.store(
        principal=acme.principal, credential=acme.secret, key="k", fingerprint=FINGERPRINT,
        status=204, content_type=None, body=b"",
    )  # fmt: skip
    found = find(idempotency, acme, "k")
    assert found is not None
    assert (found.status, found.content_type, found.body) == (204, None, b"")


def test_the_database_holds_no_response_in_clear(idempotency, callers, engine):
    """A copy of the table shows no secret, no body, no fingerprint: only sealed bytes."""
    acme, _, _ = callers
    secret = b'{"secret":"olk_CanarySecretInTheBody"}'
    store(idempotency, acme, body=secret)
    with engine.connect() as connection:
        (row,) = connection.execute(text("SELECT * FROM idempotency_keys")).mappings()
    assert sorted(row) == ["api_key_id", "created_at", "key", "sealed", "tenant_id"]
    sealed = bytes(row["sealed"])
    assert b"olk_CanarySecretInTheBody" not in sealed
    assert b"application/json" not in sealed
    assert bytes.fromhex(FINGERPRINT) not in sealed
    assert FINGERPRINT.encode() not in sealed
    assert len(sealed) == 1 + 12 + 16 + (1 + 32 + 2 + 2 + len("application/json") + len(secret))


def test_only_the_credential_that_stored_a_response_opens_it(idempotency, callers, engine):
    acme, _, globex = callers
    store(idempotency, acme)
    assert find(idempotency, acme, secret=globex.secret) is None
    assert find(idempotency, acme, secret=acme.secret + "x") is None
    # A row moved to another API key or tenant does not open for that key either.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE idempotency_keys SET tenant_id = :t, api_key_id = :k"),
            {"t": globex.principal.tenant_id, "k": globex.principal.key_id},
        )
    assert find(idempotency, globex) is None


def test_kept_for_24_hours_then_treated_as_new(idempotency, callers, clock):
    acme, _, _ = callers
    first = store(idempotency, acme)

    clock.advance(timedelta(hours=23, minutes=59))
    assert find(idempotency, acme) == first
    clock.advance(timedelta(minutes=1))  # exactly 24 h: still kept
    assert find(idempotency, acme) == first

    clock.advance(timedelta(minutes=1))  # 24 h 1 m
    assert find(idempotency, acme) is None
    second = store(idempotency, acme, fp=OTHER, status=200, body=b"new")
    assert (second.fingerprint, second.body, second.created_at) == (OTHER, b"new", clock.now())
    assert find(idempotency, acme) == second


def test_store_keeps_the_live_first_response(idempotency, callers, clock):
    acme, _, _ = callers
    first = store(idempotency, acme, body=b"first")
    clock.advance(timedelta(hours=1))
    kept = store(idempotency, acme, fp=OTHER, body=b"second")
    assert kept == first
    assert find(idempotency, acme) == first


def test_keys_are_scoped_per_api_key_and_tenant(idempotency, callers):
    acme, acme_second, globex = callers
    a = store(idempotency, acme, "shared-key", body=b"acme")
    assert find(idempotency, acme_second, "shared-key") is None
    assert find(idempotency, globex, "shared-key") is None
    b = store(idempotency, acme_second, "shared-key", fp=OTHER, status=200, body=b"second key")
    c = store(idempotency, globex, "shared-key", fp=OTHER, status=200, body=b"globex")
    assert (b.body, c.body) == (b"second key", b"globex")
    assert find(idempotency, acme, "shared-key") == a
    assert find(idempotency, acme_second, "shared-key") == b
    assert find(idempotency, globex, "shared-key") == c


def test_keys_are_case_sensitive(idempotency, callers):
    acme, _, _ = callers
    store(idempotency, acme, "Key", body=b"upper")
    assert find(idempotency, acme, "key") is None


def test_store_purges_expired_responses_at_most_once_a_minute(idempotency, callers, engine, clock):
    acme, acme_second, globex = callers
    store(idempotency, acme, "a")  # the first store purges (nothing yet); the next in 1 min
    clock.advance(timedelta(seconds=30))
    store(idempotency, globex, "b")
    clock.advance(RETENTION - timedelta(seconds=20))  # a expired 10 s ago, b is live
    store(idempotency, acme_second, "c")  # a minute and more since the last purge
    assert [key for _, _, key in rows(engine)] == ["b", "c"]

    clock.advance(timedelta(seconds=30))  # b has expired too
    store(idempotency, acme, "d")  # 30 s after the last purge: none
    assert [key for _, _, key in rows(engine)] == ["b", "c", "d"]
    assert find(idempotency, globex, "b") is None  # expired, if not yet purged
    clock.advance(PURGE_INTERVAL - timedelta(seconds=30))
    store(idempotency, acme, "e")  # a minute after the last purge
    assert [key for _, _, key in rows(engine)] == ["c", "d", "e"]


def test_a_backlog_is_purged_a_full_batch_per_store(idempotency, callers, engine, clock):
    acme, _, _ = callers
    store(idempotency, acme, "first")  # the first store purges: the next is a minute on
    expired = [
        {"t": acme.principal.tenant_id, "k": acme.principal.key_id, "key": f"old-{n:04}"}
        for n in range(PURGE_BATCH + 10)
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO idempotency_keys (tenant_id, api_key_id, key, sealed, created_at) "
                "VALUES (:t, :k, :key, :sealed, :at)"
            ),
            [{**row, "sealed": b"x", "at": clock.now().replace(tzinfo=None)} for row in expired],
        )
    clock.advance(RETENTION + PURGE_INTERVAL)
    store(idempotency, acme, "second")  # deletes a full batch, so the next store purges too
    assert len(rows(engine)) == 10 + 1 + 1  # the backlog left, "first" (expired), "second"
    store(idempotency, acme, "third")
    assert [key for _, _, key in rows(engine)] == ["second", "third"]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO idempotency_keys (tenant_id, api_key_id, key, sealed, created_at) "
                "VALUES (:t, :k, 'expired', :sealed, :at)"
            ),
            {
                **expired[0],
                "sealed": b"x",
                "at": (clock.now() - RETENTION * 2).replace(tzinfo=None),
            },
        )
    store(idempotency, acme, "fourth")  # less than a full batch last time: a minute's wait
    assert [key for _, _, key in rows(engine)] == ["expired", "fourth", "second", "third"]


def test_store_refuses_5xx_and_invalid_keys(idempotency, callers):
    acme, _, _ = callers
    with pytest.raises(ValueError, match="5xx"):
        store(idempotency, acme, status=500)
    with pytest.raises(ValueError, match="visible ASCII"):
        store(idempotency, acme, "has space")


def test_claim_and_release(idempotency, callers):
    acme, acme_second, globex = callers
    assert idempotency.claim(principal=acme.principal, key="k")
    assert not idempotency.claim(principal=acme.principal, key="k")
    assert idempotency.claim(principal=acme_second.principal, key="k")
    assert idempotency.claim(principal=globex.principal, key="k")
    idempotency.release(principal=acme.principal, key="k")
    assert idempotency.claim(principal=acme.principal, key="k")


def test_claim_admits_one_of_many_threads(idempotency, callers):
    acme, _, _ = callers
    barrier = threading.Barrier(16)
    wins: list[bool] = []

    def race() -> None:
        barrier.wait()
        wins.append(idempotency.claim(principal=acme.principal, key="race"))

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
            connection.execute(tables.tenants.insert(), EARLIEST_TENANT_ROW)
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
            service_context(
                transactions=transactions,
            )
        )
        tenant_id = services.tenants.get_tenant(name="acme").id
        key = services.tenants.create_key(tenant_id=tenant_id, name="k", scope=Scope.WRITE)
        who = caller(services, key)
        kept = store(services.idempotency, who)
        assert find(services.idempotency, who) == kept
    finally:
        transactions.close()


def _columns(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [column["name"] for column in inspect(connection).get_columns("idempotency_keys")]


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()


def test_migration_0005_drops_the_clear_responses_and_back(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    old_columns = [
        "tenant_id",
        "key",
        "fingerprint",
        "status",
        "content_type",
        "body",
        "created_at",
    ]
    try:
        with engine.begin() as connection:
            command.upgrade(migrate._config(connection), "0003")
            connection.execute(tables.tenants.insert(), EARLIEST_TENANT_ROW)
            connection.execute(
                text(
                    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, "
                    "content_type, body, created_at) VALUES (1, 'k', :fp, 201, "
                    "'application/json', :body, :at)"
                ),
                {
                    "fp": FINGERPRINT,
                    "body": b'{"secret":"olk_in_clear"}',
                    "at": FrozenClock().now().replace(tzinfo=None),
                },
            )
        assert (_columns(engine), _count(engine)) == (old_columns, 1)

        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        assert (_columns(engine), _count(engine)) == (
            ["tenant_id", "api_key_id", "key", "sealed", "created_at"],
            0,
        )
        _use_the_table(engine)

        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0003")
        assert (_columns(engine), _count(engine)) == (old_columns, 0)
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
    finally:
        engine.dispose()
