"""Settings, read from the environment in one place.

This is the only module that reads the environment, and it reads only the mapping it is
handed: the entry points call `Settings.from_env(os.environ)`, tests pass a plain dict.
Nothing happens at import. An empty variable counts as unset.

| variable                 | default                                   |
|--------------------------|-------------------------------------------|
| OPTLEDGER_DATA_DIR       | `$XDG_DATA_HOME/optledger`, else `~/.local/share/optledger` |
| OPTLEDGER_DATABASE_URL   | `sqlite:////<data dir>/optledger.db`      |
| OPTLEDGER_SECRET_KEY     | the file `<data dir>/optledger.secret`    |
| OPTLEDGER_PUBLIC_URL     | `http://127.0.0.1:8000`                   |
| OPTLEDGER_LINK_KEYS      | `1`                                       |
| OPTLEDGER_HOST           | `127.0.0.1`                               |
| OPTLEDGER_PORT           | `8000`                                    |
| OPTLEDGER_WORKERS        | one per usable CPU core (`optledger serve`) |
| OPTLEDGER_WRITE_BATCH    | `256`                                     |
| OPTLEDGER_WRITE_TIMEOUT  | `20` (seconds)                            |
| OPTLEDGER_LOG_LEVEL      | `info`                                    |
| OPTLEDGER_FORWARDED_ALLOW_IPS | `127.0.0.1`                          |
| OPTLEDGER_RATE_LIMITS    | `on`                                      |
| OPTLEDGER_KEY_RATE_LIMIT | `50000/10s`                               |
| OPTLEDGER_KEY_BULK_CONCURRENCY | `1`                                 |
| OPTLEDGER_AUTH_FAILURE_LIMIT | `20/60s`                              |
| OPTLEDGER_LINK_FAILURE_LIMIT | `60/60s`                              |
| OPTLEDGER_LINK_POST_LIMIT | `20/60s`                                 |
| OPTLEDGER_MAX_HEADERS    | `100`                                     |
| OPTLEDGER_MAX_HEADER_BYTES | `32768`                                 |

The request limits (`RequestLimits`, docs/decisions/0011-rate-limits.md) are counted by
each server process on its own; `optledger serve --workers N` gives each of its N
processes a share of every rate (`RequestLimits.shared_by`), so that together they allow
what is configured (docs/decisions/0019-server-processes.md). A rate `N/Ts` allows bursts
of N and refills N per T seconds (a token bucket).

The default data directory does not depend on the working directory, so every command
and the server find the same database wherever they are started; it is created on first
use. A data directory that is set explicitly must exist: a mistyped one is an error, not
a second, empty ledger (see docs/decisions/0014-one-default-database.md). Besides the
OPTLEDGER_* variables only HOME and XDG_DATA_HOME are read, for the default; nothing here
touches the disk: bootstrap checks and creates the directory.

A bad value raises `ConfigError` naming the variable and what is wrong with it, never
the value itself: the database URL and the secret key are credentials.
"""

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Protocol, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "DATABASE_FILE",
    "DATA_DIR_NAME",
    "DEFAULT_HOST",
    "DEFAULT_LIMITS",
    "DEFAULT_LINK_KEYS",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_PORT",
    "DEFAULT_PUBLIC_URL",
    "DEFAULT_WRITE_BATCH",
    "DEFAULT_WRITE_TIMEOUT",
    "LOG_LEVELS",
    "MAX_WORKERS",
    "MAX_WRITE_BATCH",
    "MIN_SECRET_BYTES",
    "SECRET_FILE",
    "ConfigError",
    "RateLimit",
    "RequestLimits",
    "Settings",
    "decode_secret",
]

DATABASE_FILE: Final = "optledger.db"
DATA_DIR_NAME: Final = "optledger"
"""The default data directory's name inside the XDG data directory."""
SECRET_FILE: Final = "optledger.secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_BYTES: Final = 32
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
MAX_WRITE_BATCH: Final = 10_000
MAX_WORKERS: Final = 256
DEFAULT_PUBLIC_URL: Final = "http://127.0.0.1:8000"
DEFAULT_LINK_KEYS: Final = (1,)
MAX_LINK_KEY_ID: Final = 255
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
DEFAULT_WRITE_BATCH: Final = 256
DEFAULT_WRITE_TIMEOUT: Final = 20
MAX_WRITE_TIMEOUT: Final = 3600
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_FORWARDED_ALLOW_IPS: Final = "127.0.0.1"
MAX_RATE_COUNT: Final = 1_000_000_000
MAX_RATE_SECONDS: Final = 86_400
MAX_HEADER_LIMIT: Final = 1_000_000

_T = TypeVar("_T")

_PREFIX: Final = "OPTLEDGER_"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_DATABASE_SCHEMES: Final = ("sqlite", "postgresql")
_RATE: Final = re.compile(r"(\d{1,10})/(\d{1,6})s")
_SWITCHES: Final = {"on": True, "off": False}


class _Read(Protocol):
    def __call__(self, name: str, parse: Callable[[str], _T], default: _T) -> _T: ...


class ConfigError(ValueError):
    """A setting is malformed; the message names the variable (or file) and the rule."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` at once, refilled at `count` per `seconds` (a token bucket)."""

    count: int
    seconds: int


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What the HTTP doors allow a caller; each server process counts on its own."""

    rate_limits: bool = True
    """False turns every rate and concurrency limit below off; the header limits stay."""
    key_rate: RateLimit = RateLimit(50_000, 10)
    """Requests per API key on `/v1`: 5,000/s sustained, bursts of 50,000."""
    key_bulk_concurrency: int = 1
    """Bulk requests (`POST /v1/checks`, `POST /v1/suppressions/import`) one API key may
    have running at once, per operation."""
    auth_failures: RateLimit = RateLimit(20, 60)
    """Failed API-key authentications per client address; beyond, its `/v1` requests
    answer 429 until the bucket refills."""
    link_failures: RateLimit = RateLimit(60, 60)
    """Requests with an unusable link token per client address on `/u`."""
    link_posts: RateLimit = RateLimit(20, 60)
    """POSTs per link token on `/u`; the first POST of a link is never refused."""
    max_headers: int = 100
    """Header fields per request; more answer 431."""
    max_header_bytes: int = 32 * 1024
    """Bytes of the request target and the header fields' names and values; more answer
    431."""

    def shared_by(self, processes: int) -> "RequestLimits":
        """The limits for one of `processes` server processes on one listening socket:
        each rate's count divided among them (at least 1 each), so that together they
        allow about what is configured. The bulk concurrency and header caps are per
        process by nature (they bound one process's event loop and memory) and stay."""
        if processes == 1:
            return self

        def share(rate: RateLimit) -> RateLimit:
            return RateLimit(max(1, rate.count // processes), rate.seconds)

        return replace(
            self,
            key_rate=share(self.key_rate),
            auth_failures=share(self.auth_failures),
            link_failures=share(self.link_failures),
            link_posts=share(self.link_posts),
        )


DEFAULT_LIMITS: Final = RequestLimits()


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
    workers: int | None = None
    """Server processes `optledger serve` runs; None: one per usable CPU core."""
    write_batch: int = DEFAULT_WRITE_BATCH
    """The most writes committed together in one group commit."""
    write_timeout: int = DEFAULT_WRITE_TIMEOUT
    """Seconds a write waits for the database (another process's lock, a server that
    does not answer) before it is refused as unavailable (503, exit code 7)."""
    log_level: str = DEFAULT_LOG_LEVEL
    create_data_dir: bool = False
    """Whether the data directory may be created on first use: only the default location
    is (mode 0700). A configured one must already exist, so a typo fails loudly."""
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS
    """The proxies whose `X-Forwarded-For` names the client (`*`: any); the client
    address is what the per-address limits count."""
    limits: RequestLimits = DEFAULT_LIMITS

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """Settings from `environ` (pass `os.environ`); ConfigError on a bad value."""

        def read(name: str, parse: Callable[[str], _T], default: _T) -> _T:
            value = environ.get(_PREFIX + name, "").strip()
            return parse(value) if value else default

        configured = environ.get(_PREFIX + "DATA_DIR", "").strip()
        home = environ.get("HOME", "").strip()
        if configured:
            data_dir = _data_dir(configured, home=home)
        else:
            data_dir = _default_data_dir(
                xdg_data_home=environ.get("XDG_DATA_HOME", "").strip(), home=home
            )
        return cls(
            data_dir=data_dir,
            create_data_dir=not configured,
            database_url=read(
                "DATABASE_URL", _database_url, f"sqlite:///{data_dir / DATABASE_FILE}"
            ),
            secret_key=read("SECRET_KEY", _secret_key, None),
            public_url=read("PUBLIC_URL", _public_url, DEFAULT_PUBLIC_URL),
            link_keys=read("LINK_KEYS", _link_keys, DEFAULT_LINK_KEYS),
            host=read("HOST", _host, DEFAULT_HOST),
            port=read("PORT", _port, DEFAULT_PORT),
            workers=read("WORKERS", _workers, None),
            write_batch=read("WRITE_BATCH", _write_batch, DEFAULT_WRITE_BATCH),
            write_timeout=read("WRITE_TIMEOUT", _write_timeout, DEFAULT_WRITE_TIMEOUT),
            log_level=read("LOG_LEVEL", _log_level, DEFAULT_LOG_LEVEL),
            forwarded_allow_ips=read(
                "FORWARDED_ALLOW_IPS", _forwarded_allow_ips, DEFAULT_FORWARDED_ALLOW_IPS
            ),
            limits=_request_limits(read),
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


def _data_dir(value: str, *, home: str) -> Path:
    """`value` as an absolute path: `~` is `home`, a relative path is taken from the
    working directory."""
    if home and (value == "~" or value.startswith("~/")):
        value = home + value[1:]
    # abspath, not resolve: no file system access here, and symlinks stay as the user wrote them.
    return Path(os.path.abspath(Path(value).expanduser()))


def _default_data_dir(*, xdg_data_home: str, home: str) -> Path:
    """The XDG data directory's `optledger`: the same for every working directory.

    XDG_DATA_HOME counts only when absolute, as the XDG Base Directory specification says.
    """
    if xdg_data_home.startswith("/"):
        return Path(os.path.abspath(xdg_data_home)) / DATA_DIR_NAME
    if home.startswith("/"):
        return Path(os.path.abspath(home)) / ".local" / "share" / DATA_DIR_NAME
    raise ConfigError(
        f"{_PREFIX}DATA_DIR: is not set, and neither XDG_DATA_HOME nor HOME names an absolute "
        "directory to keep the database in by default; set it to the data directory"
    )


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


def _workers(value: str) -> int:
    return _integer(value, name="WORKERS", low=1, high=MAX_WORKERS)


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


def _request_limits(read: _Read) -> RequestLimits:
    default = DEFAULT_LIMITS
    return RequestLimits(
        rate_limits=read("RATE_LIMITS", _switch("RATE_LIMITS"), default.rate_limits),
        key_rate=read("KEY_RATE_LIMIT", _rate("KEY_RATE_LIMIT"), default.key_rate),
        key_bulk_concurrency=read(
            "KEY_BULK_CONCURRENCY",
            _bounded("KEY_BULK_CONCURRENCY", 1, 1_000),
            default.key_bulk_concurrency,
        ),
        auth_failures=read(
            "AUTH_FAILURE_LIMIT", _rate("AUTH_FAILURE_LIMIT"), default.auth_failures
        ),
        link_failures=read(
            "LINK_FAILURE_LIMIT", _rate("LINK_FAILURE_LIMIT"), default.link_failures
        ),
        link_posts=read("LINK_POST_LIMIT", _rate("LINK_POST_LIMIT"), default.link_posts),
        max_headers=read(
            "MAX_HEADERS", _bounded("MAX_HEADERS", 10, MAX_HEADER_LIMIT), default.max_headers
        ),
        max_header_bytes=read(
            "MAX_HEADER_BYTES",
            _bounded("MAX_HEADER_BYTES", 1024, MAX_HEADER_LIMIT),
            default.max_header_bytes,
        ),
    )


def _switch(name: str) -> Callable[[str], bool]:
    def parse(value: str) -> bool:
        switch = _SWITCHES.get(value.lower())
        if switch is None:
            raise ConfigError(f"{_PREFIX}{name}: must be on or off")
        return switch

    return parse


def _rate(name: str) -> Callable[[str], RateLimit]:
    """`20/60s`: 20 at once, refilled at 20 per 60 seconds."""

    def parse(value: str) -> RateLimit:
        match = _RATE.fullmatch(value)
        if match:
            count, seconds = int(match.group(1)), int(match.group(2))
            if 1 <= count <= MAX_RATE_COUNT and 1 <= seconds <= MAX_RATE_SECONDS:
                return RateLimit(count, seconds)
        raise ConfigError(
            f"{_PREFIX}{name}: must be COUNT/SECONDSs with COUNT between 1 and "
            f"{MAX_RATE_COUNT} and SECONDS between 1 and {MAX_RATE_SECONDS}, e.g. 20/60s"
        )

    return parse


def _bounded(name: str, low: int, high: int) -> Callable[[str], int]:
    return lambda value: _integer(value, name=name, low=low, high=high)


def _forwarded_allow_ips(value: str) -> str:
    """`*`, or comma-separated IP addresses and networks (`10.0.0.0/8`)."""
    if value == "*":
        return value
    parts = [part.strip() for part in value.split(",")]
    try:
        for part in parts:
            ipaddress.ip_network(part, strict=False)
    except ValueError:
        raise ConfigError(
            f"{_PREFIX}FORWARDED_ALLOW_IPS: must be * or IP addresses and networks separated "
            "by commas, e.g. 127.0.0.1,10.0.0.0/8"
        ) from None
    return ",".join(parts)
