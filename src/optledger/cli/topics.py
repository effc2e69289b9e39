"""`optledger topic …`: create and list a tenant's topics."""

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
from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, Topic

__all__ = ["app", "topic_json"]

app = typer.Typer(help="Create and list topics.", no_args_is_help=True)


def topic_json(topic: Topic) -> dict[str, Any]:
    return {
        "id": topic.id,
        "key": topic.key,
        "name": topic.name,
        "category": topic.category.value,
        "consent_mode": topic.consent_mode.value,
        "double_opt_in": topic.double_opt_in,
        "channels": sorted(c.value for c in topic.channels),
        "unsubscribable": topic.unsubscribable,
        "created_at": isoformat(topic.created_at),
    }


@app.command("create")
def create(
    *,
    tenant: TenantOption,
    key: Annotated[str, typer.Argument(help="The topic's key, e.g. newsletter.")],
    name: Annotated[str, typer.Option("--name", help="A name people can read.")],
    category: Annotated[Category, typer.Option("--category")] = Category.MARKETING,
    mode: Annotated[
        ConsentMode,
        typer.Option(
            "--mode", help="opt_in: nobody until they subscribe; opt_out: all until they leave."
        ),
    ] = ConsentMode.OPT_IN,
    double_opt_in: Annotated[
        bool, typer.Option("--double-opt-in", help="Subscriptions need confirming.")
    ] = False,
    channels: Annotated[
        list[Channel] | None,
        typer.Option(
            "--channel", help="A channel it goes out on; repeat for more (default email)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a topic."""
    with open_services() as services:
        topic = services.topics.create_topic(
            tenant_id=tenant_id(services, tenant),
            key=key,
            name=name,
            category=category,
            consent_mode=mode,
            double_opt_in=double_opt_in,
            channels=channels or (Channel.EMAIL,),
        )
    if as_json:
        echo_json(topic_json(topic))
        return
    stdout_console().print(
        f"Created topic [bold]{escape(topic.key)}[/bold] (id {topic.id}): "
        f"{topic.category.value}, {topic.consent_mode.value}"
        f"{', double opt-in' if topic.double_opt_in else ''}, on "
        f"{', '.join(sorted(c.value for c in topic.channels))}."
    )


@app.command("list")
def list_(*, tenant: TenantOption, as_json: JsonOption = False) -> None:
    """List a tenant's topics."""
    with open_services() as services:
        topics = services.topics.list_topics(tenant_id=tenant_id(services, tenant))
    if as_json:
        echo_json([topic_json(t) for t in topics])
        return
    table = Table("key", "name", "category", "mode", "double opt-in", "channels")
    for t in topics:
        table.add_row(
            escape(t.key),
            escape(t.name),
            t.category.value,
            t.consent_mode.value,
            "yes" if t.double_opt_in else "no",
            ", ".join(sorted(c.value for c in t.channels)),
        )
    stdout_console().print(table)
