import sqlite3

import pytest

from optledger.bootstrap import StartupError
from optledger.cli.errors import exit_code, messages
from optledger.config import ConfigError
from optledger.domain.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    InvalidLinkToken,
    NotFound,
    Unavailable,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInput.of("name", "is bad"), 2),
        (NotFound(kind="tenant", key="x"), 3),
        (Conflict("name: taken"), 4),
        (Forbidden("no"), 5),
        (AuthenticationFailed(), 1),
        (InvalidLinkToken(), 1),
        (ConfigError("OPTLEDGER_PORT: bad"), 1),
        (StartupError("down"), 1),
        (Unavailable(), 7),
        (RuntimeError("a bug"), None),
    ],
)
def test_exit_codes(error, code):
    assert exit_code(error) == code


def test_invalid_input_gives_one_line_per_field():
    error = InvalidInput(FieldError("a", "is bad"), FieldError("b.c", "is worse"))
    assert messages(error) == ["a: is bad", "b.c: is worse"]


def test_bad_setting_exits_with_1_naming_the_variable(run, env):
    env["OPTLEDGER_PORT"] = "0"

    result = run("tenant", "list")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "OPTLEDGER_PORT: must be an integer between 1 and 65535\n"


def test_a_bad_secret_key_is_never_echoed(run, env):
    env["OPTLEDGER_SECRET_KEY"] = "c2hvcnQtYnV0LXNlY3JldA"

    result = run("tenant", "list")

    assert result.exit_code == 1
    assert result.stderr == (
        "OPTLEDGER_SECRET_KEY: must be base64url of at least 32 random bytes\n"
    )
    assert "c2hvcnQ" not in result.output


def test_a_database_url_with_a_password_is_never_echoed(run, env):
    env["OPTLEDGER_DATABASE_URL"] = "mysql://user:hunter2@db/optledger"

    result = run("tenant", "list")

    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert result.stderr.startswith("OPTLEDGER_DATABASE_URL: must be a sqlite:/// or postgresql://")


def test_a_database_locked_past_the_write_timeout_exits_with_7(run, env, tmp_path):
    env["OPTLEDGER_WRITE_TIMEOUT"] = "1"
    assert run("tenant", "create", "acme").exit_code == 0
    foreign = sqlite3.connect(tmp_path / "data" / "optledger.db", isolation_level=None)
    try:
        foreign.execute("BEGIN IMMEDIATE")
        result = run("topic", "create", "--tenant", "acme", "news", "--name", "News")
    finally:
        foreign.close()

    assert result.exit_code == 7
    assert result.stdout == ""
    assert result.stderr == "the database stayed locked by another process; try again\n"
    assert run("topic", "create", "--tenant", "acme", "news", "--name", "News").exit_code == 0


def test_version(run):
    result = run("--version")

    assert result.exit_code == 0
    assert result.stdout == "optledger 0.1.0\n"
