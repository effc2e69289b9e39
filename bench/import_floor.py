"""What an import's rows cost SQLite itself, in today's tables and in smaller candidate
layouts: the floor under `optledger import suppressions` with no Python of optledger's.

Writes N prepared rows (`imported{n}@example.com`, the w3-import file's addresses, in
address-hash order, ids allocated in that order) with raw sqlite3 `executemany`, in
batches of --batch rows, each its own `BEGIN IMMEDIATE … COMMIT` (WAL,
`synchronous=FULL`), on a fresh file per run. Every batch also does what every import
batch does whatever the layout: one outbox row (`consent.changed.batch`) and one update
of the import's progress row. Layouts:

- `today`: the project's schema (`optledger tenant create`, every migration applied,
  foreign keys on): an `addresses`, a `suppressions` and a `consent_events` row per line,
  as `services.suppressions._apply_batch` writes them (the events INSERT names the 12
  columns an import sets, decision 0037): 10 b-trees a line.
- `two`: no addresses row and no foreign keys. `suppressions` WITHOUT ROWID keyed by
  (tenant, channel, hash), holding the value and reason, so one b-tree; `consent_events`
  (rowid id) with only the two indexes a suppression event is read by, (tenant, id) and
  (tenant, hash, id): 4 b-trees a line.
- `one`: a single `imported_lines` row is both the ledger event and the suppression state
  of a line (id, tenant, time, action, outcome, channel, hash, value, reason, provenance),
  with one secondary index on (tenant, channel, hash): 2 b-trees a line, as many as the
  ceiling's table.

With `--lookups` each batch first reads, in the same transaction, what an import must
read to decide each line's outcome: the state stored under each of the batch's keys, one
statement per keyed table, as `services.suppressions._apply_batch` reads it (the keys as
one JSON array through `json_each`): `today` its addresses and suppressions, `two` its
suppressions, `one` its lines.

In the same run, before the layouts of each round, the w3-import ceiling:
`ceiling (subprocess)` is `bench/ceilings/bulk.py import-sqlite` on the same rows as a CSV
file, start-up included, exactly as `bench.run` times it (the W3 denominator);
`ceiling (insert)` is only its `executemany` of prepared rows into one table with a
primary key in one FULL transaction. Each layout's rows/s is given with its ratio to the
subprocess ceiling of its round, with the process's CPU seconds and the bytes it wrote
(WAL and checkpoints: what a shared machine's load does not change).

    .venv/bin/python bench/import_floor.py --rows 100000 --batch 2000 --rounds 3 [--lookups]
"""

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

NOW = "2026-12-08 00:00:00.000000"
Row = tuple[int, str, str]
"""(id, value, address hash)."""

TWO = (
    "CREATE TABLE suppressions (tenant_id INTEGER NOT NULL, channel TEXT NOT NULL,"
    " address_hash TEXT NOT NULL, value TEXT, reason TEXT NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY (tenant_id, channel, address_hash)) WITHOUT ROWID",
    "CREATE TABLE consent_events (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " occurred_at TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,"
    " channel TEXT NOT NULL, address_hash TEXT NOT NULL, via TEXT, actor TEXT, tags TEXT,"
    " context TEXT)",
    "CREATE INDEX ix_consent_events_tenant_id_id ON consent_events (tenant_id, id)",
    "CREATE INDEX ix_consent_events_tenant_id_address_hash_id"
    " ON consent_events (tenant_id, address_hash, id)",
)
ONE = (
    "CREATE TABLE imported_lines (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " occurred_at TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL,"
    " channel TEXT NOT NULL, address_hash TEXT NOT NULL, value TEXT, reason TEXT NOT NULL,"
    " via TEXT, actor TEXT, tags TEXT, context TEXT)",
    "CREATE INDEX ix_imported_lines_key ON imported_lines (tenant_id, channel, address_hash)",
)
BOOKKEEPING = (
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, run_at TEXT NOT NULL)",
    "CREATE TABLE import_runs (id INTEGER PRIMARY KEY, applied INTEGER NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "INSERT INTO import_runs VALUES (1, 0, '')",
)


def _today(directory: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(directory)
    command = [sys.executable, "-m", "optledger", "tenant", "create", "floor"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: S603
    db = sqlite3.connect(directory / "optledger.db", isolation_level=None)
    db.execute(
        "INSERT INTO import_runs (id, tenant_id, digest, rows, applied, changed, repeated,"
        " created_at, updated_at) SELECT 1, id, 'floor', 0, 0, 0, 0, ?, ? FROM tenants",
        (NOW, NOW),
    )
    db.close()
    return directory / "optledger.db"


def _new(directory: Path, schema: tuple[str, ...]) -> Path:
    path = directory / "floor.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in (*schema, *BOOKKEEPING):
        db.execute(statement)
    db.close()
    return path


def rows_of(count: int) -> list[Row]:
    """The w3-import file's addresses with a stand-in keyed hash, in hash order."""
    rows = []
    for n in range(count):
        value = f"imported{n}@example.com"
        rows.append((value, hashlib.sha256(b"address\x1f" + value.encode()).hexdigest()))
    rows.sort(key=lambda row: row[1])
    return [(index + 1, value, digest) for index, (value, digest) in enumerate(rows)]


def _write_today(db: sqlite3.Connection, part: list[Row]) -> None:
    db.executemany(
        "INSERT INTO addresses (id, tenant_id, channel, value, value_digest, address_hash,"
        " contact_id, created_at) VALUES (?, 1, 'email', ?, ?, ?, NULL, ?)",
        [(i, value, h, h, NOW) for i, value, h in part],
    )
    db.executemany(
        "INSERT INTO suppressions (tenant_id, channel, address_hash, address_id, reason,"
        " created_at) VALUES (1, 'email', ?, ?, 'bench', ?)",
        [(h, i, NOW) for i, _, h in part],
    )
    db.executemany(
        "INSERT INTO consent_events (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, address_id, via, actor, tags, context) VALUES (?, 1, ?, 'suppress',"
        " 'changed', 'email', ?, ?, 'import', 'cli', '[]', '{}')",
        [(i, NOW, h, i) for i, _, h in part],
    )


def _write_two(db: sqlite3.Connection, part: list[Row]) -> None:
    db.executemany(
        "INSERT INTO suppressions (tenant_id, channel, address_hash, value, reason, created_at)"
        " VALUES (1, 'email', ?, ?, 'bench', ?)",
        [(h, value, NOW) for _, value, h in part],
    )
    db.executemany(
        "INSERT INTO consent_events (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, via, actor, tags, context) VALUES (?, 1, ?, 'suppress', 'changed',"
        " 'email', ?, 'import', 'cli', '[]', '{}')",
        [(i, NOW, h) for i, _, h in part],
    )


def _write_one(db: sqlite3.Connection, part: list[Row]) -> None:
    db.executemany(
        "INSERT INTO imported_lines (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, value, reason, via, actor, tags, context) VALUES (?, 1, ?, 'suppress',"
        " 'changed', 'email', ?, ?, 'bench', 'import', 'cli', '[]', '{}')",
        [(i, NOW, h, value) for i, value, h in part],
    )


LOOKUPS = {
    "today": (
        "SELECT id, contact_id FROM addresses WHERE tenant_id = 1 AND channel = 'email'"
        " AND value_digest IN (SELECT value FROM json_each(?))",
        "SELECT address_hash, reason FROM suppressions WHERE tenant_id = 1"
        " AND channel = 'email' AND address_hash IN (SELECT value FROM json_each(?))",
    ),
    "two": (
        "SELECT address_hash, reason FROM suppressions WHERE tenant_id = 1"
        " AND channel = 'email' AND address_hash IN (SELECT value FROM json_each(?))",
    ),
    "one": (
        "SELECT address_hash, reason FROM imported_lines WHERE tenant_id = 1"
        " AND channel = 'email' AND address_hash IN (SELECT value FROM json_each(?))",
    ),
}
"""What each layout reads per batch to decide its lines' outcomes (`--lookups`)."""

LAYOUTS: dict[str, tuple[Callable[[Path], Path], Callable[[sqlite3.Connection, list[Row]], None]]]
LAYOUTS = {
    "today": (_today, _write_today),
    "two": (lambda directory: _new(directory, TWO), _write_two),
    "one": (lambda directory: _new(directory, ONE), _write_one),
}


def floor(rows: list[Row], *, batch: int, layout: str, lookups: bool) -> dict[str, float]:
    """rows/s, CPU seconds and MB written of one run of `layout` on a fresh file."""
    make, write = LAYOUTS[layout]
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        db = sqlite3.connect(make(Path(scratch)), isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA foreign_keys={'ON' if layout == 'today' else 'OFF'}")
        written = resource.getrusage(resource.RUSAGE_SELF).ru_oublock
        cpu, started = time.process_time(), time.perf_counter()
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            db.execute("BEGIN IMMEDIATE")
            if lookups:
                keys = json.dumps([h for _, _, h in part])
                for statement in LOOKUPS[layout]:
                    if db.execute(statement, (keys,)).fetchall():
                        raise RuntimeError("a new line was found")
            write(db, part)
            db.execute(
                "INSERT INTO outbox (tenant_id, kind, payload, created_at, run_at)"
                " VALUES (1, 'consent.changed.batch', ?, ?, ?)",
                (json.dumps({"event_ids": [i for i, _, _ in part]}), NOW, NOW),
            )
            db.execute(
                "UPDATE import_runs SET applied = ?, updated_at = ? WHERE id = 1",
                (start + len(part), NOW),
            )
            db.execute("COMMIT")
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        db.close()
        blocks = resource.getrusage(resource.RUSAGE_SELF).ru_oublock - written
    return {"rows/s": len(rows) / seconds, "cpu s": cpu, "MB written": blocks * 512 / 1e6}


def ceiling_insert(rows: list[Row]) -> float:
    """rows/s of the ceiling's `executemany` alone (one table, one FULL transaction)."""
    with tempfile.TemporaryDirectory(prefix="import-ceiling-") as scratch:
        db = sqlite3.connect(Path(scratch) / "ceiling.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE imported (email TEXT PRIMARY KEY, reason TEXT NOT NULL)")
        prepared = [(value, "bench") for value in in_file_order(rows)]
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO imported (email, reason) VALUES (?, ?)", prepared)
        db.execute("COMMIT")
        seconds = time.perf_counter() - started
        db.close()
    return len(rows) / seconds


def ceiling_subprocess(source: Path, rows: int) -> float:
    """rows/s of `bench/ceilings/bulk.py import-sqlite` on `source`, start-up included."""
    with tempfile.TemporaryDirectory(prefix="import-ceiling-") as scratch:
        command = [sys.executable, "-m", "bench.ceilings.bulk", "import-sqlite", str(source)]
        started = time.perf_counter()
        subprocess.run(  # noqa: S603
            [*command, str(Path(scratch) / "ceiling.db")], check=True, capture_output=True
        )
        return rows / (time.perf_counter() - started)


def in_file_order(rows: list[Row]) -> list[str]:
    """The rows' values in the w3-import file's order (`imported0@…`, `imported1@…`, …),
    which is the order the ceiling inserts them in."""
    return [f"imported{n}@example.com" for n in range(len(rows))]


def csv_of(rows: list[Row], directory: Path) -> Path:
    """The w3-import file of these rows, as `bench.run` writes it."""
    path = directory / "import.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        file.writelines(f"{value},bench\n" for value in in_file_order(rows))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--batch", type=int, default=2_000, help="rows per transaction (2,000: the CLI's)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layout", action="append", choices=list(LAYOUTS), help="(all)")
    parser.add_argument("--lookups", action="store_true", help="read each batch's keys first")
    args = parser.parse_args()
    rows = rows_of(args.rows)
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        source = csv_of(rows, Path(scratch))
        for round_ in range(1, args.rounds + 1):
            top = ceiling_subprocess(source, args.rows)
            line: dict[str, object] = {
                "database": "sqlite",
                "rows": args.rows,
                "batch": args.batch,
                "round": round_,
                "lookups": args.lookups,
                "ceiling in file order": True,
                "ceiling (subprocess) rows/s": round(top),
                "ceiling (insert) rows/s": round(ceiling_insert(rows)),
            }
            for layout in args.layout or list(LAYOUTS):
                measured = floor(rows, batch=args.batch, layout=layout, lookups=args.lookups)
                line[layout] = {
                    **{name: round(value, 2) for name, value in measured.items()},
                    "ratio": round(measured["rows/s"] / top, 3),
                }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
