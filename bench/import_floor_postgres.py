"""What an import's rows cost PostgreSQL itself, in today's tables and in smaller candidate
layouts: the floor under `optledger import suppressions` on PostgreSQL, with no Python of
optledger's.

Empties the database `--url` names (it must be expendable), creates the schema with
`optledger tenant create` (every migration applied) and the candidate layouts' tables in
a schema `floor`, then, in turns for `--rounds`:

- `ceiling (subprocess)`: `bench/ceilings/bulk.py import-postgres` on the same rows as a
  CSV file, start-up included, exactly as `bench.run`'s w3-import times it (the W3
  denominator); `ceiling (insert)`: only its COPY of prepared rows into one table with a
  primary key, in one transaction;
- each layout: psycopg COPY of the prepared rows (`imported{n}@example.com`, the
  w3-import file's addresses, in address-hash order, ids given), in batches of `--batch`
  rows, each its own transaction. Every batch also does what every import batch does
  whatever the layout: one outbox row (`consent.changed.batch`) and one update of the
  import's progress row. Layouts:
  - `today`: `addresses`, `suppressions` and `consent_events` as
    `services.suppressions._apply_batch` writes them (12 event columns, decision 0037):
    eight index entries and five foreign-key checks a line;
  - `today, no FK`: the same with the foreign-key triggers off
    (`session_replication_role = replica`);
  - `two`: no addresses row, no foreign keys: `floor.suppressions` keyed by (tenant,
    channel, hash) holding the value and reason, and `floor.consent_events` with its
    primary key and the two indexes a suppression event is read by, (tenant, id) and
    (tenant, hash, id): two heaps and four index entries a line;
  - `one`: one `floor.imported_lines` row is both the ledger event and the suppression
    state of a line, with its primary key and one secondary index on (tenant, channel,
    hash): one heap and two index entries a line (the ceiling's table: one and one).

With `--lookups` each batch first does, in the same transaction, what an import must do
before writing whatever the layout: read the state stored under each of the batch's keys,
one statement per keyed table, probing its key once per value as
`services.suppressions._apply_batch` does on PostgreSQL (`unnest` joined `LATERAL … LIMIT
1`; `today` its addresses and suppressions, `two` its suppressions, `one` its lines), and
take the ids of its new rows from their sequences (`nextval` over `generate_series`:
`today` addresses and events, `two` events, `one` lines); the ids written are then those.

Prints, per round, each one's rows/s and its ratio to the subprocess ceiling of the round.

    .venv/bin/python bench/import_floor_postgres.py \\
      --url postgresql://postgres@127.0.0.1:5432/bench --rows 100000 --batch 500 [--lookups]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_floor import NOW, Row, csv_of, in_file_order, rows_of

TODAY = ("consent_events", "suppressions", "addresses", "outbox")
FLOOR = (
    "CREATE SCHEMA floor",
    "CREATE TABLE floor.suppressions (tenant_id INTEGER NOT NULL, channel VARCHAR(32) NOT NULL,"
    " address_hash VARCHAR(64) NOT NULL, value TEXT, reason TEXT NOT NULL,"
    " created_at TIMESTAMP NOT NULL, PRIMARY KEY (tenant_id, channel, address_hash))",
    "CREATE TABLE floor.consent_events (id BIGINT PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " occurred_at TIMESTAMP NOT NULL, action VARCHAR(32) NOT NULL,"
    " outcome VARCHAR(32) NOT NULL, channel VARCHAR(32), address_hash VARCHAR(64),"
    " via VARCHAR(64) NOT NULL, actor TEXT, tags TEXT NOT NULL, context TEXT NOT NULL)",
    "CREATE INDEX ON floor.consent_events (tenant_id, id)",
    "CREATE INDEX ON floor.consent_events (tenant_id, address_hash, id)",
    "CREATE TABLE floor.imported_lines (id BIGINT PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " occurred_at TIMESTAMP NOT NULL, action VARCHAR(32) NOT NULL,"
    " outcome VARCHAR(32) NOT NULL, channel VARCHAR(32) NOT NULL,"
    " address_hash VARCHAR(64) NOT NULL, value TEXT, reason TEXT NOT NULL,"
    " via VARCHAR(64) NOT NULL, actor TEXT, tags TEXT NOT NULL, context TEXT NOT NULL)",
    "CREATE INDEX ON floor.imported_lines (tenant_id, channel, address_hash)",
    "CREATE SEQUENCE floor.consent_events_id_seq",
    "CREATE SEQUENCE floor.imported_lines_id_seq",
    "CREATE TABLE floor.outbox (id BIGSERIAL PRIMARY KEY, tenant_id INTEGER NOT NULL,"
    " kind VARCHAR(64) NOT NULL, payload TEXT NOT NULL, created_at TIMESTAMP NOT NULL,"
    " run_at TIMESTAMP NOT NULL)",
    "CREATE TABLE floor.import_runs (id INTEGER PRIMARY KEY, applied INTEGER NOT NULL,"
    " updated_at TIMESTAMP NOT NULL)",
    "INSERT INTO floor.import_runs VALUES (1, 0, now())",
)


def _schema(url: str) -> None:
    """An emptied database with every migration applied, one tenant and one import run,
    and the candidate layouts' tables in schema `floor`."""
    with psycopg.connect(url, autocommit=True) as db:
        for name in ("public", "ceiling", "floor"):
            db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        db.execute("CREATE SCHEMA public")
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
        env["OPTLEDGER_DATA_DIR"] = scratch
        env["OPTLEDGER_DATABASE_URL"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
        command = [sys.executable, "-m", "optledger", "tenant", "create", "floor"]
        subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: S603
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO import_runs (id, tenant_id, digest, rows, applied, changed, repeated,"
            " created_at, updated_at) SELECT 1, id, 'floor', 0, 0, 0, 0, %s, %s FROM tenants",
            (NOW, NOW),
        )
        for statement in FLOOR:
            db.execute(statement)


def ceiling_insert(url: str, rows: list[Row]) -> float:
    """rows/s of the ceiling's COPY alone (one table with a primary key, one transaction)."""
    prepared = [(value, "bench") for value in in_file_order(rows)]
    with psycopg.connect(url) as db:
        db.execute("CREATE SCHEMA IF NOT EXISTS ceiling")
        db.execute("DROP TABLE IF EXISTS ceiling.imported")
        db.execute("CREATE TABLE ceiling.imported (email TEXT PRIMARY KEY, reason TEXT NOT NULL)")
        db.commit()
        started = time.perf_counter()
        with db.cursor() as cursor, cursor.copy("COPY ceiling.imported FROM STDIN") as copy:
            for row in prepared:
                copy.write_row(row)
        db.commit()
        return len(rows) / (time.perf_counter() - started)


def ceiling_subprocess(url: str, source: Path, rows: int) -> float:
    """rows/s of `bench/ceilings/bulk.py import-postgres` on `source`, start-up included."""
    command = [sys.executable, "-m", "bench.ceilings.bulk", "import-postgres", str(source), url]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    return rows / (time.perf_counter() - started)


def _copy(
    cursor: psycopg.Cursor[tuple[object, ...]], sql: str, rows: list[tuple[object, ...]]
) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _write_today(cursor: psycopg.Cursor[tuple[object, ...]], part: list[Row]) -> None:
    _copy(
        cursor,
        "COPY addresses (id, tenant_id, channel, value, value_digest, address_hash, created_at)"
        " FROM STDIN",
        [(i, 1, "email", value, h, h, NOW) for i, value, h in part],
    )
    _copy(
        cursor,
        "COPY suppressions (tenant_id, channel, address_hash, address_id, reason, created_at)"
        " FROM STDIN",
        [(1, "email", h, i, "bench", NOW) for i, _, h in part],
    )
    _copy(
        cursor,
        "COPY consent_events (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, address_id, via, actor, tags, context) FROM STDIN",
        [
            (i, 1, NOW, "suppress", "changed", "email", h, i, "import", "cli", "[]", "{}")
            for i, _, h in part
        ],
    )


def _write_two(cursor: psycopg.Cursor[tuple[object, ...]], part: list[Row]) -> None:
    _copy(
        cursor,
        "COPY suppressions (tenant_id, channel, address_hash, value, reason, created_at)"
        " FROM STDIN",
        [(1, "email", h, value, "bench", NOW) for _, value, h in part],
    )
    _copy(
        cursor,
        "COPY consent_events (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, via, actor, tags, context) FROM STDIN",
        [
            (i, 1, NOW, "suppress", "changed", "email", h, "import", "cli", "[]", "{}")
            for i, _, h in part
        ],
    )


def _write_one(cursor: psycopg.Cursor[tuple[object, ...]], part: list[Row]) -> None:
    _copy(
        cursor,
        "COPY imported_lines (id, tenant_id, occurred_at, action, outcome, channel,"
        " address_hash, value, reason, via, actor, tags, context) FROM STDIN",
        [
            (
                i,
                1,
                NOW,
                "suppress",
                "changed",
                "email",
                h,
                value,
                "bench",
                "import",
                "cli",
                "[]",
                "{}",
            )
            for i, value, h in part
        ],
    )


PROBE_ADDRESSES = (
    "SELECT found.* FROM unnest(%s::text[]) AS keys(key) JOIN LATERAL (SELECT * FROM addresses"
    " WHERE tenant_id = 1 AND channel = 'email' AND value_digest = keys.key LIMIT 1) AS found"
    " ON true"
)
PROBE_SUPPRESSIONS = (
    "SELECT found.* FROM unnest(%s::text[]) AS keys(key) JOIN LATERAL (SELECT * FROM"
    " suppressions WHERE tenant_id = 1 AND channel = 'email' AND address_hash = keys.key"
    " LIMIT 1) AS found ON true"
)
PROBE_LINES = (
    "SELECT found.* FROM unnest(%s::text[]) AS keys(key) JOIN LATERAL (SELECT * FROM"
    " imported_lines WHERE tenant_id = 1 AND channel = 'email' AND address_hash = keys.key"
    " LIMIT 1) AS found ON true"
)


LOOKUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (probes of the batch's keys, sequences its new rows' ids come from)
    "today": (
        (PROBE_ADDRESSES, PROBE_SUPPRESSIONS),
        ("addresses_id_seq", "consent_events_id_seq"),
    ),
    "two": ((PROBE_SUPPRESSIONS,), ("floor.consent_events_id_seq",)),
    "one": ((PROBE_LINES,), ("floor.imported_lines_id_seq",)),
}
LOOKUPS["today, no FK"] = LOOKUPS["today"]


def _read_first(
    cursor: psycopg.Cursor[tuple[object, ...]], layout: str, part: list[Row]
) -> list[Row]:
    """`--lookups`: the batch's keys probed, and its rows with ids from the sequences."""
    probes, sequences = LOOKUPS[layout]
    keys = [h for _, _, h in part]
    for probe in probes:
        if cursor.execute(probe, (keys,)).fetchall():
            raise RuntimeError("a new line was found")
    ids: list[int] = []
    for sequence in sequences:
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, len(part)))
        ids = sorted(int(row[0]) for row in cursor.fetchall())
    return [(i, value, h) for i, (_, value, h) in zip(ids, part, strict=True)]


Writer = Callable[[psycopg.Cursor[tuple[object, ...]], list[Row]], None]
LAYOUTS: dict[str, tuple[Writer, str, tuple[str, ...], bool]] = {
    # name: (writer, search_path, the tables it fills, foreign keys on)
    "today": (_write_today, "public", TODAY, True),
    "today, no FK": (_write_today, "public", TODAY, False),
    "two": (
        _write_two,
        "floor, public",
        ("suppressions", "consent_events", "outbox"),
        False,
    ),
    "one": (_write_one, "floor, public", ("imported_lines", "outbox"), False),
}


def floor(url: str, rows: list[Row], *, batch: int, layout: str, lookups: bool) -> float:
    """rows/s of one run of `layout`, its tables emptied first."""
    write, search_path, tables, keys = LAYOUTS[layout]
    with psycopg.connect(url) as db:
        if not keys:
            db.execute("SET session_replication_role = replica")
        db.execute(f"SET search_path = {search_path}")
        db.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        db.commit()
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            with db.cursor() as cursor:
                if lookups:
                    part = _read_first(cursor, layout, part)
                write(cursor, part)
                cursor.execute(
                    "INSERT INTO outbox (tenant_id, kind, payload, created_at, run_at)"
                    " VALUES (1, 'consent.changed.batch', %s, %s, %s)",
                    (json.dumps({"event_ids": [i for i, _, _ in part]}), NOW, NOW),
                )
                cursor.execute(
                    "UPDATE import_runs SET applied = %s, updated_at = %s WHERE id = 1",
                    (start + len(part), NOW),
                )
            db.commit()
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="an expendable database (emptied!)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--batch", type=int, default=500, help="rows per transaction (500: about the CLI's)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layout", action="append", choices=list(LAYOUTS), help="(all)")
    parser.add_argument("--lookups", action="store_true", help="read each batch's keys first")
    args = parser.parse_args()
    _schema(args.url)
    rows = rows_of(args.rows)
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        source = csv_of(rows, Path(scratch))
        for round_ in range(1, args.rounds + 1):
            top = ceiling_subprocess(args.url, source, args.rows)
            line: dict[str, object] = {
                "database": "postgresql",
                "rows": args.rows,
                "batch": args.batch,
                "round": round_,
                "lookups": args.lookups,
                "ceiling in file order": True,
                "ceiling (subprocess) rows/s": round(top),
                "ceiling (insert) rows/s": round(ceiling_insert(args.url, rows)),
            }
            for layout in args.layout or list(LAYOUTS):
                rate = floor(args.url, rows, batch=args.batch, layout=layout, lookups=args.lookups)
                line[layout] = {"rows/s": round(rate), "ratio": round(rate / top, 3)}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
