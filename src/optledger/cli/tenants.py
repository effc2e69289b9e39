"""`optledger tenant …`: create and list tenants."""

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from optledger.cli.common import JsonOption, echo_json, isoformat, open_services, stdout_console
from optledger.domain.model import Tenant
from optledger.services.tenants import DEFAULT_GRACE_PERIOD
from optledger.services.validation import MAX_GRACE_PERIOD

__all__ = ["app", "tenant_json"]

app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "default_region": tenant.default_region,
        "default_locale": tenant.default_locale,
        "grace_period_days": tenant.grace_period.days,
        "created_at": isoformat(tenant.created_at),
    }


@app.command("create")
def create(
    *,
    name: Annotated[str, typer.Argument(help="Lower-case letters, digits and '-'.")],
    region: Annotated[
        str, typer.Option("--region", help="Region for national phone numbers (ISO 3166-1).")
    ] = "US",
    locale: Annotated[str, typer.Option("--locale", help="Default language tag.")] = "en-US",
    grace_days: Annotated[
        int,
        typer.Option(
            "--grace-days",
            min=0,
            max=MAX_GRACE_PERIOD.days,
            help="Days an unsubscribe request stays cancellable.",
        ),
    ] = DEFAULT_GRACE_PERIOD.days,
    as_json: JsonOption = False,
) -> None:
    """Create a tenant and its first admin API key (shown once)."""
    with open_services() as services:
        created = services.tenants.create_tenant(
            name=name,
            default_region=region,
            default_locale=locale,
            grace_period=timedelta(days=grace_days),
        )
    if as_json:
        echo_json({"tenant": tenant_json(created.tenant), "api_key": created.admin_key.secret})
        return
    tenant = created.tenant
    console = stdout_console()
    console.print(
        f"Created tenant [bold]{escape(tenant.name)}[/bold] (id {tenant.id}): region "
        f"{tenant.default_region}, locale {escape(tenant.default_locale)}, "
        f"grace period {tenant.grace_period.days} days."
    )
    console.print(
        "[yellow]Its admin API key is shown only this once; store it somewhere safe:[/yellow]"
    )
    typer.echo(created.admin_key.secret)


@app.command("list")
def list_(*, as_json: JsonOption = False) -> None:
    """List every tenant."""
    with open_services() as services:
        tenants = services.tenants.list_tenants()
    if as_json:
        echo_json([tenant_json(t) for t in tenants])
        return
    table = Table("id", "name", "region", "locale", "grace days", "created")
    for t in tenants:
        table.add_row(
            str(t.id),
            escape(t.name),
            t.default_region,
            escape(t.default_locale),
            str(t.grace_period.days),
            t.created_at.isoformat(timespec="seconds"),
        )
    stdout_console().print(table)
