"""`optledger import suppressions` and `optledger export suppressions`: CSV in and out.

The import hands the file's bytes to the service, which checks and then writes them
(see `optledger.services.suppressions`). Progress goes to stderr, and only when stderr is
a terminal, so logs and pipes stay clean: "1/2 checking" (bytes read) then "2/2 writing"
(rows written).
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
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from optledger.cli.common import TenantOption, open_services, stderr_console, tenant_id
from optledger.cli.errors import exit_code
from optledger.domain.errors import InvalidInput, Unavailable
from optledger.domain.model import Provenance
from optledger.services import Services
from optledger.services.suppressions import ImportReport

__all__ = ["EXPORT_COLUMNS", "export_app", "import_app"]

EXPORT_COLUMNS: Final = ("channel", "address", "address_hash", "reason", "created_at")
_PAGE_SIZE: Final = 1_000
_CHUNK_BYTES: Final = 256 * 1024
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

    def restart(self, activity: str, *, total: int, completed: int) -> None:
        """Show a new phase of the work, `completed` of `total` done already."""
        self._progress.reset(self._task, total=total, completed=completed, description=activity)

    def update(self, *, completed: int) -> None:
        self._progress.update(self._task, completed=completed)


@contextmanager
def _progress(*, activity: str, total: int | None) -> Iterator[_Meter]:
    """A progress display on stderr: a bar when `total` is known, else a count."""
    console = stderr_console()
    columns = (
        (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
        )
        if total is not None
        else (SpinnerColumn(), TextColumn("{task.description}: {task.completed} rows"))
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        yield _Meter(progress, progress.add_task(activity, total=total))


class _WritingMeter:
    """The import's write pass on the progress display (an `ImportObserver`)."""

    def __init__(self, meter: _Meter) -> None:
        self._meter = meter
        self._started = False

    def writing(self, *, written: int, total: int) -> None:
        if self._started:
            self._meter.update(completed=written)
            return
        self._started = True
        activity = f"2/2 writing (resuming after row {written})" if written else "2/2 writing"
        self._meter.restart(activity, total=total, completed=written)


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
        typer.Option(
            "--skip-invalid",
            help="Import the good rows and list the bad ones, instead of stopping at the first.",
        ),
    ] = False,
) -> None:
    """Import suppressions from CSV.

    The header names an `email` or `phone` column, or `channel` and `address`; optional
    columns are `topic`, `reason` and `timestamp`. The file is checked first: at its first
    bad row the command stops, exits with 1 and names the line, and nothing is imported,
    unless --skip-invalid is given. Then the rows are written in short batches, so a
    server using the same database keeps taking opt-outs meanwhile. An import that was
    interrupted can simply be run again: it goes on after the rows already written.
    """
    with open_services() as services:
        report = _import(services, tenant=tenant, file=file, skip_invalid=skip_invalid)
    typer.echo(
        f"rows {report.rows}, changed {report.changed}, repeated {report.repeated}, "
        f"skipped {report.skipped}"
    )
    if report.resumed:
        typer.echo(
            f"resumed an unfinished import of the same rows: {report.resumed} of them had "
            "been written before",
            err=True,
        )
    for error in report.errors:
        typer.echo(f"line {error.line}: {error.field}: {error.reason}", err=True)
    if report.skipped > len(report.errors):
        typer.echo(f"and {report.skipped - len(report.errors)} more bad rows", err=True)


def _import(services: Services, *, tenant: str, file: Path, skip_invalid: bool) -> ImportReport:
    owner = tenant_id(services, tenant)
    with (
        _progress(activity="1/2 checking", total=file.stat().st_size) as meter,
        file.open("rb") as stream,
    ):
        try:
            return services.suppressions.import_csv(
                tenant_id=owner,
                chunks=_chunks(stream, meter=meter),
                skip_invalid=skip_invalid,
                provenance=_PROVENANCE,
                observer=_WritingMeter(meter),
            )
        except InvalidInput as error:
            # A bad file is a finding about the file, reported like any other result.
            for problem in error.errors:
                typer.echo(f"{problem.field}: {problem.reason}", err=True)
            typer.echo(
                f"nothing imported from {file.name} (an import stops at its first bad row; "
                "--skip-invalid imports the good rows and lists the bad ones)",
                err=True,
            )
            raise typer.Exit(1) from None
        except Unavailable:
            typer.echo(
                "import stopped: the database stayed busy or unreachable; the rows written "
                "so far are kept, and running the same import again goes on after them",
                err=True,
            )
            raise typer.Exit(exit_code(Unavailable()) or 1) from None


def _chunks(stream: IO[bytes], *, meter: _Meter) -> Iterator[bytes]:
    """The file's bytes in chunks, counted on the display as they are read."""
    while chunk := stream.read(_CHUNK_BYTES):
        meter.advance(len(chunk))
        yield chunk


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
