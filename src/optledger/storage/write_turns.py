"""`WriteTurns`: processes writing one SQLite file take turns at its write lock.

Why: SQLite lets one connection write at a time. Its own busy handler makes a writer
that finds the lock taken sleep in steps that grow to 100 ms and give up after the busy
timeout, and it gives the lock to whoever asks at the right instant, not to whoever has
waited longest. With a server and a CLI import on one file, an opt-out could then wait
out the whole import and fail ("database is locked"), which must never happen.

How, for one writer per process (`SqlTransactions` owns one `WriteTurns`):
- A writer that finds the lock taken (`SQLITE_BUSY` at `BEGIN IMMEDIATE`, which is
  attempted without SQLite's busy handler) holds a shared `flock` on a small file beside
  the database, `<database>-writers`, while it tries again every `POLL` seconds. The
  flock says "someone waits"; it is released once the writer has the lock (or gives up).
- A writer that has just ended a transaction asks, with one non-blocking exclusive
  `flock` on its own open file, whether anyone waits. If so, it pauses before its next
  transaction until the waiters have taken the lock (at most `YIELD_LIMIT`).

So two busy processes alternate, one transaction each, and a waiting writer never waits
longer than the transaction in progress plus one poll. flock locks belong to open files,
not processes, so two `WriteTurns` in one process take turns just as two processes do,
and the kernel drops a crashed process's flocks with its files.
"""

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["POLL", "YIELD_LIMIT", "WriteTurns"]

POLL: Final = 0.0005
"""Seconds between a waiting writer's attempts at the lock."""
YIELD_LIMIT: Final = 0.1
"""The longest a writer pauses for waiters before it writes again regardless."""

SUFFIX: Final = "-writers"


class WriteTurns:
    """Turn-taking at the write lock of the SQLite database at `database`."""

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + SUFFIX)
        self._descriptor: int | None = None
        self._lock = threading.Lock()

    def take(self, attempt: Callable[[], bool], *, timeout: float) -> bool:
        """Call `attempt` (it returns whether it took the lock) until it succeeds or
        `timeout` seconds have passed; True if it succeeded. While it waits, others see
        that it does."""
        if attempt():
            return True
        deadline = time.monotonic() + timeout
        descriptor = self._file()
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        try:
            while time.monotonic() < deadline:
                time.sleep(POLL)
                if attempt():
                    return True
            return False
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def yield_to_waiters(self) -> None:
        """Pause while another writer waits for the lock, for at most `YIELD_LIMIT`."""
        descriptor = self._file()
        deadline = time.monotonic() + YIELD_LIMIT
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(POLL)
                continue
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            return

    def close(self) -> None:
        with self._lock:
            descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)

    def _file(self) -> int:
        with self._lock:
            if self._descriptor is None:
                self._descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            return self._descriptor
