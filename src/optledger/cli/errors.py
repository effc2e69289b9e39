"""The CLI's one translation of errors into messages and exit codes.

| error                                  | exit code |
|----------------------------------------|-----------|
| InvalidInput                           | 2 (each `field: reason` on its own line) |
| NotFound                               | 3 |
| Conflict                               | 4 |
| Forbidden                              | 5 |
| Unavailable (the database stayed busy) | 7 (nothing was written; run it again) |
| any other OptledgerError               | 1 |
| ConfigError, StartupError              | 1 |

Typer itself exits with 2 for a bad option or argument. Messages go to stderr without a
stack trace; like the errors themselves they never carry personal data or secrets.
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

__all__ = ["EXIT_CODES", "ErrorMappingGroup", "exit_code", "messages"]

EXIT_CODES: Final[tuple[tuple[type[Exception], int], ...]] = (
    (InvalidInput, 2),
    (NotFound, 3),
    (Conflict, 4),
    (Forbidden, 5),
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
        except (OptledgerError, ConfigError, StartupError) as error:
            for line in messages(error):
                typer.echo(line, err=True)
            raise typer.Exit(exit_code(error) or 1) from None
