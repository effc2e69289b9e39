"""`optledger import suppressions` and `optledger export suppressions`: CSV in and out.

Progress goes to stderr, and only when stderr is a terminal, so logs and pipes stay clean.
"""

import csv
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Final

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from optledger.cli.common import TenantOption, open_services, stderr_console, tenant_id
from optledger.domain.errors import InvalidInput
from optledger.domain.model import Provenance
from optledger.services import Services
from optledger.services.suppressions import ImportReport

__all__ = ["EXPORT_COLUMNS", "export_app", "import_app"]

EXPORT_COLUMNS: Final = ("channel", "address", "address_hash", "reason", "created_at")
_PAGE_SIZE: Final = 1_000
_PROVENANCE: Final = Provenance(via="import", actor="cli")

import_app = typer.Typer(help="Import data from files.", no_args_is_help=True)
export_app = typer.Typer(help="Export data to files.", no_args_is_help=True)


class _Meter:
    """What a command tells the progress display: how far it got, and what it is doing."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)

    def describe(self, activity: str) -> None:
        self._progress.update(self._task, description=activity)


@contextmanager
def _progress(*, activity: str, total: int | None) -> Iterator[_Meter]:
    """A progress display on stderr: a byte bar when `total` is known, else a count."""
    console = stderr_console()
    columns = (
        (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
        )
        if total is not None
        else (SpinnerColumn(), TextColumn("{task.description}: {task.completed} rows"))
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        yield _Meter(progress, progress.add_task(activity, total=total))


@import_app.command("suppressions")
def import_suppressions(
    *,
    tenant: TenantOption,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="UTF-8 CSV with a header row."
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the good rows even if some rows are bad."),
    ] = False,
) -> None:
    """Import suppressions from CSV.

    The header names an `email` or `phone` column, or `channel` and `address`; optional
    columns are `topic`, `reason` and `timestamp`. With any bad row nothing is imported
    and the command exits with 1, listing every bad row, unless --skip-invalid is given.
    """
    with open_services() as services:
        report = _import(services, tenant=tenant, file=file, skip_invalid=skip_invalid)
    typer.echo(
        f"rows {report.rows}, changed {report.changed}, repeated {report.repeated}, "
        f"skipped {len(report.errors)}"
    )
    for error in report.errors:
        typer.echo(f"line {error.line}: {error.field}: {error.reason}", err=True)


def _import(services: Services, *, tenant: str, file: Path, skip_invalid: bool) -> ImportReport:
    owner = tenant_id(services, tenant)
    with (
        _progress(activity="checking", total=file.stat().st_size) as meter,
        file.open("rb") as stream,
    ):
        try:
            return services.suppressions.import_csv(
                tenant_id=owner,
                lines=_decoded_lines(stream, meter=meter),
                skip_invalid=skip_invalid,
                provenance=_PROVENANCE,
            )
        except InvalidInput as error:
            # Bad rows are a finding about the file, reported like any other result.
            for problem in error.errors:
                typer.echo(f"{problem.field}: {problem.reason}", err=True)
            typer.echo(
                f"nothing imported: {len(error.errors)} problem(s) in {file.name}; "
                "fix them, or pass --skip-invalid to import the good rows",
                err=True,
            )
            raise typer.Exit(1) from None


def _decoded_lines(stream: IO[bytes], *, meter: _Meter) -> Iterator[str]:
    """The file's lines as text, with their line endings (csv needs them to see quoted
    newlines). Bytes are counted as they are read; once every row is checked, the
    service writes them all in one transaction, which the display then says."""
    for number, raw in enumerate(stream, start=1):
        meter.advance(len(raw))
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput.of(f"line {number}", "is not UTF-8 text") from None
    meter.describe("writing")


@export_app.command("suppressions")
def export_suppressions(
    *,
    tenant: TenantOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", dir_okay=False, help="Write here instead of to stdout."),
    ] = None,
) -> None:
    """Export a tenant's suppressions as CSV: channel,address,address_hash,reason,created_at.

    The address is empty where the person was erased; the keyed hash remains. A file is
    written under a temporary name and renamed when complete.
    """
    with open_services() as services:
        owner = tenant_id(services, tenant)
        if output is None:
            _export(services, tenant_id=owner, stream=sys.stdout)
            return
        temporary = output.with_name(f".{output.name}.partial")
        try:
            with temporary.open("w", encoding="utf-8", newline="") as stream:
                _export(services, tenant_id=owner, stream=stream)
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)


def _export(services: Services, *, tenant_id: int, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    cursor: tuple[str, str] | None = None
    with _progress(activity="exporting", total=None) as meter:
        while True:
            page = services.suppressions.export_page(
                tenant_id=tenant_id, after=cursor, limit=_PAGE_SIZE
            )
            writer.writerows(
                (
                    row.channel.value,
                    row.address or "",
                    row.address_hash,
                    row.reason,
                    row.created_at.isoformat(),
                )
                for row in page.rows
            )
            meter.advance(len(page.rows))
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
