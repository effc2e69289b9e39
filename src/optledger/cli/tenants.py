"""`optledger tenant …`: create, list and configure tenants."""

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.markup import escape
from rich.table import Table

from optledger.cli.common import JsonOption, echo_json, isoformat, open_services, stdout_console
from optledger.domain.model import Tenant
from optledger.services.tenants import DEFAULT_GRACE_PERIOD
from optledger.services.validation import MAX_GRACE_PERIOD

__all__ = ["app", "tenant_json"]

app = typer.Typer(help="Create, list and configure tenants.", no_args_is_help=True)

_LOGO_TYPES: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "default_region": tenant.default_region,
        "default_locale": tenant.default_locale,
        "grace_period_days": tenant.grace_period.days,
        "created_at": isoformat(tenant.created_at),
        "pages": {
            "display_name": tenant.pages.display_name,
            "accent_color": tenant.pages.accent_color,
            "logo_type": tenant.pages.logo_type,
            "logo_bytes": len(tenant.pages.logo) if tenant.pages.logo else None,
            "undo_days": tenant.pages.undo_period.days,
            "link_days": tenant.pages.link_lifetime.days,
        },
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


@app.command("set")
def set_(
    *,
    name: Annotated[str, typer.Argument(help="The tenant's name.")],
    display_name: Annotated[
        str | None,
        typer.Option("--display-name", help="The name the hosted pages show; '' for the name."),
    ] = None,
    accent_color: Annotated[
        str | None,
        typer.Option("--accent-color", help="Buttons and switches, e.g. #1a73e8; '' for none."),
    ] = None,
    logo: Annotated[
        Path | None,
        typer.Option(
            "--logo", exists=True, dir_okay=False, help="A PNG, JPEG or GIF of at most 100 KiB."
        ),
    ] = None,
    no_logo: Annotated[bool, typer.Option("--no-logo", help="Remove the logo.")] = False,
    undo_days: Annotated[
        int | None,
        typer.Option("--undo-days", help="Days an opt-out can be undone from its page."),
    ] = None,
    link_days: Annotated[
        int | None,
        typer.Option("--link-days", help="Days an unsubscribe link works (at least 30)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change how the tenant's hosted pages look and how long links and undo work.

    Options left out keep their value. Running servers see the change within 10 seconds.
    """
    if logo is not None and no_logo:
        raise typer.BadParameter("give --logo or --no-logo, not both")
    with open_services() as services:
        tenant = services.tenants.get_tenant(name=name)
        pages = tenant.pages
        if display_name is not None:
            pages = replace(pages, display_name=display_name or None)
        if accent_color is not None:
            pages = replace(pages, accent_color=accent_color or None)
        if logo is not None:
            pages = replace(
                pages, logo=logo.read_bytes(), logo_type=_LOGO_TYPES.get(logo.suffix.lower())
            )
        if no_logo:
            pages = replace(pages, logo=None, logo_type=None)
        if undo_days is not None:
            pages = replace(pages, undo_period=timedelta(days=undo_days))
        if link_days is not None:
            pages = replace(pages, link_lifetime=timedelta(days=link_days))
        updated = services.tenants.set_pages(tenant_id=tenant.id, pages=pages)
    if as_json:
        echo_json(tenant_json(updated))
        return
    settings = updated.pages
    stdout_console().print(
        f"Tenant [bold]{escape(updated.name)}[/bold]: pages show "
        f"{escape(settings.display_name or updated.name)!r}, accent "
        f"{settings.accent_color or 'default'}, "
        f"{'a logo' if settings.logo else 'no logo'}; undo for {settings.undo_period.days} "
        f"days, links work for {settings.link_lifetime.days} days."
    )
