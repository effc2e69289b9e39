"""One obvious database: the default location does not depend on the working directory,
every command names the database it uses, and a configured path that does not exist is an
error naming it, never a new, empty ledger."""

import base64
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from optledger.cli import app

SECRET = base64.urlsafe_b64encode(bytes(range(32))).decode()

Invoke = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, env: dict[str, str]) -> Path:
    """A home directory with nothing in it (`env` clears the outer OPTLEDGER_* variables)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def default_data(home: Path) -> Path:
    return home / ".local" / "share" / "optledger"


@pytest.fixture
def invoke(home: Path) -> Invoke:
    """`optledger ARGS…` with HOME set, XDG_DATA_HOME unset (unless `xdg_data_home` is
    given) and each OPTLEDGER_`name` of `variables` set."""
    runner = CliRunner()

    def run(*args: str, xdg_data_home: str | None = None, **variables: str) -> Result:
        env: dict[str, str | None] = {"HOME": str(home), "XDG_DATA_HOME": xdg_data_home}
        env |= {f"OPTLEDGER_{name}": value for name, value in variables.items()}
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return run


def test_commands_from_any_directory_share_the_default_database(
    invoke: Invoke, default_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    created = invoke("tenant", "create", "acme", "--json")
    monkeypatch.chdir(second)
    listed = invoke("tenant", "list", "--json")

    assert created.exit_code == 0
    assert listed.exit_code == 0
    assert '"name": "acme"' in listed.stdout
    for result in (created, listed):
        assert result.stderr == f"optledger: database {default_data}/optledger.db\n"
    assert stat.S_IMODE(default_data.stat().st_mode) == 0o700
    assert sorted(p.name for p in default_data.iterdir()) == [
        "optledger.db",
        "optledger.db-writers",  # writers take turns at the lock (storage/write_turns.py)
        "optledger.secret",
    ]
    assert list(first.iterdir()) == []
    assert list(second.iterdir()) == []


def test_xdg_data_home_holds_the_default_database(
    invoke: Invoke, tmp_path: Path, default_data: Path
):
    result = invoke("db", "upgrade", xdg_data_home=str(tmp_path / "xdg"))

    data = tmp_path / "xdg" / "optledger"
    assert result.exit_code == 0
    assert result.stdout == "database is at the latest migration\n"
    assert result.stderr == f"optledger: database {data}/optledger.db\n"
    assert sorted(p.name for p in data.iterdir()) == ["optledger.db"]
    assert not default_data.exists()


def test_a_mistyped_data_dir_is_an_error_naming_it_and_nothing_is_created(
    invoke: Invoke, tmp_path: Path, default_data: Path
):
    (tmp_path / "ledger").mkdir()
    typo = tmp_path / "dtaa" / "optledger"

    result = invoke("tenant", "create", "acme", DATA_DIR=str(typo))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"optledger: database {typo}/optledger.db\n"
        f"OPTLEDGER_DATA_DIR: {typo} does not exist; create it, or correct the variable "
        "(unset, the default location is used)\n"
    )
    assert not (tmp_path / "dtaa").exists()
    assert not default_data.exists()


def test_a_data_dir_that_is_a_file_is_an_error(invoke: Invoke, tmp_path: Path):
    path = tmp_path / "ledger"
    path.write_text("", encoding="ascii")

    result = invoke("tenant", "list", DATA_DIR=str(path))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [f"OPTLEDGER_DATA_DIR: {path} is not a directory"]


def test_every_command_that_opens_the_database_names_it(invoke: Invoke, tmp_path: Path):
    data = tmp_path / "ledger"
    data.mkdir()
    line = f"optledger: database {data}/optledger.db\n"
    commands = (
        ("db", "upgrade"),
        ("db", "check"),
        ("tenant", "list"),
        ("ledger", "verify", "--tenant", "nope"),
        ("check", "--tenant", "nope", "--topic", "news", "--channel", "email"),
    )

    for args in commands:
        result = invoke(*args, DATA_DIR=str(data))
        assert result.stderr.startswith(line), args
    assert invoke("--version", DATA_DIR=str(data)).stderr == ""


def test_a_sqlite_file_in_a_directory_that_does_not_exist_is_an_error(
    invoke: Invoke, tmp_path: Path, default_data: Path
):
    missing = tmp_path / "srv" / "optledgr"

    result = invoke(
        "tenant", "list", DATABASE_URL=f"sqlite:///{missing}/optledger.db", SECRET_KEY=SECRET
    )

    assert result.exit_code == 1
    assert result.stderr == (
        f"optledger: database {missing}/optledger.db\n"
        f"OPTLEDGER_DATABASE_URL: the directory {missing} does not exist; create it, or "
        "correct the URL\n"
    )
    assert not (tmp_path / "srv").exists()
    assert not default_data.exists()


def test_a_relative_sqlite_path_is_refused(invoke: Invoke):
    result = invoke("tenant", "list", DATABASE_URL="sqlite:///optledger.db")

    assert result.exit_code == 1
    assert result.stderr == (
        "OPTLEDGER_DATABASE_URL: a SQLite file needs an absolute path, "
        "sqlite:////path/to/optledger.db, so that it does not depend on the working directory\n"
    )


def test_a_postgresql_url_is_named_without_its_password(invoke: Invoke, default_data: Path):
    result = invoke(
        "tenant",
        "list",
        DATABASE_URL="postgresql+psycopg://ann:hunter2@127.0.0.1:9/ledger?password=hunter2",
        SECRET_KEY=SECRET,
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "optledger: database postgresql+psycopg://ann:***@127.0.0.1:9/ledger?password=***"
    )
    assert "hunter2" not in result.output
    # Neither the secret file nor the database is in the data directory: none is made.
    assert not default_data.exists()


def test_an_optledger_db_in_the_working_directory_that_is_not_in_use_is_pointed_out(
    invoke: Invoke, default_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    old = tmp_path / "old"
    old.mkdir()
    (old / "optledger.db").write_bytes(b"")
    monkeypatch.chdir(old)

    result = invoke("tenant", "list")

    assert result.exit_code == 0
    assert result.stderr == (
        f"optledger: database {default_data}/optledger.db\n"
        f"optledger: warning: {old}/optledger.db is not the database in use; to use it, set "
        f"OPTLEDGER_DATA_DIR={old}\n"
    )


def test_the_database_in_use_is_not_a_stray_one(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "ledger"
    data.mkdir()
    monkeypatch.chdir(data)
    assert invoke("tenant", "list", DATA_DIR=str(data)).exit_code == 0

    result = invoke("tenant", "list", DATA_DIR=str(data))

    assert result.stderr == f"optledger: database {data}/optledger.db\n"


def test_at_log_level_warning_the_database_line_is_left_out(invoke: Invoke, tmp_path: Path):
    result = invoke("tenant", "list", "--json", LOG_LEVEL="warning")

    assert result.exit_code == 0
    assert result.stdout == "[]\n"
    assert result.stderr == ""
