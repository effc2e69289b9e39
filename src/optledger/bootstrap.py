"""The composition root: the one place that builds concrete adapters and wires services.

`build(settings)` opens the database, brings its schema to the latest migration (so a
first start in an empty directory needs no set-up), loads the installation secret and
hands the services their ports. The entry points (`optledger serve`, the other CLI
commands, tests) call it; the doors only ever see the resulting `Services`.

The installation secret
-----------------------
One secret per installation keys the address hashes, the API key hashes, the
unsubscribe-link keys and the keys that seal kept idempotent responses (each through its
own HMAC-SHA256 subkey). It comes from
OPTLEDGER_SECRET_KEY or, if that is unset, from `optledger.secret` in the data
directory, which the first start creates (32 random bytes, base64url, mode 0600).

Keep that secret, and back it up together with the database. The only trace left of an
erased person is the keyed hash of each address they suppressed; with a different secret
those hashes no longer match, the person could be contacted again, every API key stops
working and every unsubscribe link already sent becomes invalid.

The data directory
------------------
Nothing is opened before `prepare_data_dir` has checked where it lives: the default data
directory is created (mode 0700) on first use, but a configured data directory, or the
directory of a configured SQLite file, must already exist. A mistyped path is an error
naming it, never a new directory tree holding a second, empty ledger and a new secret
(docs/decisions/0014-one-default-database.md). `describe_database` is the one line every
command prints about the database it uses.
"""

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Final

from sqlalchemy import Engine, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, OperationalError

from optledger.config import (
    DATABASE_FILE,
    MIN_SECRET_BYTES,
    ConfigError,
    Settings,
    decode_secret,
)
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.clock import SystemClock
from optledger.outbound.keyring import AesGcmKeyring
from optledger.outbound.sealer import AesGcmResponseSealer
from optledger.outbound.spool import TemporaryFileSpools
from optledger.services import ServiceContext, Services
from optledger.storage.engine import (
    MissingDirectory,
    UnsafeDatabaseSetting,
    UnsupportedDatabase,
    database_ready,
    make_engine,
)
from optledger.storage.migrate import check_drift, upgrade
from optledger.storage.transactions import SqlTransactions

__all__ = [
    "READERS",
    "READERS_OVERFLOW",
    "Runtime",
    "StartupError",
    "build",
    "check_database",
    "describe_database",
    "load_secret",
    "prepare_data_dir",
    "stray_database",
    "upgrade_database",
]

READERS: Final = 10
"""Reader connections the services of one installation keep open, all processes together."""
READERS_OVERFLOW: Final = 20
"""Reader connections they may open beyond `READERS` at busy moments, all processes together."""
_HASHER_LABEL: Final = b"optledger/v1/keyed-hasher"
_DATA_DIR_MODE: Final = 0o700
_HIDDEN: Final = "***"
_SEALER_LABEL: Final = b"optledger/v1/idempotency-responses"
_SECRET_FILE_NOTE: Final = (
    b"# optledger installation secret. Keep it, and back it up with the database: the\n"
    b"# hashes that stop erased people from being contacted again, the API keys and the\n"
    b"# unsubscribe links all depend on it. Lines starting with # are ignored.\n"
)


class StartupError(RuntimeError):
    """The database cannot be used: unreachable, or configured so writes could be lost."""


class Runtime:
    """The running services and what must be closed with them; a context manager."""

    def __init__(
        self, *, services: Services, engine: Engine, transactions: SqlTransactions
    ) -> None:
        self.services = services
        self._engine = engine
        self._transactions = transactions
        self._closed = False

    def ready(self) -> bool:
        """Whether the database answers (for readiness probes)."""
        return not self._closed and database_ready(self._engine)

    def close(self) -> None:
        """Stop the writer and release every database connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._transactions.close()
        finally:
            self._engine.dispose()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def build(settings: Settings, *, migrate: bool = True, processes: int = 1) -> Runtime:
    """The services for `settings`, on a database migrated to the latest revision.

    `migrate=False` leaves the migrating to the caller: `optledger serve` with several
    processes migrates once, in the supervisor, before it starts them. `processes` is how
    many processes share the database: each one's pool of reader connections is that share
    of `READERS` and `READERS_OVERFLOW` (a PostgreSQL server's connections are one budget).

    Raises ConfigError for an unusable database URL or secret key file, StartupError
    when the database cannot be reached or is unsafe.
    """
    prepare_data_dir(settings)
    secret = load_secret(settings)
    engine = _open_engine(
        settings.database_url,
        pool_size=max(1, READERS // processes),
        max_overflow=max(1, READERS_OVERFLOW // processes),
    )
    try:
        if migrate:
            upgrade(engine)
        transactions = SqlTransactions(
            engine, max_batch=settings.write_batch, wait=settings.write_timeout
        )
    except BaseException:
        engine.dispose()
        raise
    context = ServiceContext(
        transactions=transactions,
        clock=SystemClock(),
        hasher=KeyedHasher(_subkey(secret, _HASHER_LABEL)),
        keyring=AesGcmKeyring(
            {key_id: _link_key(secret, key_id) for key_id in settings.link_keys},
            current=settings.link_keys[0],
        ),
        public_url=settings.public_url,
        sealer=AesGcmResponseSealer(_subkey(secret, _SEALER_LABEL)),
        spools=TemporaryFileSpools(),
    )
    return Runtime(services=Services.build(context), engine=engine, transactions=transactions)


def upgrade_database(settings: Settings) -> None:
    """Bring the database schema to the latest migration."""
    with _engine(settings) as engine:
        upgrade(engine)


def check_database(settings: Settings) -> list[str]:
    """The differences between the table definitions and the database's schema; empty if
    none. On a database at the latest migration these are drift between the two."""
    with _engine(settings) as engine:
        return check_drift(engine)


def prepare_data_dir(settings: Settings) -> None:
    """Check (or, for the default location, create) the directories that the database and
    the secret key file live in, before anything is opened in them.

    Raises ConfigError naming the directory: a configured data directory that does not
    exist or is not a directory, a SQLite file whose directory does not exist, a relative
    SQLite path (it would depend on the working directory).
    """
    data_dir = settings.data_dir
    database = _sqlite_file(settings.database_url)
    if settings.create_data_dir:
        if settings.secret_key is None or (database is not None and database.parent == data_dir):
            _create_private_directory(data_dir)
    elif not data_dir.exists():
        raise ConfigError(
            f"OPTLEDGER_DATA_DIR: {data_dir} does not exist; create it, or correct the "
            "variable (unset, the default location is used)"
        )
    elif not data_dir.is_dir():
        raise ConfigError(f"OPTLEDGER_DATA_DIR: {data_dir} is not a directory")
    if database is not None and not database.parent.is_dir():
        raise ConfigError(
            f"OPTLEDGER_DATABASE_URL: the directory {database.parent} does not exist; create "
            "it, or correct the URL"
        )


def describe_database(settings: Settings) -> str:
    """The database in use, for people: a SQLite file's path, or the URL with its password
    replaced by `***`."""
    database = _sqlite_file(settings.database_url)
    if database is not None:
        return str(database)
    url = _parse_url(settings.database_url)
    if "password" not in url.query:
        return url.render_as_string(hide_password=True)
    # A password in the query string (psycopg takes one there too) is hidden the same way;
    # a placeholder first, since the rendering percent-encodes the query's `*`.
    placeholder = "hidden" + secrets.token_hex(8)
    url = url.update_query_dict({"password": placeholder})
    return url.render_as_string(hide_password=True).replace(placeholder, _HIDDEN)


def stray_database(settings: Settings, *, directory: Path) -> Path | None:
    """`directory`'s own `optledger.db` when it is not the database in use: a ledger
    someone may have meant (the working directory used to be the default), worth a warning."""
    candidate = directory / DATABASE_FILE
    if not candidate.is_file():
        return None
    database = _sqlite_file(settings.database_url)
    if database is not None and database.is_file() and database.samefile(candidate):
        return None
    return candidate


def _sqlite_file(database_url: str) -> Path | None:
    """The absolute path of a SQLite database file; None for any other database (and for
    an in-memory one, which the engine refuses with its own message)."""
    url = _parse_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return None
    if not name.startswith("/"):
        raise ConfigError(
            "OPTLEDGER_DATABASE_URL: a SQLite file needs an absolute path, "
            "sqlite:////path/to/optledger.db, so that it does not depend on the working directory"
        )
    return Path(os.path.abspath(name))


def _parse_url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except (ArgumentError, ValueError):
        raise ConfigError("OPTLEDGER_DATABASE_URL: is not a valid database URL") from None


def _create_private_directory(directory: Path) -> None:
    """The default data directory, private to its owner; parents get the usual mode."""
    try:
        directory.mkdir(mode=_DATA_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        reason = "not a directory" if isinstance(exc, FileExistsError) else _reason(exc)
        raise ConfigError(
            f"the default data directory {directory} cannot be used ({reason}); set "
            "OPTLEDGER_DATA_DIR to a directory that exists"
        ) from None


def settle_database(settings: Settings) -> None:
    """On SQLite, connect once more and close, after every server process has ended.

    SQLite checkpoints and removes its WAL files when the last connection closes; server
    processes that close at the same moment can each still see the other connected, and
    leave them behind. PostgreSQL needs nothing.
    """
    if _sqlite_file(settings.database_url) is not None:
        with _engine(settings):
            pass


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    prepare_data_dir(settings)
    engine = _open_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _open_engine(
    url: str, *, pool_size: int = READERS, max_overflow: int = READERS_OVERFLOW
) -> Engine:
    """An engine that has connected once, so a bad URL or a server that is down fails
    here with a clear message rather than inside the first migration."""
    try:
        engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    except (UnsupportedDatabase, MissingDirectory) as exc:
        raise ConfigError(f"OPTLEDGER_DATABASE_URL: {exc}") from None
    except OSError as exc:
        raise StartupError(f"cannot create the database file ({_reason(exc)})") from None
    try:
        with engine.connect():
            pass
    except UnsafeDatabaseSetting as exc:
        engine.dispose()
        raise StartupError(str(exc)) from exc
    except OperationalError as exc:
        engine.dispose()
        raise StartupError(
            "the database cannot be reached: check OPTLEDGER_DATABASE_URL, that the server "
            "is running, and that the data directory is writable"
        ) from exc
    return engine


def load_secret(settings: Settings) -> bytes:
    """The installation secret: the configured one, else the data directory's secret
    file, which is created on first use. See the module docstring before changing it."""
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.secret_file
    if not path.exists():
        try:
            _create_secret_file(path)
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot create the secret key file ({_reason(exc)})"
            ) from None
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else "not a text file"
        raise ConfigError(f"{path}: cannot read the secret key file ({reason})") from None
    value = "".join(line for line in lines if not line.lstrip().startswith("#"))
    return decode_secret(value, source=str(path))


def _create_secret_file(path: Path) -> None:
    """Write a new secret atomically: to a private temporary file first, then hard-linked
    into place, so a concurrent first start either wins or reads the winner's file. The
    directory is `prepare_data_dir`'s: it is never created here."""
    value = base64.urlsafe_b64encode(secrets.token_bytes(MIN_SECRET_BYTES)).rstrip(b"=")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(_SECRET_FILE_NOTE + value + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        _fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _link_key(secret: bytes, key_id: int) -> bytes:
    """The unsubscribe-link key with this id. Keys are derived, so rotating needs no new
    secret: list a new id first in OPTLEDGER_LINK_KEYS, and drop an old one to retire it."""
    return _subkey(secret, b"optledger/v1/link-key/%d" % key_id)


def _subkey(secret: bytes, label: bytes) -> bytes:
    """A 32-byte key for one purpose, so no two purposes ever share key material."""
    return hmac.new(secret, label, hashlib.sha256).digest()
