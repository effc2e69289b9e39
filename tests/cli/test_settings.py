import base64
import re
from pathlib import Path

import pytest

from optledger.config import ConfigError, Settings

SECRET = bytes(range(32))
SECRET_TEXT = base64.urlsafe_b64encode(SECRET).decode().rstrip("=")


def test_defaults_keep_the_data_in_the_xdg_data_directory_under_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"HOME": "/home/ann"})

    data = Path("/home/ann/.local/share/optledger")
    assert settings == Settings(
        data_dir=data,
        database_url=f"sqlite:///{data}/optledger.db",
        secret_key=None,
        public_url="http://127.0.0.1:8000",
        host="127.0.0.1",
        port=8000,
        write_batch=256,
        write_timeout=20,
        log_level="info",
        create_data_dir=True,
    )
    assert settings.database_url.startswith("sqlite:////")
    assert settings.secret_file == data / "optledger.secret"


def test_the_default_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = Settings.from_env({"HOME": "/home/ann"})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    assert Settings.from_env({"HOME": "/home/ann"}) == here


def test_xdg_data_home_comes_before_home():
    settings = Settings.from_env({"HOME": "/home/ann", "XDG_DATA_HOME": "/data/ann"})

    assert settings.data_dir == Path("/data/ann/optledger")
    assert settings.create_data_dir is True


def test_a_relative_xdg_data_home_is_ignored_as_the_xdg_specification_says():
    settings = Settings.from_env({"HOME": "/home/ann", "XDG_DATA_HOME": "data"})

    assert settings.data_dir == Path("/home/ann/.local/share/optledger")


def test_without_home_the_data_dir_must_be_set():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({})

    assert str(caught.value) == (
        "OPTLEDGER_DATA_DIR: is not set, and neither XDG_DATA_HOME nor HOME names an "
        "absolute directory to keep the database in by default; set it to the data directory"
    )


def test_a_configured_data_dir_is_never_created():
    settings = Settings.from_env({"HOME": "/home/ann", "OPTLEDGER_DATA_DIR": "/srv/optledger"})

    assert settings.data_dir == Path("/srv/optledger")
    assert settings.create_data_dir is False


def test_a_data_dir_under_the_home_directory(monkeypatch):
    settings = Settings.from_env({"HOME": "/home/ann", "OPTLEDGER_DATA_DIR": "~/ledger"})

    assert settings.data_dir == Path("/home/ann/ledger")


def test_every_variable(tmp_path):
    settings = Settings.from_env(
        {
            "OPTLEDGER_DATA_DIR": str(tmp_path),
            "OPTLEDGER_DATABASE_URL": "postgresql+psycopg://u:p@db/optledger",
            "OPTLEDGER_SECRET_KEY": SECRET_TEXT,
            "OPTLEDGER_PUBLIC_URL": "https://optout.example.com/",
            "OPTLEDGER_HOST": "10.1.2.3",
            "OPTLEDGER_PORT": "9000",
            "OPTLEDGER_WORKERS": "3",
            "OPTLEDGER_WRITE_BATCH": "64",
            "OPTLEDGER_WRITE_TIMEOUT": "5",
            "OPTLEDGER_LOG_LEVEL": "DEBUG",
            "OPTLEDGER_LINK_KEYS": " 3, 1 ",
            "UNRELATED": "ignored",
        }
    )

    assert settings == Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://u:p@db/optledger",
        secret_key=SECRET,
        public_url="https://optout.example.com",
        link_keys=(3, 1),
        host="10.1.2.3",
        port=9000,
        workers=3,
        write_batch=64,
        write_timeout=5,
        log_level="debug",
    )


def test_a_relative_data_dir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"OPTLEDGER_DATA_DIR": "state"})

    assert settings.data_dir == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{tmp_path}/state/optledger.db"


def test_empty_values_count_as_unset(tmp_path):
    settings = Settings.from_env({"OPTLEDGER_DATA_DIR": str(tmp_path), "OPTLEDGER_PORT": " "})

    assert settings.port == 8000


def test_padded_secret_is_accepted():
    padded = base64.urlsafe_b64encode(SECRET).decode()
    assert padded.endswith("=")

    settings = Settings.from_env({"OPTLEDGER_DATA_DIR": "/srv", "OPTLEDGER_SECRET_KEY": padded})

    assert settings.secret_key == SECRET


def test_secrets_stay_out_of_repr(tmp_path):
    settings = Settings.from_env(
        {
            "OPTLEDGER_DATA_DIR": str(tmp_path),
            "OPTLEDGER_DATABASE_URL": "postgresql://u:hunter2@db/x",
            "OPTLEDGER_SECRET_KEY": SECRET_TEXT,
        }
    )

    assert "hunter2" not in repr(settings)
    assert SECRET_TEXT not in repr(settings)
    assert repr(SECRET) not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "0", "OPTLEDGER_PORT: must be an integer between 1 and 65535"),
        ("PORT", "65536", "OPTLEDGER_PORT: must be an integer between 1 and 65535"),
        ("PORT", "http", "OPTLEDGER_PORT: must be an integer between 1 and 65535"),
        ("PORT", "-1", "OPTLEDGER_PORT: must be an integer between 1 and 65535"),
        ("PORT", "٣", "OPTLEDGER_PORT: must be an integer between 1 and 65535"),
        ("WRITE_BATCH", "0", "OPTLEDGER_WRITE_BATCH: must be an integer between 1 and 10000"),
        *(
            ("WORKERS", value, "OPTLEDGER_WORKERS: must be an integer between 1 and 256")
            for value in ("0", "257", "two", "-1", "1.5")
        ),
        *(
            (
                "LINK_KEYS",
                value,
                "OPTLEDGER_LINK_KEYS: must be distinct key ids between 1 and 255, newest "
                "first, e.g. 2,1",
            )
            for value in ("0", "256", "2,2", "2,,1", "two", "1;2")
        ),
        ("WRITE_BATCH", "1e3", "OPTLEDGER_WRITE_BATCH: must be an integer between 1 and 10000"),
        ("WRITE_TIMEOUT", "0", "OPTLEDGER_WRITE_TIMEOUT: must be an integer between 1 and 3600"),
        (
            "LOG_LEVEL",
            "verbose",
            "OPTLEDGER_LOG_LEVEL: must be one of critical, error, warning, info, debug",
        ),
        ("HOST", "local host", "OPTLEDGER_HOST: must be a host name or an IP address"),
        (
            "PUBLIC_URL",
            "optout.example.com",
            "OPTLEDGER_PUBLIC_URL: must be an absolute http:// or https:// URL",
        ),
        (
            "PUBLIC_URL",
            "ftp://optout.example.com",
            "OPTLEDGER_PUBLIC_URL: must be an absolute http:// or https:// URL",
        ),
        (
            "PUBLIC_URL",
            "https://optout.example.com:http",
            "OPTLEDGER_PUBLIC_URL: must be an absolute http:// or https:// URL",
        ),
        (
            "PUBLIC_URL",
            "https://optout.example.com/?a=1",
            "OPTLEDGER_PUBLIC_URL: must not have a query, a fragment or credentials",
        ),
        (
            "DATABASE_URL",
            "mysql://u:hunter2@db/x",
            "OPTLEDGER_DATABASE_URL: must be a sqlite:/// or postgresql:// URL, "
            "e.g. postgresql+psycopg://user:password@host/optledger",
        ),
        (
            "DATABASE_URL",
            "optledger.db",
            "OPTLEDGER_DATABASE_URL: must be a sqlite:/// or postgresql:// URL, "
            "e.g. postgresql+psycopg://user:password@host/optledger",
        ),
        (
            "SECRET_KEY",
            base64.urlsafe_b64encode(bytes(31)).decode(),
            "OPTLEDGER_SECRET_KEY: must be base64url of at least 32 random bytes",
        ),
        (
            "SECRET_KEY",
            "not base64 at all but long enough to be a key!!",
            "OPTLEDGER_SECRET_KEY: must be base64url of at least 32 random bytes",
        ),
        (
            "SECRET_KEY",
            base64.b64encode(b"\xfb" * 33).decode(),
            "OPTLEDGER_SECRET_KEY: must be base64url of at least 32 random bytes",
        ),
    ],
)
def test_bad_values_name_the_variable_and_the_rule_not_the_value(variable, value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        Settings.from_env({"OPTLEDGER_DATA_DIR": "/srv/optledger", f"OPTLEDGER_{variable}": value})


def test_from_env_does_not_touch_the_file_system(tmp_path):
    target = tmp_path / "not" / "yet"

    Settings.from_env({"OPTLEDGER_DATA_DIR": str(target)})

    assert not Path(tmp_path / "not").exists()
