"""`optledger key …`: a tenant's API keys. A key's secret is shown once, at creation."""

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from optledger.cli.common import (
    JsonOption,
    TenantOption,
    echo_json,
    isoformat,
    open_services,
    stdout_console,
    tenant_id,
)
from optledger.domain.model import ApiKey, Scope

__all__ = ["app", "key_json"]

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as shown to people: never its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scope": key.scope.value,
        "created_at": isoformat(key.created_at),
        "revoked_at": isoformat(key.revoked_at),
    }


@app.command("create")
def create(
    *,
    tenant: TenantOption,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[
        Scope, typer.Option("--scope", help="admin ⊃ write ⊃ check: what the key may do.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Create an API key."""
    with open_services() as services:
        created = services.tenants.create_key(
            tenant_id=tenant_id(services, tenant), name=name, scope=scope
        )
    if as_json:
        echo_json({"key": key_json(created.key), "api_key": created.secret})
        return
    stdout_console().print(
        f"Created {created.key.scope.value} key {created.key.id} "
        f"([bold]{escape(created.key.name)}[/bold]). "
        "[yellow]Its secret is shown only this once; store it somewhere safe:[/yellow]"
    )
    typer.echo(created.secret)


@app.command("list")
def list_(*, tenant: TenantOption, as_json: JsonOption = False) -> None:
    """List a tenant's API keys (their prefixes, never their secrets)."""
    with open_services() as services:
        keys = services.tenants.list_keys(tenant_id=tenant_id(services, tenant))
    if as_json:
        echo_json([key_json(k) for k in keys])
        return
    table = Table("id", "name", "prefix", "scope", "created", "revoked")
    for k in keys:
        table.add_row(
            str(k.id),
            escape(k.name),
            k.prefix,
            k.scope.value,
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    stdout_console().print(table)


@app.command("revoke")
def revoke(
    *,
    tenant: TenantOption,
    key_id: Annotated[int, typer.Argument(help="The key's id, from `optledger key list`.")],
) -> None:
    """Revoke an API key at once; revoking it again changes nothing."""
    with open_services() as services:
        key = services.tenants.revoke_key(tenant_id=tenant_id(services, tenant), key_id=key_id)
    stdout_console().print(f"Revoked key {key.id} ([bold]{escape(key.name)}[/bold]).")
