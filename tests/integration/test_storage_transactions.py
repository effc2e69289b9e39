"""Group commit, on SQLite and PostgreSQL.

Some tests hold the writer inside a work (`Gate`) while more writes queue up, so that
those writes are known to share one batch; they watch the writer's queue to know when.
"""

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import ClassVar, TypeVar

import pytest
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from optledger.domain.model import (
    Action,
    ConsentEvent,
    Outcome,
    Provenance,
    Subscription,
    SubscriptionState,
)
from optledger.domain.ports import EventFilter, UnitOfWork
from optledger.storage import tables
from optledger.storage.transactions import (
    CommitFailed,
    SqlTransactions,
    TransactionsClosed,
    _Job,
    _runs,
)

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
WAIT = 30.0
T = TypeVar("T")


class Boom(Exception):
    """What a failing work raises."""


def add_tenant(name: str) -> Callable[[UnitOfWork], int]:
    def work(uow: UnitOfWork) -> int:
        return uow.tenants.add(
            name=name,
            default_region="GB",
            default_locale="en",
            grace_period=timedelta(days=1),
            created_at=T0,
        ).id

    return work


def tenant_names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        names = connection.execute(select(tables.tenants.c.name).order_by(tables.tenants.c.id))
        return list(names.scalars())


def tenant_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(tables.tenants.c.name, tables.tenants.c.id))
        return {row.name: row.id for row in rows}


def count_commits(engine: Engine) -> list[int]:
    """A one-item list holding the number of COMMITs on `engine` from now on."""
    commits = [0]

    def on_commit(_connection: Connection) -> None:
        commits[0] += 1

    event.listen(engine, "commit", on_commit)
    return commits


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


class Gate:
    """A work that holds the writer until `open()`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def work(self, uow: UnitOfWork) -> int:
        self.entered.set()
        assert self._open.wait(WAIT)
        return add_tenant("gate")(uow)

    def open(self) -> None:
        self._open.set()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=32) as executor:
        yield executor


def queue_behind_gate(
    transactions: SqlTransactions,
    pool: ThreadPoolExecutor,
    works: Sequence[Callable[[UnitOfWork], T]],
) -> tuple[Gate, Future[int], list[Future[T]]]:
    """Hold the writer, then queue `works` so that they form the next batch."""
    gate = Gate()
    held = pool.submit(transactions.write, gate.work)
    assert gate.entered.wait(WAIT)
    futures = [pool.submit(transactions.write, work) for work in works]
    wait_for(lambda: transactions._queue.qsize() == len(works))
    return gate, held, futures


def test_writes_queued_together_commit_together(
    engine: Engine, transactions: SqlTransactions, pool: ThreadPoolExecutor
) -> None:
    commits = count_commits(engine)
    works = [add_tenant(f"t{n}") for n in range(10)]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()

    assert held.result(WAIT) == 1
    assert sorted(future.result(WAIT) for future in futures) == list(range(2, 12))
    assert commits[0] == 2
    assert tenant_names(engine)[0] == "gate"
    assert sorted(tenant_names(engine)[1:]) == sorted(f"t{n}" for n in range(10))


def test_batches_are_at_most_max_batch(engine: Engine, pool: ThreadPoolExecutor) -> None:
    transactions = SqlTransactions(engine, max_batch=3)
    try:
        commits = count_commits(engine)
        works = [add_tenant(f"t{n}") for n in range(10)]
        gate, held, futures = queue_behind_gate(transactions, pool, works)
        gate.open()
        held.result(WAIT)
        for future in futures:
            future.result(WAIT)
    finally:
        transactions.close()
    assert commits[0] == 1 + 4  # the gate, then 3 + 3 + 3 + 1
    assert len(tenant_names(engine)) == 11


def test_a_failing_work_rolls_back_alone(
    engine: Engine, transactions: SqlTransactions, pool: ThreadPoolExecutor
) -> None:
    commits = count_commits(engine)
    boom = Boom("no")

    def fails(uow: UnitOfWork) -> int:
        add_tenant("failed")(uow)
        raise boom

    def violates_a_foreign_key(uow: UnitOfWork) -> None:
        add_tenant("violated")(uow)
        uow.subscriptions.put(Subscription(999, 999, SubscriptionState.SUBSCRIBED, T0))

    works: list[Callable[[UnitOfWork], object]] = [
        add_tenant("first"),
        fails,
        add_tenant("second"),
        violates_a_foreign_key,
        add_tenant("third"),
    ]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()
    held.result(WAIT)

    first, failed, second, violated, third = futures
    assert failed.exception(WAIT) is boom
    assert isinstance(violated.exception(WAIT), IntegrityError)
    assert commits[0] == 2
    assert tenant_ids(engine) == {
        "gate": 1,
        "first": first.result(WAIT),
        "second": second.result(WAIT),
        "third": third.result(WAIT),
    }


def test_a_work_that_swallows_a_database_error(
    engine: Engine, transactions: SqlTransactions, pool: ThreadPoolExecutor
) -> None:
    """On PostgreSQL a caught error still aborts the transaction; the writer must then
    roll back and re-run the rest of the batch without that work."""
    commits = count_commits(engine)

    def swallows(uow: UnitOfWork) -> str:
        add_tenant("swallower")(uow)
        try:
            uow.subscriptions.put(Subscription(999, 999, SubscriptionState.SUBSCRIBED, T0))
        except IntegrityError:
            return "swallowed"
        return "not reached"

    works = [add_tenant("before"), swallows, add_tenant("after")]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()
    held.result(WAIT)

    before, swallowed, after = futures
    expected = {"gate": 1, "before": before.result(WAIT), "after": after.result(WAIT)}
    assert commits[0] == 2
    if engine.dialect.name == "postgresql":
        assert isinstance(swallowed.exception(WAIT), DBAPIError)
        assert tenant_ids(engine) == expected
    else:
        assert swallowed.result(WAIT) == "swallowed"
        assert set(tenant_ids(engine)) == {*expected, "swallower"}


def test_a_failed_commit_fails_every_write_of_the_batch(
    engine: Engine, transactions: SqlTransactions, pool: ThreadPoolExecutor
) -> None:
    def breaks_the_commit(uow: UnitOfWork) -> None:
        """Leave a deferred foreign key violated: the savepoint releases, COMMIT fails."""
        connection: Connection = uow.tenants._connection  # type: ignore[attr-defined]
        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE commit_trap (id INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES commit_trap (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        connection.exec_driver_sql("INSERT INTO commit_trap (id, parent) VALUES (1, 2)")

    def fails(uow: UnitOfWork) -> None:
        raise Boom

    works = [add_tenant("first"), breaks_the_commit, fails, add_tenant("second")]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()
    held.result(WAIT)

    first, breaker, failed, second = (future.exception(WAIT) for future in futures)
    for error in (first, breaker, second):
        assert isinstance(error, CommitFailed)
        assert str(error) == "the write could not be committed"
        assert isinstance(error.__cause__, IntegrityError)
    assert isinstance(failed, Boom)
    assert len({id(first), id(breaker), id(second)}) == 3
    assert tenant_names(engine) == ["gate"]

    transactions.write(add_tenant("later"))
    assert tenant_names(engine) == ["gate", "later"]


def _record(tenant_id: int, request_id: str, *, fail: bool) -> Callable[[UnitOfWork], int]:
    def work(uow: UnitOfWork) -> int:
        event_id = uow.events.add(
            ConsentEvent(
                tenant_id=tenant_id,
                occurred_at=T0,
                action=Action.SUPPRESS,
                outcome=Outcome.CHANGED,
                channel=None,
                address_hash=None,
                address_id=None,
                contact_id=None,
                topic_id=None,
                state=None,
                provenance=Provenance(via="test", request_id=request_id),
            )
        )
        if fail:
            raise Boom(request_id)
        return event_id

    return work


def test_many_concurrent_writers(engine: Engine, transactions: SqlTransactions) -> None:
    """100 threads x 20 writes, every 7th failing: each write is stored exactly once or
    (if it failed) not at all, and each caller gets its own result or its own error."""
    threads, writes = 100, 20
    tenant_id = transactions.write(add_tenant("acme"))
    commits = count_commits(engine)

    def writer(thread: int) -> list[tuple[str, int | Boom]]:
        outcomes: list[tuple[str, int | Boom]] = []
        for n in range(writes):
            request_id = f"{thread}-{n}"
            fail = (thread * writes + n) % 7 == 0
            try:
                outcomes.append(
                    (request_id, transactions.write(_record(tenant_id, request_id, fail=fail)))
                )
            except Boom as boom:
                outcomes.append((request_id, boom))
        return outcomes

    with ThreadPoolExecutor(max_workers=threads) as executor:
        outcomes = [item for items in executor.map(writer, range(threads)) for item in items]

    stored = transactions.read(
        lambda uow: uow.events.query(tenant_id, where=EventFilter(), after_id=0, limit=10_000)
    )
    stored_request = {event.id: str(event.provenance.request_id) for event in stored}
    succeeded = {request_id: result for request_id, result in outcomes if isinstance(result, int)}
    failed = {request_id: result for request_id, result in outcomes if isinstance(result, Boom)}

    assert len(outcomes) == threads * writes
    assert len(failed) == len([k for k in range(threads * writes) if k % 7 == 0]) == 286
    assert all(boom.args == (request_id,) for request_id, boom in failed.items())
    assert len(stored) == len(succeeded) == threads * writes - 286
    assert sorted(stored_request.values()) == sorted(succeeded)
    assert all(stored_request[event_id] == request_id for request_id, event_id in succeeded.items())
    assert 1 <= commits[0] < threads * writes


def test_read_sees_committed_writes(transactions: SqlTransactions) -> None:
    assert transactions.read(lambda uow: uow.tenants.by_name("acme")) is None
    tenant_id = transactions.write(add_tenant("acme"))
    tenant = transactions.read(lambda uow: uow.tenants.by_name("acme"))
    assert tenant is not None
    assert tenant.id == tenant_id


def test_read_cannot_write(engine: Engine, transactions: SqlTransactions) -> None:
    with pytest.raises(DBAPIError):
        transactions.read(add_tenant("sneaky"))
    assert tenant_names(engine) == []
    transactions.write(add_tenant("honest"))
    assert tenant_names(engine) == ["honest"]


def test_write_inside_a_work_is_refused(transactions: SqlTransactions) -> None:
    with pytest.raises(RuntimeError, match="inside a unit of work"):
        transactions.write(lambda uow: transactions.write(add_tenant("inner")))
    assert transactions.write(add_tenant("outer")) == 1


def test_close_finishes_queued_writes_then_refuses_more(
    engine: Engine, pool: ThreadPoolExecutor
) -> None:
    transactions = SqlTransactions(engine)
    works = [add_tenant(f"t{n}") for n in range(10)]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    closing = pool.submit(transactions.close)
    wait_for(lambda: transactions._closed)
    with pytest.raises(TransactionsClosed, match="the transaction runner is closed"):
        transactions.write(add_tenant("late"))
    gate.open()
    closing.result(WAIT)

    assert held.result(WAIT) == 1
    assert sorted(future.result(WAIT) for future in futures) == list(range(2, 12))
    assert len(tenant_names(engine)) == 11
    assert not [thread for thread in threading.enumerate() if thread.name == "optledger-writer"]
    with pytest.raises(TransactionsClosed):
        transactions.read(lambda uow: uow.tenants.all())
    transactions.close()


def test_writer_is_a_daemon_and_a_new_runner_works_after_close(engine: Engine) -> None:
    first = SqlTransactions(engine)
    first.write(add_tenant("one"))
    writers = [thread for thread in threading.enumerate() if thread.name == "optledger-writer"]
    assert [thread.daemon for thread in writers] == [True]
    first.close()
    second = SqlTransactions(engine)
    try:
        second.write(add_tenant("two"))
    finally:
        second.close()
    assert tenant_names(engine) == ["one", "two"]


def test_close_without_writes(engine: Engine) -> None:
    transactions = SqlTransactions(engine)
    transactions.close()
    with pytest.raises(TransactionsClosed):
        transactions.write(add_tenant("late"))


def test_max_batch_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        SqlTransactions(engine, max_batch=0)


def test_a_submitted_write_resolves_once_committed(
    engine: Engine, transactions: SqlTransactions, pool: ThreadPoolExecutor
) -> None:
    commits = count_commits(engine)
    gate, held, _ = queue_behind_gate(transactions, pool, [])
    submitted = transactions.submit(add_tenant("queued"))
    assert not submitted.done()
    gate.open()
    assert held.result(WAIT) == 1
    assert submitted.result(WAIT) == 2
    assert tenant_names(engine) == ["gate", "queued"]
    assert commits[0] == 2


def test_a_submitted_write_fails_with_its_own_error(
    engine: Engine, transactions: SqlTransactions
) -> None:
    def failing(uow: UnitOfWork) -> None:
        add_tenant("half")(uow)
        raise Boom

    with pytest.raises(Boom):
        transactions.submit(failing).result(WAIT)
    assert tenant_names(engine) == []


def test_a_lone_failing_write_is_rolled_back_without_a_commit(
    engine: Engine, transactions: SqlTransactions
) -> None:
    """A batch runs without savepoints first; for a batch of one, the rollback that
    undoes the failed work is all there is to do (decision 0023)."""
    commits = count_commits(engine)

    def failing(uow: UnitOfWork) -> None:
        add_tenant("half")(uow)
        raise Boom

    with pytest.raises(Boom):
        transactions.write(failing)
    assert commits[0] == 0
    transactions.write(add_tenant("after"))
    assert commits[0] == 1
    assert tenant_names(engine) == ["after"]


def test_submit_after_close_is_refused(engine: Engine) -> None:
    transactions = SqlTransactions(engine)
    transactions.close()
    with pytest.raises(TransactionsClosed):
        transactions.submit(add_tenant("late"))


def test_lookup_sees_committed_writes_outside_a_transaction(
    transactions: SqlTransactions,
) -> None:
    assert transactions.lookup(lambda uow: uow.tenants.get(1)) is None
    tenant_id = transactions.write(add_tenant("acme"))
    tenant = transactions.lookup(lambda uow: uow.tenants.get(tenant_id))
    assert tenant is not None
    assert tenant.name == "acme"
    # The reader it used was given back with no transaction open, and serves reads again.
    (reader,) = transactions._readers._idle
    assert not reader.in_transaction()
    assert transactions.read(lambda uow: uow.tenants.get(tenant_id)) == tenant


def test_lookup_refuses_a_work_that_begins_a_transaction(transactions: SqlTransactions) -> None:
    tenant_id = transactions.write(add_tenant("acme"))
    with pytest.raises(RuntimeError, match="began a transaction"):
        # `all` runs on SQLAlchemy's execution layer, which begins a transaction.
        transactions.lookup(lambda uow: uow.tenants.all())
    assert transactions._readers._idle == []
    assert transactions.lookup(lambda uow: uow.tenants.get(tenant_id)) is not None


def test_a_reader_that_failed_is_not_used_again(transactions: SqlTransactions) -> None:
    readers = transactions._readers
    transactions.read(lambda uow: None)
    (kept,) = readers._idle
    with pytest.raises(DBAPIError):
        transactions.read(add_tenant("sneaky"))
    assert readers._idle == []
    assert kept.closed
    transactions.read(lambda uow: None)
    (fresh,) = readers._idle
    assert fresh is not kept


def test_close_closes_idle_readers(engine: Engine) -> None:
    transactions = SqlTransactions(engine)
    transactions.read(lambda uow: None)
    (kept,) = transactions._readers._idle
    transactions.close()
    assert kept.closed
    assert transactions._readers._idle == []


class Combining:
    """A work adding a tenant that may run together with others (`combine`)."""

    calls: ClassVar[list[list[str]]] = []
    fail: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, uow: UnitOfWork) -> int:
        return add_tenant(self.name)(uow)

    @staticmethod
    def combine(uow: UnitOfWork, works: Sequence[object]) -> list[object]:
        names = [work.name for work in works if isinstance(work, Combining)]
        Combining.calls.append(names)
        values: list[object] = [add_tenant(name)(uow) for name in names]
        if Combining.fail:
            raise Boom
        return values


@pytest.fixture
def combining() -> Iterator[type[Combining]]:
    Combining.calls = []
    Combining.fail = False
    yield Combining
    Combining.calls = []
    Combining.fail = False


def test_works_that_combine_run_together(
    engine: Engine,
    transactions: SqlTransactions,
    pool: ThreadPoolExecutor,
    combining: type[Combining],
) -> None:
    works = [combining(f"t{n}") for n in range(6)]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()
    held.result(WAIT)
    values = [future.result(WAIT) for future in futures]
    ids = tenant_ids(engine)
    assert values == [ids[work.name] for work in works]
    assert [sorted(names) for names in combining.calls] == [[f"t{n}" for n in range(6)]]


def test_a_combined_run_that_fails_runs_again_one_by_one(
    engine: Engine,
    transactions: SqlTransactions,
    pool: ThreadPoolExecutor,
    combining: type[Combining],
) -> None:
    combining.fail = True
    works = [combining(f"t{n}") for n in range(4)]
    gate, held, futures = queue_behind_gate(transactions, pool, works)
    gate.open()
    held.result(WAIT)
    values = [future.result(WAIT) for future in futures]
    ids = tenant_ids(engine)
    assert values == [ids[work.name] for work in works]
    assert sorted(tenant_names(engine)) == sorted(["gate", *(work.name for work in works)])
    assert len(combining.calls) == 1


def test_works_run_together_only_beside_works_of_the_same_combine(
    engine: Engine, transactions: SqlTransactions, combining: type[Combining]
) -> None:
    def job(work: Callable[[UnitOfWork], object]) -> _Job:
        return _Job(work=work, future=Future())

    jobs = [
        job(combining("a")),
        job(combining("b")),
        job(add_tenant("c")),
        job(combining("d")),
        job(add_tenant("e")),
        job(add_tenant("f")),
    ]
    assert [[jobs.index(j) for j in run] for run in _runs(jobs)] == [[0, 1], [2], [3], [4], [5]]
