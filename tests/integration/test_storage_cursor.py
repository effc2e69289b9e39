"""`CursorExecutor`, on SQLite and PostgreSQL: values, the plan cache, savepoints, errors."""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from optledger.domain.channels import Channel
from optledger.domain.model import (
    Action,
    Category,
    ConsentEvent,
    ConsentMode,
    OutboxItem,
    Outcome,
    Provenance,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
)
from optledger.domain.ports import EventFilter, UnitOfWork
from optledger.storage import cursor, repositories, tables
from optledger.storage.cursor import CursorExecutor, UnsupportedStatement
from optledger.storage.engine import for_writing
from optledger.storage.transactions import SqlTransactions

WAIT = 30.0
NAIVE = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC).replace(tzinfo=None)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A writing connection inside a transaction that is rolled back at the end."""
    with for_writing(engine.connect()) as connection, connection.begin() as transaction:
        yield connection
        transaction.rollback()


def tenant_values(name: str, created_at: datetime) -> dict[str, object]:
    return {
        "name": name,
        "default_region": "GB",
        "default_locale": "en",
        "grace_period": timedelta(days=14, seconds=3, microseconds=5),
        "created_at": created_at,
    }


@pytest.mark.parametrize("microsecond", [0, 123_456, 7])
def test_datetimes_round_trip_as_sqlalchemy_writes_and_reads_them(
    connection: Connection, microsecond: int
) -> None:
    moment = NAIVE.replace(microsecond=microsecond)
    executor = CursorExecutor(connection)
    insert_new = repositories._insert_new_statement(connection.dialect.name, tables.tenants)
    by_name = repositories._select(tables.tenants, ("name",))

    # Written on the cursor, read by SQLAlchemy and on the cursor.
    mine = executor.first(insert_new, tenant_values("cursor", moment))
    assert mine is not None
    core_row = connection.execute(select(tables.tenants).where(tables.tenants.c.id == mine.id))
    written = core_row.one()
    assert written.created_at == moment
    assert written.grace_period == timedelta(days=14, seconds=3, microseconds=5)
    read = executor.first(by_name, {"name": "cursor"})
    assert read is not None
    assert tuple(read) == tuple(written)
    assert read.created_at == moment
    assert read.created_at.tzinfo is None

    # Written by SQLAlchemy, read on the cursor.
    connection.execute(insert(tables.tenants), tenant_values("core", moment))
    theirs = executor.first(by_name, {"name": "core"})
    assert theirs is not None
    assert theirs.created_at == moment
    assert theirs.grace_period == timedelta(days=14, seconds=3, microseconds=5)

    if connection.dialect.name == "sqlite":
        stored = connection.exec_driver_sql("SELECT created_at FROM tenants ORDER BY id")
        # SQLAlchemy's SQLite DateTime: always six digits of microseconds.
        expected = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        assert [text for (text,) in stored] == [expected, expected]


def test_repository_datetimes_are_aware_utc_again(transactions: SqlTransactions) -> None:
    for microsecond in (0, 654_321):
        moment = datetime(2025, 3, 4, 5, 6, 7, microsecond, tzinfo=UTC)

        def write(uow: UnitOfWork, moment: datetime = moment) -> int:
            tenant = uow.tenants.add(
                name=f"t{moment.microsecond}",
                default_region="GB",
                default_locale="en",
                grace_period=timedelta(days=1),
                created_at=moment,
            )
            return tenant.id

        tenant_id = transactions.write(write)

        def read(uow: UnitOfWork, tenant_id: int = tenant_id) -> Tenant | None:
            return uow.tenants.get(tenant_id)

        tenant = transactions.read(read)
        assert tenant is not None
        assert tenant.created_at == moment
        assert tenant.created_at.tzinfo is UTC


def test_plans_are_compiled_once_per_dialect_and_shared(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[object] = []
    compile_plan = cursor.compile_plan

    def counting(*args: object, **kwargs: object) -> cursor.Plan:
        compiled.append(args[1])
        return compile_plan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cursor, "compile_plan", counting)
    statement = select(tables.tenants.c.id).where(tables.tenants.c.name == bindparam("name"))
    with engine.connect() as first, engine.connect() as second:
        one, other = CursorExecutor(first), CursorExecutor(second)
        for executor in (one, other, one):
            assert executor.first(statement, {"name": "nobody"}) is None
        assert one.plan(statement, ("name",)) is other.plan(statement, ("name",))
    assert compiled == [statement]


def test_first_of_each_answers_each_parameter_set_in_order(connection: Connection) -> None:
    executor = CursorExecutor(connection)
    insert_new = repositories._insert_new_statement(connection.dialect.name, tables.tenants)
    ids = {}
    for name in ("ann", "bob"):
        row = executor.first(insert_new, tenant_values(name, NAIVE))
        assert row is not None
        ids[name] = row.id
    by_name = repositories._select(tables.tenants, ("name",))
    names = ["bob", "nobody", "ann", "bob"]

    # Several (pipelined on psycopg), one, none.
    found = executor.first_of_each(by_name, [{"name": name} for name in names])
    assert [None if row is None else (row.id, row.name) for row in found] == [
        (ids["bob"], "bob"),
        None,
        (ids["ann"], "ann"),
        (ids["bob"], "bob"),
    ]
    assert found[0] is not None
    assert found[0].created_at == NAIVE
    (alone,) = executor.first_of_each(by_name, [{"name": "ann"}])
    assert alone is not None
    assert alone.id == ids["ann"]
    assert executor.first_of_each(by_name, []) == []
    # The connection is usable on the cursor and through SQLAlchemy afterwards.
    again = executor.first(by_name, {"name": "ann"})
    assert again is not None
    assert again.id == ids["ann"]
    assert connection.execute(select(tables.tenants.c.name)).scalars().all() == ["ann", "bob"]


def test_first_of_each_fails_as_sqlalchemy_does(connection: Connection) -> None:
    executor = CursorExecutor(connection)
    by_id = repositories._select(tables.tenants, ("id",))
    with pytest.raises(DBAPIError) as failed:
        executor.first_of_each(by_id, [{"id": 1}, {"id": [2]}])
    assert "SELECT" not in str(failed.value)


def test_statements_that_need_sqlalchemy_are_refused(connection: Connection) -> None:
    executor = CursorExecutor(connection)
    expanding = select(tables.tenants).where(
        tables.tenants.c.id.in_(bindparam("ids", expanding=True))
    )
    with pytest.raises(UnsupportedStatement) as refused:
        executor.all(expanding, {"ids": [1, 2]})
    assert "SELECT" not in str(refused.value)
    with pytest.raises(UnsupportedStatement, match="returns no rows"):
        executor.all(repositories._insert(tables.outbox), {"tenant_id": 1})


def test_a_database_error_is_sqlalchemys_and_holds_no_sql_or_values(
    connection: Connection,
) -> None:
    executor = CursorExecutor(connection)
    put = repositories._upsert_subscription(connection.dialect.name)
    values = {
        "address_id": 999,
        "topic_id": 998,
        "state": "secret@example.com",
        "updated_at": NAIVE,
    }
    with pytest.raises(IntegrityError) as failed:
        executor.run(put, values)
    message = str(failed.value)
    assert "INSERT" not in message
    assert "secret@example.com" not in message
    assert "[parameters" not in message
    if connection.dialect.name == "sqlite":
        # The cursor was closed with the error; the executor takes a new one.
        executor.run_driver_sql("SAVEPOINT probe")
        executor.run_driver_sql("RELEASE SAVEPOINT probe")


# --- savepoints in the writer -------------------------------------------------------------


class Boom(Exception):
    """What a failing work raises."""


MOMENT = datetime(2025, 3, 4, 5, 6, 7, 1, tzinfo=UTC)
OptOut = Callable[[UnitOfWork], int]


def opt_out(tenant_id: int, name: str, *, then: Exception | None = None) -> OptOut:
    """Every cursor-level statement of an opt-out, then `then` raised if given."""

    def work(uow: UnitOfWork) -> int:
        assert uow.tenants.get(tenant_id) is not None
        found = uow.addresses.find(tenant_id, Channel.EMAIL, f"{name}@example.com", f"hash-{name}")
        assert found is None
        address = uow.addresses.add(
            tenant_id=tenant_id,
            channel=Channel.EMAIL,
            value=f"{name}@example.com",
            address_hash=f"hash-{name}",
            contact_id=None,
            created_at=MOMENT,
        )
        topic = uow.topics.by_key(tenant_id, "news")
        assert topic is not None
        assert uow.subscriptions.get(address.id, topic.id) is None
        uow.subscriptions.put(
            Subscription(address.id, topic.id, SubscriptionState.UNSUBSCRIBED, MOMENT)
        )
        hashed = f"hash-{name}"
        assert uow.suppressions.get(tenant_id, Channel.EMAIL, hashed) is None
        assert uow.suppressions.add(
            Suppression(tenant_id, Channel.EMAIL, hashed, address.id, "x", MOMENT)
        )
        uow.outbox.add(OutboxItem(tenant_id=tenant_id, kind="k", payload={}, created_at=MOMENT))
        event_id = uow.events.add(
            ConsentEvent(
                tenant_id=tenant_id,
                occurred_at=MOMENT,
                action=Action.SUPPRESS,
                outcome=Outcome.CHANGED,
                channel=Channel.EMAIL,
                address_hash=hashed,
                address_id=address.id,
                contact_id=None,
                topic_id=topic.id,
                state=None,
                provenance=Provenance(via="test", request_id=name),
            )
        )
        if then is not None:
            raise then
        return event_id

    return work


def add_tenant_and_topic(uow: UnitOfWork) -> int:
    tenant = uow.tenants.add(
        name="acme",
        default_region="GB",
        default_locale="en",
        grace_period=timedelta(days=1),
        created_at=MOMENT,
    )
    uow.topics.add(
        tenant_id=tenant.id,
        key="news",
        name="News",
        category=Category.MARKETING,
        consent_mode=ConsentMode.OPT_OUT,
        double_opt_in=False,
        channels=frozenset({Channel.EMAIL}),
        unsubscribable=True,
        created_at=MOMENT,
    )
    return tenant.id


def test_an_error_in_a_savepoint_undoes_only_that_work(
    engine: Engine, transactions: SqlTransactions
) -> None:
    tenant_id = transactions.write(add_tenant_and_topic)
    commits = [0]

    def on_commit(_connection: Connection) -> None:
        commits[0] += 1

    event.listen(engine, "commit", on_commit)

    def violates(uow: UnitOfWork) -> int:
        opt_out(tenant_id, "violator")(uow)
        uow.subscriptions.put(Subscription(999, 999, SubscriptionState.SUBSCRIBED, MOMENT))
        return 0

    boom = Boom("no")
    works = [
        opt_out(tenant_id, "ann"),
        opt_out(tenant_id, "bob", then=boom),
        opt_out(tenant_id, "cy"),
        violates,
        opt_out(tenant_id, "di"),
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = queue_behind_gate(transactions, pool, opt_out(tenant_id, "gate"), works)
        ann, bob, cy, violator, di = futures

    assert bob.exception(WAIT) is boom
    assert isinstance(violator.exception(WAIT), IntegrityError)
    assert commits[0] == 2  # the gate's transaction, then this batch's

    def stored(uow: UnitOfWork) -> tuple[list[tuple[int, str | None]], set[str], int]:
        events = uow.events.query(tenant_id, where=EventFilter(), after_id=0, limit=100)
        return (
            [(item.id, item.provenance.request_id) for item in events],
            {address_hash for _, address_hash in uow.suppressions.snapshot(tenant_id)},
            len(uow.subscriptions.snapshot(tenant_id)),
        )

    events, suppressed, subscriptions = transactions.read(stored)
    assert [request for _, request in events] == ["gate", "ann", "cy", "di"]
    assert [event_id for event_id, _ in events][1:] == [
        future.result(WAIT) for future in (ann, cy, di)
    ]
    assert suppressed == {f"hash-{name}" for name in ("gate", "ann", "cy", "di")}
    assert subscriptions == 4
    with engine.connect() as connection:
        assert len(connection.execute(select(tables.outbox.c.id)).all()) == 4


def queue_behind_gate(
    transactions: SqlTransactions, pool: ThreadPoolExecutor, first: OptOut, works: list[OptOut]
) -> list[Future[int]]:
    """Hold the writer inside `first` until `works` are all queued, so they form one batch."""
    entered, release = threading.Event(), threading.Event()

    def gate(uow: UnitOfWork) -> int:
        entered.set()
        assert release.wait(WAIT)
        return first(uow)

    held = pool.submit(transactions.write, gate)
    assert entered.wait(WAIT)
    futures = [pool.submit(transactions.write, work) for work in works]
    deadline = time.monotonic() + WAIT
    while transactions._queue.qsize() < len(works):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)
    release.set()
    held.result(WAIT)
    return futures
