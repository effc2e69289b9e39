"""Writes while something else writes: contention waits, it never fails.

Two `SqlTransactions` on one database stand for two processes (a server and a CLI
import): each has its own connection and its own open file for taking turns, exactly as
two processes would. A raw driver connection stands for a foreign process (the sqlite3
shell, a backup) that knows nothing of turns.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Connection, Engine, make_url, select, text

from optledger.domain.channels import Channel
from optledger.domain.errors import Unavailable
from optledger.domain.ports import UnitOfWork
from optledger.domain.secrets import KeyedHasher
from optledger.services.context import AddressKey, ensure_address
from optledger.storage import tables
from optledger.storage.engine import make_engine
from optledger.storage.transactions import CommitFailed, SqlTransactions
from tests.builders import service_context

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
WAIT = 30.0
ANN_HASH = "h" * 64
"""Ann's address hash, which `addresses.value_digest` holds too (see storage/tables.py)."""


def add_tenant(name: str, *, hold: float = 0.0) -> Callable[[UnitOfWork], int]:
    """A write that adds a tenant, holding the write lock `hold` seconds longer."""

    def work(uow: UnitOfWork) -> int:
        tenant_id = uow.tenants.add(
            name=name,
            default_region="GB",
            default_locale="en",
            grace_period=timedelta(days=1),
            created_at=T0,
        ).id
        time.sleep(hold)
        return tenant_id

    return work


def tenant_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(tables.tenants.c.name)).scalars())


@pytest.fixture
def second(engine: Engine) -> Iterator[SqlTransactions]:
    """Another writer on the same database, as a second process would have."""
    other_engine = make_engine(engine.url.render_as_string(hide_password=False))
    other = SqlTransactions(other_engine)
    try:
        yield other
    finally:
        other.close()
        other_engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_waits_at_most_one_transaction_of_a_busy_importer(
    engine: Engine, transactions: SqlTransactions, second: SqlTransactions
) -> None:
    """An import commits batches back to back, each holding the lock 150 ms, for 3 s.
    Writes arriving meanwhile get the lock after at most the batch in progress."""
    batch_hold, run_for = 0.15, 3.0
    stop = threading.Event()
    batches: list[int] = []

    def importer() -> None:
        while not stop.is_set():
            batches.append(second.write(add_tenant(f"batch-{len(batches)}", hold=batch_hold)))

    thread = threading.Thread(target=importer)
    thread.start()
    latencies: list[float] = []
    try:
        started = time.monotonic()
        time.sleep(0.2)
        number = 0
        while time.monotonic() - started < run_for:
            begun = time.monotonic()
            transactions.write(add_tenant(f"opt-out-{number}"))
            latencies.append(time.monotonic() - begun)
            number += 1
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(WAIT)
    assert len(latencies) >= 8
    assert max(latencies) < batch_hold * 2 + 0.1, latencies
    assert len(batches) >= 8
    assert {f"opt-out-{n}" for n in range(len(latencies))} <= tenant_names(engine)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lock_held_past_the_wait_is_unavailable_and_nothing_is_written(
    database_url: str, engine: Engine
) -> None:
    transactions = SqlTransactions(engine, wait=0.3)
    foreign = sqlite3.connect(
        make_url(database_url).database or "", isolation_level=None, check_same_thread=False
    )
    try:
        foreign.execute("BEGIN IMMEDIATE")
        begun = time.monotonic()
        with pytest.raises(Unavailable) as raised:
            transactions.write(add_tenant("refused"))
        waited = time.monotonic() - begun
        foreign.execute("COMMIT")
        assert 0.3 <= waited < 2.0
        assert raised.value.message == "the database stayed locked by another process; try again"
        assert raised.value.retry_after == 1
        assert tenant_names(engine) == set()
        transactions.write(add_tenant("later"))
    finally:
        foreign.close()
        transactions.close()
    assert tenant_names(engine) == {"later"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_waits_for_a_foreign_lock_longer_than_sqlites_busy_timeout(
    database_url: str, engine: Engine, transactions: SqlTransactions
) -> None:
    """SQLite's own busy timeout (5 s) is not the limit: the writer's wait is."""
    foreign = sqlite3.connect(
        make_url(database_url).database or "", isolation_level=None, check_same_thread=False
    )
    try:
        foreign.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(5.5, foreign.execute, args=("COMMIT",))
        begun = time.monotonic()  # before the timer starts: the write cannot end before it fires
        timer.start()
        transactions.write(add_tenant("patient"))
        waited = time.monotonic() - begun
        timer.join(WAIT)
    finally:
        foreign.close()
    assert waited >= 5.5
    assert tenant_names(engine) == {"patient"}


def _psycopg(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))


def _blocked_on_a_lock(url: str) -> bool:
    with _psycopg(url) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and row[0] > 0


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_loser_of_a_deadlock_runs_again(
    database_url: str, engine: Engine, transactions: SqlTransactions
) -> None:
    """The writer's work and another session lock two rows in opposite orders; the
    work loses the deadlock, is undone and runs again. The caller sees only its result.

    The second run waits for the other session's commit before it touches a row: the
    writer runs again at once, and could otherwise take alpha back before the other
    session, lose a second deadlock and make the count of runs a matter of timing."""
    alpha = transactions.write(add_tenant("alpha"))
    beta = transactions.write(add_tenant("beta"))
    attempts: list[int] = []
    work_holds_alpha = threading.Event()
    other_committed = threading.Event()

    def rename_both(uow: UnitOfWork) -> str:
        connection: Connection = uow.tenants._connection  # type: ignore[attr-defined]
        attempts.append(len(attempts) + 1)
        if len(attempts) > 1:
            assert other_committed.wait(WAIT)
        connection.execute(
            text("UPDATE tenants SET default_region = 'DE' WHERE id = :id"), {"id": alpha}
        )
        work_holds_alpha.set()
        connection.execute(
            text("UPDATE tenants SET default_region = 'DE' WHERE id = :id"), {"id": beta}
        )
        return "renamed"

    other = _psycopg(database_url)
    try:
        other.execute("SET deadlock_timeout = '10s'")  # the writer's session detects it
        other.execute("UPDATE tenants SET default_locale = 'fr' WHERE id = %s", (beta,))
        result: list[str] = []
        writer = threading.Thread(target=lambda: result.append(transactions.write(rename_both)))
        writer.start()
        assert work_holds_alpha.wait(WAIT)
        _wait_until(lambda: _blocked_on_a_lock(database_url))
        other.execute("UPDATE tenants SET default_locale = 'fr' WHERE id = %s", (alpha,))
        other.commit()
        other_committed.set()
        writer.join(WAIT)
    finally:
        other.close()
    assert result == ["renamed"]
    assert attempts == [1, 2]
    with engine.connect() as connection:
        rows = connection.execute(
            select(tables.tenants.c.name, tables.tenants.c.default_region)
            .add_columns(tables.tenants.c.default_locale)
            .order_by(tables.tenants.c.name)
        ).all()
    assert [tuple(row) for row in rows] == [("alpha", "DE", "fr"), ("beta", "DE", "fr")]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_address_another_session_adds_meanwhile_is_the_one_used(
    database_url: str, transactions: SqlTransactions
) -> None:
    """Two processes record an opt-out from one new address at once: the second insert
    waits for the first, then uses the address it added (no Conflict, no 409)."""
    tenant_id = transactions.write(add_tenant("acme"))
    ctx = service_context(
        transactions=transactions,
        hasher=KeyedHasher(b"k" * 32),
    )
    key = AddressKey(channel=Channel.EMAIL, value="ann@example.com", address_hash=ANN_HASH)
    other = _psycopg(database_url)
    try:
        (other_id,) = other.execute(
            "INSERT INTO addresses (tenant_id, channel, value, value_digest, address_hash, "
            "created_at) VALUES (%s, 'email', 'ann@example.com', %s, %s, %s) RETURNING id",
            (tenant_id, ANN_HASH, ANN_HASH, T0.replace(tzinfo=None)),
        ).fetchone() or (None,)
        result: list[int] = []
        writer = threading.Thread(
            target=lambda: result.append(
                transactions.write(
                    lambda uow: ensure_address(uow, ctx, tenant_id=tenant_id, key=key).id
                )
            )
        )
        writer.start()
        _wait_until(lambda: _blocked_on_a_lock(database_url))
        other.commit()
        writer.join(WAIT)
    finally:
        other.close()
    assert result == [other_id]


def test_an_unreachable_postgresql_is_unavailable_after_the_wait() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    transactions = SqlTransactions(engine, wait=0.5)
    try:
        begun = time.monotonic()
        with pytest.raises(CommitFailed) as write_error:
            transactions.write(add_tenant("lost"))
        waited = time.monotonic() - begun
        with pytest.raises(Unavailable) as read_error:
            transactions.read(lambda uow: uow.tenants.all())
    finally:
        transactions.close()
        engine.dispose()
    assert isinstance(write_error.value, Unavailable)
    assert write_error.value.message == "the write could not be committed"
    assert 0.5 <= waited < 5.0
    assert read_error.value.message == "the database is busy or unreachable; send the request again"
