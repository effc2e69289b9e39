"""The `optledger` command line: thin commands that parse, call a service and print.

Each command builds the services from the environment (see `optledger.config`), so the
first command creates and migrates the database in the default data directory, the same
one from every working directory, and every command names its database on stderr. Errors
become messages and exit codes in one place, `optledger.cli.errors`.
"""

from typing import Annotated

import typer

from optledger import __version__
from optledger.cli import contacts, db, keys, ledger, tenants, topics
from optledger.cli.checks import check
from optledger.cli.errors import ErrorMappingGroup
from optledger.cli.serve import serve
from optledger.cli.suppressions import export_app, import_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="optledger",
    help="optledger: may we contact this address, on this channel, about this topic?",
    cls=ErrorMappingGroup,
    no_args_is_help=True,
    # Locals can hold API keys and addresses; they never belong in a traceback.
    pretty_exceptions_show_locals=False,
)
app.command("serve")(serve)
app.command("check")(check)
app.add_typer(db.app, name="db")
app.add_typer(tenants.app, name="tenant")
app.add_typer(topics.app, name="topic")
app.add_typer(keys.app, name="key")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(contacts.app, name="contact")
app.add_typer(ledger.app, name="ledger")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"optledger {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """optledger: may we contact this address, on this channel, about this topic?"""


def main() -> None:
    """The `optledger` console script."""
    app()
