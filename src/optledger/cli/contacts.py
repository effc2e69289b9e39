"""`optledger contact …`: answer a person's access and erasure requests (GDPR Art. 15-17, 20)."""

import dataclasses
from typing import Annotated

import typer

from optledger.cli.common import TenantOption, echo_json, open_services, tenant_id
from optledger.domain.model import Provenance

__all__ = ["app"]

app = typer.Typer(help="Export or erase what optledger holds about a person.", no_args_is_help=True)

ExternalId = Annotated[str, typer.Argument(help="The tenant's own id for the person.")]


@app.command("export")
def export(*, tenant: TenantOption, external_id: ExternalId) -> None:
    """Print everything held about the person as JSON: addresses, subscriptions, messages,
    unsubscribe requests and the whole consent history."""
    with open_services() as services:
        found = services.contacts.export_contact(
            tenant_id=tenant_id(services, tenant), external_id=external_id
        )
    echo_json(dataclasses.asdict(found))


@app.command("erase")
def erase(
    *,
    tenant: TenantOption,
    external_id: ExternalId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase the person's personal data. Each of their addresses stays suppressed, by a keyed
    hash only, so they are never contacted again. This cannot be undone."""
    if not yes and not typer.confirm(f"Erase contact {external_id!r} for good?"):
        raise typer.Exit(1)
    with open_services() as services:
        erased = services.contacts.erase_contact(
            tenant_id=tenant_id(services, tenant),
            external_id=external_id,
            provenance=Provenance(via="cli", actor="cli"),
        )
    typer.echo(f"erased; {erased} address(es) kept suppressed by hash")
