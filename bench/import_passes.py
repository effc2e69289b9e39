"""Where the time of `optledger import suppressions` goes: its fixed costs and the per-row
cost of each pass, each measured in the same run as the w3-import ceiling (decision 0040).

Every round, in this order (ceiling and optledger alternating round after round):

- `ceiling`: `bench/ceilings/bulk.py` on the same file as a subprocess, as `bench.run`'s
  w3-import times it (SQLite executemany into one table in one FULL transaction, or
  psycopg COPY into one table), start-up included;
- `cli` (unless `--no-cli`): `optledger import suppressions` of the file as a
  subprocess, start-up included, on a fresh database: the w3-import figure;
- `passes`: the same import in process, as the CLI calls it
  (`services.suppressions.import_csv`, the CLI's provenance), on a fresh database, with
  pass 1 (`_check`: parse, validate, normalise, hash, spool in sorted runs) and pass 2
  (`_write`) timed. Pass 2 is split into: reading the runs back (merge and decode, in the
  calling thread); inside each batch's work, the bulk inserts (`CursorExecutor.run_many`,
  `copy_rows`: executemany / COPY, driver included), the other statements (look-ups, id
  allocation, progress, outbox: `CursorExecutor._execute` and SQLAlchemy's
  `Connection.execute`, which PostgreSQL's look-ups use) and the Python remainder
  (deciding outcomes, building tuples); and each transaction's own cost (BEGIN,
  savepoint, COMMIT and the hand-off to the writer thread: `transactions.write` minus
  its work);
- `stages` (first round only, unless `--no-stages`): pass 1's stages alone, each over
  every row in turn: CSV parse (`read_csv`), `normalise_address` (validation and
  normalisation), the keyed hash, the whole `_validate`, spool encoding with the run
  digest, the sort into runs with spooling, and pass 2's read-back (merge, decode).

With `--startup` it measures instead, in rounds: the wall time of `python -c pass`, of the
ceiling and of the CLI on a 1-row file (each a subprocess, the CLI on a fresh database),
and `python -X importtime` of the CLI's 1-row import (its total and largest imports).

Prints one JSON line per measurement. `--database-url` names an expendable PostgreSQL
database (emptied!); without it, SQLite files in a temporary directory.

    flock /work/wt/bench.lock .venv/bin/python bench/import_passes.py --rows 100000 --rounds 3
    flock /work/wt/bench.lock .venv/bin/python bench/import_passes.py --startup --rounds 5
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection

from optledger.bootstrap import build
from optledger.config import Settings
from optledger.domain.channels import Channel, normalise_address
from optledger.domain.model import Provenance
from optledger.services import suppressions
from optledger.services.import_files import Record, read_csv
from optledger.storage.cursor import CursorExecutor
from optledger.storage.transactions import SqlTransactions

PROVENANCE = Provenance(via="import", actor="cli")
"""The CLI's (`optledger.cli.suppressions`)."""
CHUNK_BYTES = 1 << 20


def _file(directory: Path, rows: int) -> Path:
    """The w3-import file of `bench.run`: `rows` new addresses, one reason."""
    path = directory / f"import-{rows}.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        file.writelines(f"imported{n}@example.com,bench\n" for n in range(rows))
    return path


def _fresh(directory: Path, url: str | None) -> dict[str, str]:
    """The environment of an optledger on an empty database with tenant `bench`."""
    directory.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(directory)
    env["OPTLEDGER_LOG_LEVEL"] = "warning"
    if url is not None:
        with psycopg.connect(_driver_url(url), autocommit=True) as db:
            db.execute("DROP SCHEMA IF EXISTS public CASCADE")
            db.execute("DROP SCHEMA IF EXISTS ceiling CASCADE")
            db.execute("CREATE SCHEMA public")
        env["OPTLEDGER_DATABASE_URL"] = url
    _run([sys.executable, "-m", "optledger", "tenant", "create", "bench"], env=env)
    return env


def _driver_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _run(command: list[str], *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True)  # noqa: S603


def _wall(command: list[str], *, env: dict[str, str]) -> float:
    started = time.perf_counter()
    _run(command, env=env)
    return time.perf_counter() - started


def _ceiling(source: Path, directory: Path, url: str | None) -> float:
    """Seconds of the w3-import ceiling's subprocess on `source`."""
    if url is None:
        what, target = "import-sqlite", str(directory / f"ceiling-{time.monotonic_ns()}.sqlite")
    else:
        what, target = "import-postgres", _driver_url(url)
    command = [sys.executable, "-m", "bench.ceilings.bulk", what, str(source), target]
    return _wall(command, env={**os.environ})


def _cli(source: Path, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "optledger", "import", "suppressions", "--tenant", "bench"]
    return _wall([*command, str(source)], env=env)


class _Clock:
    """Seconds accumulated per part of an in-process import (see the module docstring)."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.batches = 0
        self.in_work = threading.local()

    def add(self, part: str, seconds: float) -> None:
        self.parts[part] = self.parts.get(part, 0.0) + seconds

    def timing(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(part, time.perf_counter() - started)

        return timed

    def statement(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` timed as `part` when it runs inside a batch's work."""
        timed = self.timing(part, function)

        def inside(*args: Any, **kwargs: Any) -> Any:
            if getattr(self.in_work, "on", False):
                return timed(*args, **kwargs)
            return function(*args, **kwargs)

        return inside

    def transaction(self, write: Callable[..., Any]) -> Callable[..., Any]:
        """`SqlTransactions.write` timed whole (`writes`) and its work alone (`work`)."""

        def timed_write(transactions: SqlTransactions, work: Callable[[Any], Any]) -> Any:
            def timed_work(uow: Any) -> Any:
                self.in_work.on = True
                started = time.perf_counter()
                try:
                    return work(uow)
                finally:
                    self.add("work", time.perf_counter() - started)
                    self.in_work.on = False

            started = time.perf_counter()
            try:
                return write(transactions, timed_work)
            finally:
                self.add("writes", time.perf_counter() - started)
                self.batches += 1

        return timed_write


@contextmanager
def _instrumented(clock: _Clock) -> Iterator[None]:
    service = suppressions.SuppressionService
    patched: list[tuple[type, str, Any]] = [
        (service, "_check", clock.timing("pass 1", service._check)),
        (service, "_write", clock.timing("pass 2", service._write)),
        (SqlTransactions, "write", clock.transaction(SqlTransactions.write)),
        (CursorExecutor, "run_many", clock.statement("bulk", CursorExecutor.run_many)),
        (CursorExecutor, "copy_rows", clock.statement("bulk", CursorExecutor.copy_rows)),
        (CursorExecutor, "_execute", clock.statement("statements", CursorExecutor._execute)),
        (Connection, "execute", clock.statement("statements", Connection.execute)),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, replacement in patched:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _chunks(source: Path) -> Iterator[bytes]:
    with source.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def passes(source: Path, env: dict[str, str], *, rows: int) -> dict[str, object]:
    """An in-process import of `source`, timed pass by pass, as µs per row."""
    clock = _Clock()
    with build(Settings.from_env(env)) as runtime:
        service = runtime.services.suppressions
        tenant_id = runtime.services.tenants.get_tenant(name="bench").id
        started = time.perf_counter()
        with _instrumented(clock):
            report = service.import_csv(
                tenant_id=tenant_id,
                chunks=_chunks(source),
                skip_invalid=False,
                provenance=PROVENANCE,
            )
        total = time.perf_counter() - started
    if report.changed != rows:
        raise RuntimeError(f"{report.changed} of {rows} rows changed")
    p = clock.parts
    # The first write opens the import run, in pass 1's wake, outside pass 2.
    work_python = p["work"] - p.get("bulk", 0.0) - p.get("statements", 0.0)
    parts = {
        "total": total,
        "pass 1": p["pass 1"],
        "pass 2": p["pass 2"],
        "pass 2 read-back (merge, decode)": p["pass 2"] - p["writes"],
        "pass 2 work: Python": work_python,
        "pass 2 work: bulk inserts": p.get("bulk", 0.0),
        "pass 2 work: other statements": p.get("statements", 0.0),
        "pass 2 transactions (BEGIN/COMMIT, hand-off)": p["writes"] - p["work"],
    }
    return {
        "batches": clock.batches - 1,
        "seconds": {name: round(value, 3) for name, value in parts.items()},
        "us_per_row": {name: round(value / rows * 1e6, 2) for name, value in parts.items()},
    }


def stages(source: Path, env: dict[str, str], *, rows: int) -> dict[str, float]:
    """Pass 1's stages alone, each over every row of `source`: µs per row."""
    timings: dict[str, float] = {}

    def timed(name: str, function: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = function()
        timings[name] = round((time.perf_counter() - started) / rows * 1e6, 2)
        return result

    with build(Settings.from_env(env)) as runtime:
        tenant = runtime.services.tenants.get_tenant(name="bench")
        ctx = runtime.services.suppressions._ctx
        records = timed("csv parse (read_csv)", lambda: list(read_csv(_chunks(source))))
        raws = [r.values["email"] for r in records if isinstance(r, Record)]
        region = tenant.default_region
        values = timed(
            "normalise_address",
            lambda: [
                normalise_address(
                    channel=Channel.EMAIL, raw=raw, default_region=region, field="email"
                )
                for raw in raws
            ],
        )
        hasher = ctx.hasher
        hashes = timed(
            "keyed hash (address_hash)",
            lambda: [
                hasher.address_hash(tenant_id=tenant.id, channel=Channel.EMAIL, value=value)
                for value in values
            ],
        )
        topics: dict[str, Any] = {}
        now = ctx.clock.now()
        validate = runtime.services.suppressions._validate
        checked = timed(
            "whole _validate (normalise + hash + fields)",
            lambda: [
                validate(record, tenant=tenant, topics=topics, now=now)
                for record in records
                if isinstance(record, Record)
            ],
        )
        if len(checked) != len(hashes):
            raise RuntimeError("the stages saw different rows")

        def encode() -> list[str]:
            digest = hashlib.sha256()
            lines = []
            for row in checked:
                line = suppressions._encode(row)
                digest.update(f"{line}\n".encode())
                lines.append(line)
            return lines

        lines = timed("spool encode + run digest", encode)
        with ExitStack() as stack:
            runs = suppressions._SortedRuns(ctx.spools, stack)

            def spool() -> None:
                for row, line in zip(checked, lines, strict=True):
                    runs.add(row.address_hash, line)
                runs.replay(start=0)  # spills the last window

            timed("sort into runs + spool write", spool)
            timed("read-back: merge + decode (pass 2)", lambda: list(runs.replay(start=0)))
    return timings


def startup(directory: Path, url: str | None, *, round_: int) -> dict[str, object]:
    """Fixed costs: wall seconds of a 1-row run of each program, and the CLI's imports."""
    source = _file(directory, 1)
    env = _fresh(directory / f"startup-{round_}", url)
    python = _wall([sys.executable, "-c", "pass"], env=env)
    ceiling = _ceiling(source, directory, url)
    cli = _cli(source, env)
    command = [sys.executable, "-X", "importtime", "-m", "optledger", "import", "suppressions"]
    env = _fresh(directory / f"importtime-{round_}", url)
    profile = _run([*command, "--tenant", "bench", str(source)], env=env).stderr
    total = 0
    by_package: dict[str, int] = {}
    for match in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", profile):
        package = match.group(4).split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(match.group(1))
        if len(match.group(3)) == 1:  # not indented: a top-level import
            total += int(match.group(2))
    largest = sorted(by_package.items(), key=lambda item: -item[1])[:10]
    return {
        "python -c pass s": round(python, 3),
        "ceiling 1 row s": round(ceiling, 3),
        "cli 1 row s": round(cli, 3),
        "cli imports s": round(total / 1e6, 3),
        "import self time by package s": {name: round(us / 1e6, 3) for name, us in largest},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an expendable PostgreSQL database (emptied!)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess")
    parser.add_argument("--no-stages", action="store_true", help="skip pass 1's stages")
    parser.add_argument("--startup", action="store_true", help="fixed costs only")
    args = parser.parse_args()
    url = args.database_url
    database = "postgresql" if url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="import-passes-") as scratch:
        directory = Path(scratch)
        if args.startup:
            for round_ in range(1, args.rounds + 1):
                report = startup(directory, url, round_=round_)
                print(json.dumps({"database": database, "round": round_, **report}), flush=True)
            return
        source = _file(directory, args.rows)
        for round_ in range(1, args.rounds + 1):
            line: dict[str, object] = {"database": database, "rows": args.rows, "round": round_}
            ceiling = _ceiling(source, directory, url)
            line["ceiling rows/s"] = round(args.rows / ceiling)
            if not args.no_cli:
                cli = _cli(source, _fresh(directory / f"cli-{round_}", url))
                line["cli rows/s"] = round(args.rows / cli)
                line["cli ratio"] = round(ceiling / cli, 3)
            line["ceiling s"] = round(ceiling, 3)
            env = _fresh(directory / f"passes-{round_}", url)
            line["in-process"] = passes(source, env, rows=args.rows)
            if round_ == 1 and not args.no_stages:
                env = _fresh(directory / f"stages-{round_}", url)
                line["pass 1 stages us/row"] = stages(source, env, rows=args.rows)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
