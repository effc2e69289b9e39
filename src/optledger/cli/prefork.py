"""Several server processes on one listening socket: the supervisor of `optledger serve`.

Why not uvicorn's own (`workers=`): it starts its workers with multiprocessing's spawn,
which needs the app as an import string and a picklable configuration (the bounded HTTP
protocol class is made per configuration), restarts a dead worker at once however often it
dies, and leaves its workers serving when it is itself killed with SIGKILL. This one is a
few forks (docs/decisions/0019-server-processes.md):

- The supervisor forks `workers` processes after the socket is bound and the database is
  migrated; each one runs `work` (its own services, writer and event loop) and exits with
  its result. The supervisor opens no database itself and starts no threads, so forking it
  is safe.
- A worker that ends while the supervisor runs is started again: at once the first time,
  then, while its successors keep ending within `STEADY` seconds, after a pause that
  doubles from `FIRST_PAUSE` up to `LONGEST_PAUSE`, so a crash loop does not spin.
- A worker of the first round that ends with `STARTUP_FAILURE` (it could not start, and
  has said why on stderr) stops them all: the command exits with StartupError, as one
  process does when it cannot start.
- SIGTERM or SIGINT: every worker gets SIGTERM and shuts down gracefully (uvicorn's
  shutdown, then the runtime's close); a second signal is passed on (a second SIGINT makes
  uvicorn stop at once). `supervise` returns the signal once they have all ended.
- If the supervisor itself dies, even by SIGKILL, each worker kills itself at once with
  SIGKILL: it reads a pipe whose only writing end the supervisor holds, and the read
  returns when that end is closed. No worker goes on serving without its supervisor, and
  a killed supervisor is a crash of the whole server (acknowledged writes are durable).

The supervisor waits for signals with `sigtimedwait` while they are blocked, so no signal
handler runs at an awkward moment; the workers get the mask as it was before.
"""

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn

from optledger.bootstrap import StartupError

__all__ = ["FIRST_PAUSE", "LONGEST_PAUSE", "STARTUP_FAILURE", "STEADY", "supervise"]

STARTUP_FAILURE: Final = 3
"""A worker's exit code when it could not start (uvicorn's own code for that)."""
FIRST_PAUSE: Final = 0.5
"""Seconds before a worker is started again after the second quick end in a row."""
LONGEST_PAUSE: Final = 30.0
STEADY: Final = 10.0
"""A worker that ran this long (seconds) was healthy: its successor starts at once."""

_STOP: Final = frozenset({signal.SIGTERM, signal.SIGINT})
_WATCHED: Final = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})
_FAILED_START: Final = "a server process could not start; see the messages above"

_log = logging.getLogger("uvicorn.error")


@dataclass(slots=True)
class _Slot:
    """One worker's place: the process in it now, and how its predecessors fared."""

    pid: int | None = None
    started_at: float = 0.0
    due: float = 0.0
    """When to start the next process, while `pid` is None."""
    quick_ends: int = 0
    """Processes in a row that ended within `STEADY` seconds."""
    restarted: bool = False


def supervise(*, workers: int, work: Callable[[], int]) -> int:
    """Run `work` in `workers` processes, keeping them running until SIGTERM or SIGINT,
    and return that signal once they have all ended. StartupError if a first one could
    not start."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    alive_read, alive_write = os.pipe()
    pipe = (alive_read, alive_write)
    slots = [_Slot() for _ in range(workers)]
    try:
        for slot in slots:
            _start(slot, work=work, pipe=pipe, mask=mask)
        stop = _watch(slots, work=work, pipe=pipe, mask=mask)
    finally:
        try:
            # Gracefully, before the pipe closes: closing it kills the workers.
            _stop_all(slots)
        finally:
            os.close(alive_read)
            os.close(alive_write)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return stop


def _watch(
    slots: list[_Slot], *, work: Callable[[], int], pipe: tuple[int, int], mask: set[int]
) -> int:
    """Keep every slot filled until a stop signal arrives; return it."""
    while True:
        empty = [slot.due for slot in slots if slot.pid is None]
        timeout = max(0.0, min(empty) - time.monotonic()) if empty else None
        if timeout is None:
            received = signal.sigwaitinfo(_WATCHED).si_signo
        else:
            info = signal.sigtimedwait(_WATCHED, timeout)
            received = info.si_signo if info is not None else 0
        if received in _STOP:
            return received
        for slot, pid, status in _ended(slots):
            _after_end(slot, pid=pid, status=status)
        now = time.monotonic()
        for slot in slots:
            if slot.pid is None and slot.due <= now:
                _start(slot, work=work, pipe=pipe, mask=mask)


def _after_end(slot: _Slot, *, pid: int, status: int) -> None:
    """Schedule the successor of the process `pid` that just left `slot` with `status`."""
    code = os.waitstatus_to_exitcode(status)
    if code == STARTUP_FAILURE and not slot.restarted:
        raise StartupError(_FAILED_START)
    now = time.monotonic()
    slot.quick_ends = slot.quick_ends + 1 if now - slot.started_at < STEADY else 0
    pause = (
        0.0
        if slot.quick_ends <= 1
        else min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** (slot.quick_ends - 2))
    )
    how = f"with exit code {code}" if code >= 0 else f"by signal {signal.Signals(-code).name}"
    _log.warning("Server process [%d] ended %s; starting another in %.1f s", pid, how, pause)
    slot.due = now + pause
    slot.restarted = True


def _ended(slots: list[_Slot]) -> list[tuple[_Slot, int, int]]:
    """The slots whose process has ended, each with that pid and its wait status. Each is
    reaped and its slot emptied here, at once: a pid once reaped may be another process's,
    so nothing may signal it, even if handling an earlier slot raises."""
    ended = []
    for slot in slots:
        if slot.pid is None:
            continue
        pid, status = os.waitpid(slot.pid, os.WNOHANG)
        if pid:
            slot.pid = None
            ended.append((slot, pid, status))
    return ended


def _start(slot: _Slot, *, work: Callable[[], int], pipe: tuple[int, int], mask: set[int]) -> None:
    pid = os.fork()
    if pid == 0:
        _worker(work, pipe=pipe, mask=mask)
    slot.pid = pid
    slot.started_at = time.monotonic()


def _worker(work: Callable[[], int], *, pipe: tuple[int, int], mask: set[int]) -> NoReturn:
    """The forked process: `work`'s result as its exit code, and death with the supervisor."""
    code = 1
    try:
        alive_read, alive_write = pipe
        os.close(alive_write)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        threading.Thread(
            target=_die_with_supervisor,
            args=(alive_read,),
            name="optledger-supervisor-watch",
            daemon=True,
        ).start()
        code = work()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException as exc:  # a bug: named by its type only (cli/logs.py)
        _log.error("Server process [%d] failed: %s", os.getpid(), type(exc).__name__)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_supervisor(alive_read: int) -> None:
    """Block until the supervisor's end of the pipe is closed (it exited or was killed),
    then end this process as abruptly as it ended."""
    while os.read(alive_read, 1):
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _stop_all(slots: list[_Slot]) -> None:
    """SIGTERM to every worker, and wait until they have all ended; a further stop signal
    is passed on to them as it is."""
    for slot in slots:
        _signal(slot, signal.SIGTERM)
    while any(slot.pid is not None for slot in slots):
        info = signal.sigtimedwait(_WATCHED, 0.5)
        if info is not None and info.si_signo in _STOP:
            for slot in slots:
                _signal(slot, info.si_signo)
        _ended(slots)


def _signal(slot: _Slot, number: int) -> None:
    if slot.pid is not None:  # not reaped yet, so the pid is still this worker's
        os.kill(slot.pid, number)
