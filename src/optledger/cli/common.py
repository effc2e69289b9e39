"""What the commands share: settings, the services, tenant lookup and output helpers."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Final

import typer
from rich.console import Console

from optledger.bootstrap import build
from optledger.config import Settings
from optledger.services import Services

__all__ = [
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


def load_settings() -> Settings:
    """Settings from the process environment; the CLI's only way to them."""
    return Settings.from_env(os.environ)


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
