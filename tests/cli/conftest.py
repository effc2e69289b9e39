"""CLI tests: every command runs against its own data directory under tmp_path.

The environment is passed explicitly: OPTLEDGER_* variables of the outer environment are
removed, and the working directory is an empty temporary one, so no test can pick up a
database, secret or setting from the machine it runs on.

Every command that opens the database first names it on stderr. `run` checks that this
line names the test's own database and hands the test the rest of stderr, so each test
asserts its command's own messages; tests/cli/test_database_location.py asserts the
line itself.
"""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from typer.testing import CliRunner, Result

from optledger.bootstrap import build
from optledger.cli import app
from optledger.cli.common import DATABASE_NOTE
from optledger.config import DATABASE_FILE, Settings
from optledger.services import Services


class Run(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("OPTLEDGER_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    data = tmp_path / "data"
    data.mkdir()
    return {"OPTLEDGER_DATA_DIR": str(data)}


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    """Invoke `optledger ARGS…` in-process with the test's environment; the line naming
    the test's database is taken off the start of stderr (a line naming any other
    database is left there, for the test to fail on)."""
    runner = CliRunner()
    note = f"{DATABASE_NOTE}{Path(env['OPTLEDGER_DATA_DIR']) / DATABASE_FILE}\n".encode()

    def invoke(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
        if not result.stderr_bytes.startswith(note):
            return result
        return Result(
            runner=runner,
            stdout_bytes=result.stdout_bytes,
            stderr_bytes=result.stderr_bytes.removeprefix(note),
            output_bytes=result.output_bytes.replace(note, b"", 1),
            return_value=result.return_value,
            exit_code=result.exit_code,
            exception=result.exception,
            exc_info=result.exc_info,
        )

    return invoke


@pytest.fixture
def services(env: dict[str, str]) -> Callable[[], Any]:
    """Open the services on the test's data directory, as a second process would."""

    @contextmanager
    def open_services() -> Iterator[Services]:
        with build(Settings.from_env(env)) as runtime:
            yield runtime.services

    return open_services


@pytest.fixture
def tenant(run: Run) -> dict[str, Any]:
    """The tenant `acme`, created through the CLI: its JSON and its admin key."""
    result = run("tenant", "create", "acme", "--json")
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created
