"""CLI tests: every command runs against its own data directory under tmp_path.

The environment is passed explicitly: OPTLEDGER_* variables of the outer environment are
removed, and the working directory is an empty temporary one, so no test can pick up a
database, secret or setting from the machine it runs on.
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
from optledger.config import Settings
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
    return {"OPTLEDGER_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    """Invoke `optledger ARGS…` in-process with the test's environment."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

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
