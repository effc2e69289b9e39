"""`optledger check`: filter a list of addresses down to those that may be contacted."""

from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Annotated, Final

import typer

from optledger.cli.common import TenantOption, open_services, tenant_id
from optledger.domain.channels import Channel
from optledger.services.list_checks import ListCheckChunk

__all__ = ["check"]

_STDIN: Final = "-"
_READ_SIZE: Final = 1024 * 1024


def check(
    *,
    tenant: TenantOption,
    topic: Annotated[str, typer.Option("--topic", help="The topic's key.")],
    channel: Annotated[Channel, typer.Option("--channel")],
    file: Annotated[
        str, typer.Argument(help="One address per line, UTF-8; '-' (the default) reads stdin.")
    ] = _STDIN,
) -> None:
    """Print the addresses that may be sent a message about a topic, normalised.

    Reads one address per line (blank lines are skipped) and writes each allowed one to
    stdout, in input order. A summary goes to stderr: how many were checked and allowed,
    and how many were blocked for each reason. A topic the tenant does not have blocks
    every address (`unknown_topic`), exactly as `GET /v1/checks` answers it.
    """
    allowed = 0
    blocked: Counter[str] = Counter()
    out = typer.get_binary_stream("stdout")
    with _open(file) as stream, open_services() as services:
        owner = tenant_id(services, tenant)
        answered = services.checks.check_list_chunks(
            tenant_id=owner, topic=topic, channel=channel, chunks=_chunks(stream), encode=_encoded
        )
        for count, lines, blocked_by_reason in answered:
            out.write(lines)
            allowed += count
            blocked.update(blocked_by_reason)
    out.flush()
    typer.echo(
        f"checked {allowed + blocked.total()}: {allowed} allowed, {blocked.total()} blocked",
        err=True,
    )
    for reason, count in sorted(blocked.items()):
        typer.echo(f"  {reason}: {count}", err=True)


def _encoded(chunk: ListCheckChunk) -> tuple[int, bytes, dict[str, int]]:
    """What is printed of an answered piece (in the thread that answered it): how many
    are allowed, their lines, and how many were blocked for each reason."""
    count, lines = chunk.allowed_lines()
    return count, lines, chunk.blocked()


def _open(file: str) -> AbstractContextManager[IO[bytes]]:
    """The input as bytes; stdin is left open for whoever owns it."""
    if file == _STDIN:
        return nullcontext(typer.get_binary_stream("stdin"))
    # Checked here: typer's own `exists` check does not understand '-' on a Path argument.
    if not Path(file).is_file():
        raise typer.BadParameter(f"{file!r} is not a readable file", param_hint="'FILE'")
    return Path(file).open("rb")


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_READ_SIZE):
        yield chunk
