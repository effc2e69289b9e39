"""What the commands share: settings, the services, tenant lookup and output helpers."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from optledger.bootstrap import build, describe_database, stray_database
from optledger.config import LOG_LEVELS, Settings
from optledger.services import Services

__all__ = [
    "DATABASE_NOTE",
    "JsonOption",
    "TenantOption",
    "echo_json",
    "isoformat",
    "load_settings",
    "open_services",
    "stderr_console",
    "stdout_console",
    "tenant_id",
]

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]

_JSON_INDENT: Final = 2
DATABASE_NOTE: Final = "optledger: database "
"""How the line that names the database in use starts (on stderr)."""


def load_settings() -> Settings:
    """Settings from the process environment; the CLI's only way to them.

    Every command that loads settings goes on to open the database, so this is where it
    says which one, on stderr (stdout stays the command's output): one line naming the
    database, unless OPTLEDGER_LOG_LEVEL is `warning` or quieter, and a warning when the
    working directory holds an `optledger.db` that is not the one in use.
    """
    settings = Settings.from_env(os.environ)
    if _shows(settings, "info"):
        typer.echo(DATABASE_NOTE + describe_database(settings), err=True)
    try:
        here = Path.cwd()
    except OSError:  # the working directory was removed: nothing there to warn about
        return settings
    stray = stray_database(settings, directory=here)
    if stray is not None and _shows(settings, "warning"):
        typer.echo(
            f"optledger: warning: {stray} is not the database in use; to use it, set "
            f"OPTLEDGER_DATA_DIR={stray.parent}",
            err=True,
        )
    return settings


def _shows(settings: Settings, level: str) -> bool:
    """Whether messages of `level` are shown at the configured log level."""
    return LOG_LEVELS.index(level) <= LOG_LEVELS.index(settings.log_level)


@contextmanager
def open_services() -> Iterator[Services]:
    """The services on a migrated database, closed again when the block ends."""
    with build(load_settings()) as runtime:
        yield runtime.services


def tenant_id(services: Services, name: str) -> int:
    """The id of the tenant called `name`; NotFound otherwise."""
    return services.tenants.get_tenant(name=name).id


def isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def echo_json(value: object) -> None:
    """Print `value` as JSON; datetimes as ISO 8601."""
    typer.echo(json.dumps(value, indent=_JSON_INDENT, ensure_ascii=False, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def stdout_console() -> Console:
    """A console on the current stdout (looked up per call, so tests can capture it)."""
    return Console(soft_wrap=True, highlight=False)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)
