"""The CLI's one translation of errors into messages and exit codes.

| error                                  | exit code | REST status of the same error |
|----------------------------------------|-----------|-------------------------------|
| InvalidInput                           | 2 (each `field: reason` on its own line) | 422 |
| NotFound                               | 3 | 404 |
| Conflict                               | 4 | 409 |
| Forbidden                              | 5 | 403 |
| ListenAddressInUse (`serve`)           | 6 | - |
| Unavailable (the database stayed busy) | 7 (nothing was written; run it again) | 503 |
| any other OptledgerError               | 1 | - |
| ConfigError, StartupError              | 1 | - |

Typer itself exits with 2 for a bad option or argument. Messages go to stderr without a
stack trace; like the errors themselves they never carry personal data or secrets. The
README's exit-code table and docs/decisions/0015-one-exit-code-table.md say the same.
"""

from typing import Any, Final

import typer
from typer._click import Context  # the group hook's context type; typer vendors click
from typer.core import TyperGroup

from optledger.bootstrap import StartupError
from optledger.config import ConfigError
from optledger.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OptledgerError,
    Unavailable,
)

__all__ = ["EXIT_CODES", "ErrorMappingGroup", "ListenAddressInUse", "exit_code", "messages"]


class ListenAddressInUse(Exception):
    """The address and port `optledger serve` should listen on are taken by another process."""


EXIT_CODES: Final[tuple[tuple[type[Exception], int], ...]] = (
    (InvalidInput, 2),
    (NotFound, 3),
    (Conflict, 4),
    (Forbidden, 5),
    (ListenAddressInUse, 6),
    (Unavailable, 7),
    (OptledgerError, 1),
    (ConfigError, 1),
    (StartupError, 1),
)


def exit_code(error: Exception) -> int | None:
    """The exit code for an expected error; None for anything else (a bug)."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return None


def messages(error: Exception) -> list[str]:
    """What to tell the user about an expected error, one line each."""
    if isinstance(error, InvalidInput):
        return [f"{e.field}: {e.reason}" for e in error.errors]
    if isinstance(error, OptledgerError):
        return [error.message]
    return [str(error)]


class ErrorMappingGroup(TyperGroup):
    """The root command group: turns the expected errors of any command into a message on
    stderr and an exit code, so no command handles them itself."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OptledgerError, ConfigError, StartupError, ListenAddressInUse) as error:
            for line in messages(error):
                typer.echo(line, err=True)
            raise typer.Exit(exit_code(error) or 1) from None
