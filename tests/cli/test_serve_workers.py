"""`optledger serve --workers 2` as real processes: a supervisor and two workers on one
socket. Which worker answers is made certain by stopping the other (SIGSTOP): a stopped
process accepts nothing, so every new connection goes to the one left running."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from optledger.bootstrap import StartupError
from optledger.cli.prefork import STARTUP_FAILURE, _ended, _Slot, supervise
from tests.cli.conftest import Run
from tests.live import free_port, serving

WAIT = 30.0
"""Seconds a test waits for processes to start or end."""


@dataclass(frozen=True)
class Supervised:
    process: subprocess.Popen[bytes]
    base: str
    port: int
    key: str
    log: Path


@pytest.fixture
def supervised(run: Run, env: dict[str, str], tmp_path: Path) -> Iterator[Supervised]:
    created = run("tenant", "create", "acme", "--json")
    assert created.exit_code == 0, created.output
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    outer = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    command = [sys.executable, "-m", "optledger", "serve", "--port", str(port), "--workers", "2"]
    with serving(command, base_url=base, env={**outer, **env}, cwd=tmp_path, log=log) as process:
        yield Supervised(process, base, port, json.loads(created.stdout)["api_key"], log)


def children(pid: int) -> list[int]:
    """The processes `pid` started that have not been reaped."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return sorted(int(child) for child in text.split())


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def workers(supervisor: int, *, besides: tuple[int, ...] = ()) -> list[int]:
    """The supervisor's two workers, once it has two and none of them is in `besides`."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [pid for pid in children(supervisor) if running(pid)]
        if len(found) == 2 and not set(found) & set(besides):
            return found
        time.sleep(0.05)
    raise AssertionError(f"no two workers besides {besides}: {children(supervisor)}")


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """`pid` stopped (SIGSTOP) for the block, continued afterwards whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def health(base: str) -> int:
    """The status of `GET /healthz` on a new connection."""
    with httpx2.Client(base_url=base, timeout=WAIT) as client:
        return client.get("/healthz").status_code


def log_lines(log: Path, containing: str) -> list[str]:
    """The log's lines that contain `containing`, without their time stamps."""
    lines = log.read_text(errors="replace").splitlines()
    return [line.split(" ", 2)[2] for line in lines if containing in line]


def free(port: int) -> bool:
    """Whether `port` can be listened on, so no process listens on it."""
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            again.bind(("127.0.0.1", port))
        except OSError:
            return False
        again.listen()
    return True


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.05)


def test_each_worker_answers_a_killed_one_is_replaced_and_sigterm_stops_all(supervised):
    supervisor = supervised.process.pid
    first, second = workers(supervisor)
    with stopped(second):
        assert health(supervised.base) == 200  # answered by `first`
    with stopped(first):
        assert health(supervised.base) == 200  # answered by `second`

    os.kill(first, signal.SIGKILL)
    replacement = next(p for p in workers(supervisor, besides=(first,)) if p != second)
    with stopped(second):
        assert health(supervised.base) == 200  # answered by the replacement
    # Its successor ends quickly too: the next one waits.
    os.kill(replacement, signal.SIGKILL)
    last = next(p for p in workers(supervisor, besides=(replacement,)) if p != second)
    with stopped(second):
        assert health(supervised.base) == 200  # answered by `last`
    assert log_lines(supervised.log, "ended by signal") == [
        f"WARNING uvicorn.error: Server process [{first}] ended by signal SIGKILL; "
        "starting another in 0.0 s",
        f"WARNING uvicorn.error: Server process [{replacement}] ended by signal SIGKILL; "
        "starting another in 0.5 s",
    ]

    supervised.process.send_signal(signal.SIGTERM)
    assert supervised.process.wait(timeout=WAIT) == -signal.SIGTERM
    assert not running(second)
    assert not running(last)
    finished = log_lines(supervised.log, "Finished server process")
    assert sorted(finished) == sorted(
        f"INFO uvicorn.error: Finished server process [{pid}]" for pid in (second, last)
    )
    data = supervised.log.parent / "data"
    # Every worker closed its database connections: SQLite removed its WAL files. (The
    # writers' turn file is the CLI's, which created the tenant.)
    assert sorted(p.name for p in data.iterdir()) == [
        "optledger.db",
        "optledger.db-writers",
        "optledger.secret",
    ]


def test_workers_end_with_a_supervisor_killed_by_sigkill(supervised):
    both = workers(supervised.process.pid)

    supervised.process.kill()
    supervised.process.wait(timeout=WAIT)

    wait_for(lambda: not any(running(pid) for pid in both), "both workers end")
    # Nothing listens on the port any more: it can be taken again. (Connecting instead
    # could connect to itself, from the same ephemeral port.)
    wait_for(lambda: free(supervised.port), "the port is free")


def test_each_worker_counts_its_share_of_the_failed_authentications(supervised):
    """20 failures a minute per address in all (the default), so 10 in each of two."""
    first, second = workers(supervised.process.pid)
    for running_one, other in ((first, second), (second, first)):
        with stopped(other), httpx2.Client(base_url=supervised.base, timeout=WAIT) as client:
            statuses = [
                client.get("/v1/topics", headers={"Authorization": "Bearer olk_wrong"}).status_code
                for _ in range(12)
            ]
        assert statuses == [401] * 10 + [429] * 2, running_one


def test_a_bad_workers_option_names_it(run: Run):
    result = run("serve", "--workers", "0")

    assert result.exit_code == 2
    assert "Invalid value for '--workers'" in result.stderr


def test_a_bad_workers_variable_names_it(run: Run, env: dict[str, str]):
    env["OPTLEDGER_WORKERS"] = "all"

    result = run("serve")

    assert (result.exit_code, result.stderr) == (
        1,
        "OPTLEDGER_WORKERS: must be an integer between 1 and 256\n",
    )


def test_processes_that_ended_together_are_all_reaped_and_their_slots_emptied_at_once():
    # The supervisor handles ended workers one by one, and the first may raise (a worker
    # that could not start); a later one it had reaped must not keep its pid, which the
    # stop that follows would signal (another process's, or none: ProcessLookupError).
    slots = [_Slot(pid=_exited_child(code=STARTUP_FAILURE)), _Slot(pid=_exited_child(code=0))]
    pids = [slot.pid for slot in slots]

    ended = _ended(slots)

    assert [(pid, os.waitstatus_to_exitcode(status)) for _, pid, status in ended] == [
        (pids[0], STARTUP_FAILURE),
        (pids[1], 0),
    ]
    assert [slot.pid for slot in slots] == [None, None]


def _exited_child(*, code: int) -> int:
    """A forked child that has exited with `code` and is not reaped yet (a zombie)."""
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    deadline = time.monotonic() + WAIT
    while Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z":
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    return pid


def test_a_first_worker_that_cannot_start_stops_the_supervisor():
    with pytest.raises(StartupError) as caught:
        supervise(workers=2, work=lambda: STARTUP_FAILURE)

    assert str(caught.value) == "a server process could not start; see the messages above"
    assert children(os.getpid()) == []
