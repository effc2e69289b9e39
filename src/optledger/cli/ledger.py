"""`optledger ledger verify`: prove the current state is what the ledger adds up to."""

import typer

from optledger.cli.common import TenantOption, open_services, tenant_id

__all__ = ["app"]

app = typer.Typer(help="Inspect the consent ledger.", no_args_is_help=True)


@app.command("verify")
def verify(*, tenant: TenantOption) -> None:
    """Replay the tenant's ledger and compare it with the stored state.

    Exits with 0 when they agree and 1, listing each difference, when they do not.
    """
    with open_services() as services:
        report = services.contacts.verify_ledger(tenant_id=tenant_id(services, tenant))
    if report.consistent:
        typer.echo(f"consistent ({report.events} events)")
        return
    typer.echo(f"inconsistent ({report.events} events, {len(report.differences)} differences)")
    for difference in report.differences:
        typer.echo(f"  {difference}")
    raise typer.Exit(1)
