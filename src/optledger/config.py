"""Settings, read from the environment in one place.

This is the only module that reads the environment, and it reads only the mapping it is
handed: the entry points call `Settings.from_env(os.environ)`, tests pass a plain dict.
Nothing happens at import. An empty variable counts as unset.

| variable                 | default                                   |
|--------------------------|-------------------------------------------|
| OPTLEDGER_DATA_DIR       | the current working directory             |
| OPTLEDGER_DATABASE_URL   | `sqlite:////<data dir>/optledger.db`      |
| OPTLEDGER_SECRET_KEY     | the file `<data dir>/optledger.secret`    |
| OPTLEDGER_PUBLIC_URL     | `http://127.0.0.1:8000`                   |
| OPTLEDGER_LINK_KEYS      | `1`                                       |
| OPTLEDGER_HOST           | `127.0.0.1`                               |
| OPTLEDGER_PORT           | `8000`                                    |
| OPTLEDGER_WRITE_BATCH    | `256`                                     |
| OPTLEDGER_WRITE_TIMEOUT  | `20` (seconds)                            |
| OPTLEDGER_LOG_LEVEL      | `info`                                    |

A bad value raises `ConfigError` naming the variable and what is wrong with it, never
the value itself: the database URL and the secret key are credentials.
"""

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "DATABASE_FILE",
    "DEFAULT_HOST",
    "DEFAULT_LINK_KEYS",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_PORT",
    "DEFAULT_PUBLIC_URL",
    "DEFAULT_WRITE_BATCH",
    "DEFAULT_WRITE_TIMEOUT",
    "LOG_LEVELS",
    "MAX_WRITE_BATCH",
    "MIN_SECRET_BYTES",
    "SECRET_FILE",
    "ConfigError",
    "Settings",
    "decode_secret",
]

DATABASE_FILE: Final = "optledger.db"
SECRET_FILE: Final = "optledger.secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_BYTES: Final = 32
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
MAX_WRITE_BATCH: Final = 10_000
DEFAULT_PUBLIC_URL: Final = "http://127.0.0.1:8000"
DEFAULT_LINK_KEYS: Final = (1,)
MAX_LINK_KEY_ID: Final = 255
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
DEFAULT_WRITE_BATCH: Final = 256
DEFAULT_WRITE_TIMEOUT: Final = 20
MAX_WRITE_TIMEOUT: Final = 3600
DEFAULT_LOG_LEVEL: Final = "info"

_T = TypeVar("_T")

_PREFIX: Final = "OPTLEDGER_"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_DATABASE_SCHEMES: Final = ("sqlite", "postgresql")


class ConfigError(ValueError):
    """A setting is malformed; the message names the variable (or file) and the rule."""


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    """Absolute; holds the default SQLite database and the generated secret key file."""
    database_url: str = field(repr=False)
    """May carry a password, so it is kept out of `repr`."""
    secret_key: bytes | None = field(default=None, repr=False)
    """The installation secret; None means: use (or create) `secret_file`."""
    public_url: str = DEFAULT_PUBLIC_URL
    """The base URL people reach optledger at; links are built on it. No trailing slash."""
    link_keys: tuple[int, ...] = DEFAULT_LINK_KEYS
    """The ids of the unsubscribe-link keys in use, newest first: new links are sealed
    with the first, and links sealed with any of them open. A link whose key id is not
    listed (a retired key) no longer works."""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    write_batch: int = DEFAULT_WRITE_BATCH
    """The most writes committed together in one group commit."""
    write_timeout: int = DEFAULT_WRITE_TIMEOUT
    """Seconds a write waits for the database (another process's lock, a server that
    does not answer) before it is refused as unavailable (503, exit code 7)."""
    log_level: str = DEFAULT_LOG_LEVEL

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Settings from `environ` (pass `os.environ`); ConfigError on a bad value."""

        def read(name: str, parse: Callable[[str], _T], default: _T) -> _T:
            value = environ.get(_PREFIX + name, "").strip()
            return parse(value) if value else default

        data_dir = read("DATA_DIR", _data_dir, _data_dir(""))
        return cls(
            data_dir=data_dir,
            database_url=read(
                "DATABASE_URL", _database_url, f"sqlite:///{data_dir / DATABASE_FILE}"
            ),
            secret_key=read("SECRET_KEY", _secret_key, None),
            public_url=read("PUBLIC_URL", _public_url, DEFAULT_PUBLIC_URL),
            link_keys=read("LINK_KEYS", _link_keys, DEFAULT_LINK_KEYS),
            host=read("HOST", _host, DEFAULT_HOST),
            port=read("PORT", _port, DEFAULT_PORT),
            write_batch=read("WRITE_BATCH", _write_batch, DEFAULT_WRITE_BATCH),
            write_timeout=read("WRITE_TIMEOUT", _write_timeout, DEFAULT_WRITE_TIMEOUT),
            log_level=read("LOG_LEVEL", _log_level, DEFAULT_LOG_LEVEL),
        )


def decode_secret(value: str, *, source: str) -> bytes:
    """The bytes of a base64url secret (padding optional) of at least 32 bytes.

    `source` names where the value came from (a variable or a file) for the error message.
    """
    text = value.strip()
    if _BASE64URL.fullmatch(text):
        unpadded = text.rstrip("=")
        try:
            raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        except binascii.Error:
            raw = b""
        if len(raw) >= MIN_SECRET_BYTES:
            return raw
    raise ConfigError(f"{source}: must be base64url of at least {MIN_SECRET_BYTES} random bytes")


def _data_dir(value: str) -> Path:
    """`value` as an absolute path; the working directory when empty."""
    path = Path(value).expanduser() if value else Path.cwd()
    # abspath, not resolve: no file system access here, and symlinks stay as the user wrote them.
    return Path(os.path.abspath(path))


def _database_url(value: str) -> str:
    scheme, separator, _ = value.partition("://")
    backend = scheme.split("+", 1)[0].lower()
    if not separator or backend not in _DATABASE_SCHEMES:
        raise ConfigError(
            f"{_PREFIX}DATABASE_URL: must be a sqlite:/// or postgresql:// URL, "
            "e.g. postgresql+psycopg://user:password@host/optledger"
        )
    return value


def _public_url(value: str) -> str:
    invalid = ConfigError(f"{_PREFIX}PUBLIC_URL: must be an absolute http:// or https:// URL")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{_PREFIX}PUBLIC_URL: must not have a query, a fragment or credentials")
    return value.rstrip("/")


def _link_keys(value: str) -> tuple[int, ...]:
    """`3,2`: key ids, the newest first, without repeats."""
    parts = [part.strip() for part in value.split(",")]
    if all(p.isascii() and p.isdigit() and 1 <= int(p) <= MAX_LINK_KEY_ID for p in parts):
        ids = tuple(int(p) for p in parts)
        if len(set(ids)) == len(ids):
            return ids
    raise ConfigError(
        f"{_PREFIX}LINK_KEYS: must be distinct key ids between 1 and {MAX_LINK_KEY_ID}, "
        "newest first, e.g. 2,1"
    )


def _host(value: str) -> str:
    if any(ch.isspace() or not ch.isprintable() for ch in value) or "/" in value:
        raise ConfigError(f"{_PREFIX}HOST: must be a host name or an IP address")
    return value


def _secret_key(value: str) -> bytes:
    return decode_secret(value, source=_PREFIX + "SECRET_KEY")


def _port(value: str) -> int:
    return _integer(value, name="PORT", low=1, high=65535)


def _write_batch(value: str) -> int:
    return _integer(value, name="WRITE_BATCH", low=1, high=MAX_WRITE_BATCH)


def _write_timeout(value: str) -> int:
    return _integer(value, name="WRITE_TIMEOUT", low=1, high=MAX_WRITE_TIMEOUT)


def _integer(value: str, *, name: str, low: int, high: int) -> int:
    if value.isascii() and value.isdigit() and low <= int(value) <= high:
        return int(value)
    raise ConfigError(f"{_PREFIX}{name}: must be an integer between {low} and {high}")


def _log_level(value: str) -> str:
    level = value.lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{_PREFIX}LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}")
    return level
