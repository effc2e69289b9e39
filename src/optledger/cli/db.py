"""`optledger db …`: the database schema."""

import typer

from optledger.bootstrap import check_database, upgrade_database
from optledger.cli.common import load_settings

__all__ = ["app"]

app = typer.Typer(help="Migrate and check the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Bring the database to the latest migration (every other command does this too)."""
    upgrade_database(load_settings())
    typer.echo("database is at the latest migration")


@app.command("check")
def check() -> None:
    """Compare the database's schema with the table definitions; run after `db upgrade`.

    Exits with 1, listing each difference, when the migrations and the tables drift apart.
    """
    differences = check_database(load_settings())
    if not differences:
        typer.echo("no drift: the schema matches the table definitions")
        return
    typer.echo(f"drift: {len(differences)} differences between the schema and the tables")
    for difference in differences:
        typer.echo(f"  {difference}")
    raise typer.Exit(1)
