"""`optledger import suppressions` as a real process: killed part way, then run again.

SIGKILL after some batches leaves a consistent ledger (state == replayed events) holding
exactly the committed batches; running the same command again resumes after them and
ends where an uninterrupted import ends. On a terminal, the command shows its two phases.
On SQLite (the data directory's file) and PostgreSQL.
"""

import csv
import io
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from optledger.storage.engine import make_engine
from optledger.storage.tables import import_runs
from tests.conftest import DATABASES, truncate_all

OPTLEDGER = [sys.executable, "-m", "optledger"]
ROWS = 20_000


@pytest.fixture(params=DATABASES)
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Engine]]:
    """The environment of the commands, and an engine to look into their database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(tmp_path / "data")
    env["OPTLEDGER_LOG_LEVEL"] = "warning"  # no "optledger: database …" line on stderr
    (tmp_path / "data").mkdir()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'optledger.db'}"
    else:
        url, cleaner = request.getfixturevalue("postgres_session_database")
        truncate_all(cleaner)
        env["OPTLEDGER_DATABASE_URL"] = url
    optledger(env, "tenant", "create", "acme")
    optledger(env, "tenant", "create", "globex")
    engine = make_engine(url)
    try:
        yield env, engine
    finally:
        engine.dispose()


def optledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )


def applied(engine: Engine) -> tuple[int, bool]:
    """(rows applied, finished) of the only import run, (0, False) before there is one."""
    with engine.connect() as connection:
        row = connection.execute(select(import_runs.c.applied, import_runs.c.finished_at)).first()
    return (0, False) if row is None else (row.applied, row.finished_at is not None)


def exported(env: dict[str, str], tenant: str) -> list[tuple[str, str, str]]:
    result = optledger(env, "export", "suppressions", "--tenant", tenant)
    assert result.returncode == 0, result.stderr
    rows = csv.DictReader(io.StringIO(result.stdout))
    return sorted((r["channel"], r["address"], r["reason"]) for r in rows)


def run_on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; (exit code, stdout, what the terminal got)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, *args],
        env={**env, "TERM": "xterm", "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the process closed its end
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    stdout, _ = process.communicate(timeout=300)
    reader.join()
    os.close(controller)
    return process.returncode, stdout, b"".join(shown).decode(errors="replace")


def test_a_killed_import_is_consistent_and_resumes_when_run_again(database, tmp_path):
    env, engine = database
    source = tmp_path / "optouts.csv"
    source.write_text(
        "email,reason\n" + "".join(f"user{n}@example.com,r{n % 7}\n" for n in range(ROWS)),
        encoding="utf-8",
    )
    command = ["import", "suppressions", "--tenant", "acme", str(source)]

    importer = subprocess.Popen(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while applied(engine)[0] < 1_500 and time.monotonic() < deadline:
            assert importer.poll() is None, "the import ended before it could be killed"
            time.sleep(0.02)
        importer.send_signal(signal.SIGKILL)
        importer.wait()
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    written, finished = applied(engine)
    assert 1_500 <= written < ROWS
    assert not finished
    verified = optledger(env, "ledger", "verify", "--tenant", "acme")
    assert (verified.returncode, verified.stdout) == (0, f"consistent ({written} events)\n")

    code, stdout, terminal = run_on_a_terminal(env, *command)

    assert (code, stdout) == (0, f"rows {ROWS}, changed {ROWS}, repeated 0, skipped 0\n")
    assert "1/2 checking" in terminal
    assert f"2/2 writing (resuming after row {written})" in terminal
    assert (
        f"resumed an unfinished import of the same rows: {written} of them had been "
        "written before" in terminal
    )
    assert "Traceback" not in terminal
    assert applied(engine) == (ROWS, True)
    verified = optledger(env, "ledger", "verify", "--tenant", "acme")
    assert (verified.returncode, verified.stdout) == (0, f"consistent ({ROWS} events)\n")

    # The same file imported without interruption into another tenant ends the same.
    uninterrupted = optledger(env, "import", "suppressions", "--tenant", "globex", str(source))
    assert (uninterrupted.returncode, uninterrupted.stderr) == (0, "")
    assert exported(env, "acme") == exported(env, "globex")
    assert len(exported(env, "acme")) == ROWS
    verified = optledger(env, "ledger", "verify", "--tenant", "globex")
    assert verified.stdout == f"consistent ({ROWS} events)\n"
