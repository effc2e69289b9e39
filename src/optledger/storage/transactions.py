"""`Transactions` with group commit: one writer thread commits concurrent writes together.

Why: an opt-out must be durable before it is acknowledged, so every write waits for a
COMMIT that reaches the disk (SQLite `synchronous=FULL`, PostgreSQL `synchronous_commit`
on). That flush, not the SQL, is what a write costs, and SQLite admits one writer at a
time anyway. Committing each request on its own therefore tops out at the disk's flush
rate and queues writers on the file lock (a prototype: ~1,400 writes/s, p99 ~800 ms on 2
cores). Committing many requests with one flush is what reaches thousands per second
(~6,000/s in the same prototype).

How:
- `submit(work)` puts the work and a future on a queue and returns the future;
  `write(work)` blocks on it.
- One daemon writer thread owns one connection. It takes the first queued job, drains up
  to `max_batch - 1` more without waiting, and opens one transaction (`BEGIN IMMEDIATE`
  on SQLite). Once the transaction is open it drains the queue again (up to `max_batch`
  in all): on SQLite the BEGIN may have waited for another process's transaction, and
  the writes queued meanwhile join this one rather than wait for the next (decision
  0023). Under load batches grow by themselves; an idle service commits at once.
- A batch is first run without savepoints (decision 0023): every work in turn on one
  `SqlUnitOfWork`, then COMMIT. Most batches have no failing work, and a SAVEPOINT and
  its RELEASE were two of an unsubscribe's seven statements (two of its seven round
  trips on PostgreSQL). If a work raises, or the transaction can no longer commit
  everything (a work swallowed an error that aborted it), that transaction is rolled
  back, nothing of it is kept, and the batch runs again as below. A batch of one whose
  work raised is done at once: the rollback undid exactly that work, and its exception
  is its own.
- Consecutive jobs of a batch whose works carry the same `combine` (a `CombinedWorks`:
  the hottest write, an unsubscribe through an address) run together in that first
  run: `combine` writes what they would write one by one in a few multi-row statements.
  On PostgreSQL that saves the round trips to the server (decision 0032); on SQLite the
  Python per statement of the one writer, which holds the database's write lock while
  the works run (decision 0035). If it raises, the batch is run again as below, where
  every work runs alone.
- Run again (or after a failure), each job's work runs inside its own SAVEPOINT with a
  fresh `SqlUnitOfWork`. On success the savepoint is released; if the work raises, the
  transaction rolls back to the savepoint and the exception is kept for that caller
  alone. One failing write never takes the others with it.
- COMMIT is issued once. Only after it returns are the futures resolved, so no caller
  hears "done" before its write is durable.
- If COMMIT (or BEGIN, or the connection) fails, every caller whose work had succeeded
  gets `CommitFailed` (the domain's `Unavailable`: a 503 with Retry-After at the doors),
  chained to the database error; callers whose own work failed get their own exception.
  The writer then starts the next batch on a fresh connection.
- If a savepoint itself cannot be released or rolled back (a work swallowed a database
  error that aborted the PostgreSQL transaction, or SQLite rolled the whole transaction
  back on a full disk), the whole transaction is rolled back, that job fails with the
  error, and the rest of the batch is run again in a new transaction. Works must therefore
  not have effects outside the unit of work, which the outbox pattern already demands.

Contention waits, it never fails (`wait` seconds at most, then `Unavailable`):
- SQLite admits one writer per file. When another process (a CLI import, a second
  server) holds the write lock, the writer waits for it and takes its turn
  (`write_turns`): it never waits longer than the other side's current transaction, and
  before each of its own transactions it lets a waiting process go first.
- PostgreSQL: a BEGIN that cannot reach the server is tried again until `wait` passes.
- A work that loses a race for a lock with another process's transaction (a PostgreSQL
  deadlock or serialization failure; SQLite busy inside a transaction) is rolled back to
  its savepoint and run again in the next transaction, up to `MAX_ATTEMPTS` times.

`read(work)` does not involve the writer: it runs in the calling thread on a reader
connection in a read-only transaction that is rolled back at the end (`_IdleReaders`
keeps reader connections between reads). In SQLite's WAL
mode readers run beside the writer and see the last committed state. A database that
cannot be reached fails a read with `Unavailable` too.

`close()` stops accepting writes, lets the writer finish everything already queued, and
joins it. `write` or `read` after `close` raise `TransactionsClosed`. The writer starts
with the first write, and a new one is started should it ever have died. A `write` from
inside a unit of work would wait for itself and is refused.

The same design runs on PostgreSQL: one writer and group commit still save a flush per
write; reads scale out over the pool.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine, QueuePool, RootTransaction
from sqlalchemy.exc import DBAPIError, OperationalError

from optledger.domain.errors import Unavailable
from optledger.domain.ports import Completion, UnitOfWork
from optledger.storage.cursor import CursorExecutor
from optledger.storage.engine import (
    for_reading,
    for_writing,
    is_lock_conflict,
    is_sqlite_busy,
    sqlite_file,
)
from optledger.storage.repositories import SqlUnitOfWork
from optledger.storage.write_turns import WriteTurns

__all__ = ["DEFAULT_WAIT", "MAX_ATTEMPTS", "CommitFailed", "SqlTransactions", "TransactionsClosed"]

DEFAULT_WAIT: Final = 20.0
"""Seconds a write may wait for the database (its lock, or the server) before it fails."""
MAX_ATTEMPTS: Final = 5
"""How often a work that keeps losing lock races is run before it fails."""
_RECONNECT_PAUSE: Final = 0.2

T = TypeVar("T")


class TransactionsClosed(RuntimeError):
    """`write` or `read` was called after `close`."""

    def __init__(self) -> None:
        super().__init__("the transaction runner is closed")


class CommitFailed(Unavailable):
    """The transaction that carried a write failed to begin or commit.

    The cause (`__cause__`) is the database error. If the connection was lost during the
    COMMIT itself, the write may or may not be stored; otherwise it is not.
    """

    def __init__(self) -> None:
        super().__init__("the write could not be committed")


@dataclass(slots=True, eq=False)
class _Job:
    work: Callable[[UnitOfWork], Any]
    future: Completion[Any]
    value: Any = None
    error: BaseException | None = None
    """Set when the work itself failed: final, whatever happens to the transaction."""
    attempts: int = 0
    lost_race: bool = False
    """The last attempt lost a lock race and was undone; it runs again."""
    done: bool = False
    """Its work succeeded in a transaction that committed."""


class _Poisoned(Exception):
    """A job left the transaction unusable; the transaction must be rolled back."""

    def __init__(self, job: _Job, error: BaseException) -> None:
        super().__init__("a savepoint could not be released or rolled back")
        self.job = job
        self.error = error


class SqlTransactions:
    """The `Transactions` port over `engine`, writing through one group-commit writer."""

    def __init__(self, engine: Engine, *, max_batch: int = 256, wait: float = DEFAULT_WAIT) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if wait <= 0:
            raise ValueError("wait must be positive")
        self._engine = engine
        self._max_batch = max_batch
        self._wait = wait
        database = sqlite_file(engine)
        self._turns = WriteTurns(database) if database is not None else None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._writer: threading.Thread | None = None
        self._stopping = False
        """The writer took the stop marker while topping up a batch; only it touches this."""
        self._connection: Connection | None = None
        """The writer's connection; only the writer thread touches it."""
        self._readers = _IdleReaders(
            keep=engine.pool.size() if isinstance(engine.pool, QueuePool) else 0
        )

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a write transaction; return its result once it is committed."""
        if threading.current_thread() is self._writer:
            raise RuntimeError("write() was called from inside a unit of work")
        return self.submit(work).result()

    def submit(self, work: Callable[[UnitOfWork], T]) -> Future[T]:
        """Queue `work` for the writer; its future resolves once it is committed."""
        future: Future[T] = Future()
        self.submit_into(work, future)
        return future

    def submit_into(self, work: Callable[[UnitOfWork], T], completion: Completion[T]) -> None:
        """Queue `work` for the writer; `completion` hears its outcome once it is
        committed (or has failed), from the writer's thread."""
        with self._lock:
            if self._closed:
                raise TransactionsClosed
            self._ensure_writer()
            self._queue.put(_Job(work=work, future=completion))

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a read-only transaction in the calling thread."""

        def in_transaction(connection: Connection) -> T:
            transaction = connection.begin()
            try:
                return work(SqlUnitOfWork(connection))
            finally:
                transaction.rollback()

        return self._on_reader(in_transaction)

    def lookup(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work`, which runs independent SELECTs (one, or one per check answered
        together, pipelined on psycopg), on a reader connection outside a transaction:
        SQLite in autocommit mode, psycopg with autocommit on for the statements."""

        def alone(connection: Connection) -> T:
            driver = connection.connection.driver_connection
            postgresql = connection.dialect.name == "postgresql"
            if postgresql:
                driver.autocommit = True  # type: ignore[union-attr]
            try:
                result = work(SqlUnitOfWork(connection))
            finally:
                if postgresql:
                    driver.autocommit = False  # type: ignore[union-attr]
            if connection.in_transaction():  # a work that ran more than it should have
                raise RuntimeError("lookup() was given a work that began a transaction")
            return result

        return self._on_reader(alone)

    def _on_reader(self, run: Callable[[Connection], T]) -> T:
        """`run` on an idle reader connection (or a new one), given back afterwards; a
        connection `run` failed on is closed instead, so a broken one is never reused."""
        if self._closed:
            raise TransactionsClosed
        connection = self._reader()
        try:
            result = run(connection)
        except DBAPIError as exc:
            connection.close()
            if exc.connection_invalidated or is_sqlite_busy(exc):
                raise Unavailable from exc
            raise
        except BaseException:
            connection.close()
            raise
        self._readers.give_back(connection)
        return result

    def _reader(self) -> Connection:
        """An idle reader connection, or a new one from the engine's pool."""
        connection = self._readers.take()
        if connection is not None:
            return connection
        try:
            return for_reading(self._engine.connect())
        except OperationalError as exc:
            raise Unavailable from exc

    def close(self) -> None:
        """Refuse new work, finish the queued writes, stop the writer. Idempotent."""
        if threading.current_thread() is self._writer:
            raise RuntimeError("close() was called from inside a unit of work")
        with self._lock:
            first_close = not self._closed
            self._closed = True
            if first_close and self._writer is not None:
                self._ensure_writer()
                self._queue.put(None)
            writer = self._writer
        if writer is not None:
            writer.join()
        self._readers.close()

    def _ensure_writer(self) -> None:
        """Start the writer unless it runs; the caller holds `_lock`."""
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._run, name="optledger-writer", daemon=True)
            self._writer.start()

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                if batch:
                    self._commit_batch_or_fail(batch)
                stop = stop or self._stopping
        finally:
            self._drop_connection(invalidate=False)
            if self._turns is not None:
                self._turns.close()

    def _next_batch(self) -> tuple[list[_Job], bool]:
        """The next jobs to commit together (waiting for the first only), and whether
        the stop marker followed them."""
        job = self._queue.get()
        if job is None:
            return [], True
        batch = [job]
        return batch, self._drain_into(batch)

    def _drain_into(self, batch: list[_Job]) -> bool:
        """Move the jobs queued now into `batch`, up to `max_batch` in all, without
        waiting; whether the stop marker followed them."""
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            batch.append(job)
        return False

    def _commit_batch_or_fail(self, batch: list[_Job]) -> None:
        try:
            self._commit_batch(batch)
        except BaseException as exc:
            # Not expected; never leave a caller waiting forever.
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            raise

    def _commit_batch(self, batch: list[_Job]) -> None:
        """Commit the batch's works, in as many transactions as it takes: again without a
        work that poisoned one, and again for works that lost a lock race."""
        pending = batch
        guarded = False
        while pending:
            try:
                if guarded:
                    self._run_transaction(pending)
                else:
                    guarded = not self._run_unguarded(pending)
            except _Poisoned as poisoned:
                poisoned.job.error = poisoned.error
            except Unavailable as exc:
                _fail_all(pending, partial(Unavailable, exc.message, retry_after=exc.retry_after))
            except Exception as exc:
                self._drop_connection(invalidate=True)
                _fail_all(pending, partial(_commit_failed, exc))
            pending = [job for job in pending if job.error is None and not job.done]
        for job in batch:
            _resolve(job)

    def _run_unguarded(self, jobs: list[_Job]) -> bool:
        """Add the jobs queued while the transaction began to `jobs`, run their works in
        one transaction without savepoints and commit it; False if that was rolled back
        instead (a work raised, or the transaction was aborted), to run them again each
        in its savepoint."""
        connection, transaction = self._begin()
        if not self._stopping:
            self._stopping = self._drain_into(jobs)
        unit = SqlUnitOfWork(connection, CursorExecutor(connection))
        for run in _runs(jobs):
            try:
                if len(run) == 1:
                    run[0].value = run[0].work(unit)
                else:
                    values = run[0].work.combine(unit, [job.work for job in run])  # type: ignore[attr-defined]
                    for job, value in zip(run, values, strict=True):
                        job.value = value
            except BaseException as exc:
                for job in run:
                    job.value = None
                self._roll_back(transaction)
                if len(jobs) > 1 or is_lock_conflict(exc):
                    return False
                job = run[0]
                job.attempts += 1
                job.error = exc
                return True
        if not _can_commit(connection):
            self._roll_back(transaction)
            return False
        transaction.commit()
        for job in jobs:
            job.done = True
        return True

    def _roll_back(self, transaction: RootTransaction) -> None:
        """Roll the writer's transaction back; a connection that cannot is dropped."""
        try:
            transaction.rollback()
        except Exception:
            self._drop_connection(invalidate=True)

    def _run_transaction(self, jobs: list[_Job]) -> None:
        """Run every job in its own savepoint inside one transaction, then commit."""
        connection, transaction = self._begin()
        with transaction:
            executor = CursorExecutor(connection)
            unit = SqlUnitOfWork(connection, executor)
            for job in jobs:
                _attempt(executor, unit, job)
        for job in jobs:
            if job.lost_race:
                job.lost_race = False
                if job.attempts >= MAX_ATTEMPTS:
                    job.error = Unavailable()
            elif job.error is None:
                job.done = True

    def _begin(self) -> tuple[Connection, RootTransaction]:
        """The writer's connection in a new write transaction, once the lock is ours.

        Waits at most `wait` seconds: for other processes' SQLite transactions (taking
        turns with them), or for a PostgreSQL server to answer again. Then `Unavailable`.
        """
        deadline = time.monotonic() + self._wait
        while True:
            try:
                connection = self._writer_connection()
                if self._turns is None:
                    return connection, connection.begin()
                return connection, self._begin_in_turn(connection, deadline=deadline)
            except OperationalError:
                self._drop_connection(invalidate=True)
                if time.monotonic() >= deadline:
                    raise
                time.sleep(_RECONNECT_PAUSE)

    def _begin_in_turn(self, connection: Connection, *, deadline: float) -> RootTransaction:
        assert self._turns is not None
        begun: list[RootTransaction] = []

        def attempt() -> bool:
            try:
                begun.append(connection.begin())
            except OperationalError as exc:
                if not is_sqlite_busy(exc):
                    raise
                return False
            return True

        self._turns.yield_to_waiters()
        if not self._turns.take(attempt, timeout=max(deadline - time.monotonic(), 0.001)):
            raise Unavailable("the database stayed locked by another process; try again")
        return begun[0]

    def _writer_connection(self) -> Connection:
        if self._connection is None:
            self._connection = for_writing(self._engine.connect())
        return self._connection

    def _drop_connection(self, *, invalidate: bool) -> None:
        """Let go of the writer's connection; `invalidate` discards the DBAPI connection
        too, as after a failed COMMIT its state is unknown."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if invalidate:
            connection.invalidate()
        connection.close()


class _IdleReaders:
    """Reader connections kept checked out between reads, up to `keep` of them.

    Why: checking a connection out of SQLAlchemy's pool and back in (with its events and
    its reset) cost ~90 µs of a ~110 µs empty read; beginning and rolling back a read
    transaction on a connection already held costs ~20 µs. A read takes one (the most
    recently used), runs its transaction on it, and gives it back; a read that fails on
    the database closes its connection instead, so a broken one is never reused. Reads
    running at once each hold their own, so at most as many are kept as ever ran at once
    (and never more than `keep`). `list.pop` and `list.append` are atomic.
    """

    def __init__(self, *, keep: int) -> None:
        self._keep = keep
        self._idle: list[Connection] = []

    def take(self) -> Connection | None:
        try:
            return self._idle.pop()
        except IndexError:
            return None

    def give_back(self, connection: Connection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while (connection := self.take()) is not None:
            connection.close()


_PG_IN_ERROR: Final = 3
"""libpq's `PQTRANS_INERROR` (psycopg's `TransactionStatus.INERROR`): an aborted transaction."""
_SAVEPOINT: Final = "SAVEPOINT optledger_work"
_RELEASE: Final = "RELEASE SAVEPOINT optledger_work"
_ROLLBACK_TO: Final = "ROLLBACK TO SAVEPOINT optledger_work"


def _attempt(executor: CursorExecutor, unit: UnitOfWork, job: _Job) -> None:
    """Run one job's work in a savepoint: keep its writes, or undo them and keep its error
    (or, if it lost a lock race, mark it to run again).

    The savepoint is plain SQL on the unit's DBAPI cursor rather than
    `Connection.begin_nested()`: SQLAlchemy compiles a differently named SAVEPOINT for
    every nested transaction, and that bookkeeping (about 55 µs per work against 15 µs
    through `exec_driver_sql`, and a few µs on the cursor) cost a third of the writer's
    throughput for one-statement writes. The savepoints never nest (works get
    repositories, not the connection), so one name serves, and SQLAlchemy's own
    transaction, which they live inside, is unaffected. Errors still arrive as
    `sqlalchemy.exc` errors (see `cursor`).
    """
    executor.run_driver_sql(_SAVEPOINT)
    job.attempts += 1
    try:
        job.value = job.work(unit)
    except BaseException as exc:
        job.value = None
        try:
            executor.run_driver_sql(_ROLLBACK_TO)
            executor.run_driver_sql(_RELEASE)
        except Exception as rollback_error:
            raise _Poisoned(job, exc) from rollback_error
        if is_lock_conflict(exc):
            job.lost_race = True
        else:
            job.error = exc
        return
    try:
        executor.run_driver_sql(_RELEASE)
    except Exception as release_error:
        raise _Poisoned(job, release_error) from None


def _runs(jobs: list[_Job]) -> Iterator[list[_Job]]:
    """The jobs in order, in runs to run together: consecutive jobs whose works carry the
    same `combine` (a `CombinedWorks`), each other job on its own."""
    run: list[_Job] = []
    combine: object = None
    for job in jobs:
        its = getattr(job.work, "combine", None)
        if run and (its is None or its != combine):
            yield run
            run = []
        run.append(job)
        combine = its
    if run:
        yield run


def _can_commit(connection: Connection) -> bool:
    """Whether COMMIT would keep everything the transaction did: PostgreSQL has not
    aborted it (after an error a work caught), SQLite has not rolled it back by itself
    (a full disk)."""
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        return bool(driver.info.transaction_status != _PG_IN_ERROR)
    return bool(driver.in_transaction)


def _fail_all(jobs: list[_Job], error: Callable[[], BaseException]) -> None:
    """Fail every job whose own work had not failed, each with its own exception."""
    for job in jobs:
        if job.error is None:
            job.error = error()


def _commit_failed(cause: Exception) -> CommitFailed:
    error = CommitFailed()
    error.__cause__ = cause
    return error


def _resolve(job: _Job) -> None:
    if job.error is not None:
        job.future.set_exception(job.error)
    else:
        job.future.set_result(job.value)
