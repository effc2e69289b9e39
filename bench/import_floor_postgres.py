"""What an import's rows cost PostgreSQL itself, in the project's own tables: the floor
under `optledger import suppressions` on PostgreSQL, with no Python of optledger's.

Empties the database `--url` names (it must be expendable), creates the schema with
`optledger tenant create` (every migration applied), then, in turns for `--rounds`:

- `ceiling`: psycopg COPY of every row into one table with a primary key, in one
  transaction, as `bench/ceilings/bulk.py` writes it (the w3-import ceiling);
- `floor`: psycopg COPY into `addresses`, `suppressions` and `consent_events` plus one
  outbox row per batch, as `services.suppressions._apply_batch` writes them, in batches
  of `--batch` rows, each its own transaction, rows in address-hash order, ids given;
- `floor, no FK`: the same with the foreign-key triggers off
  (`session_replication_role = replica`), to show what the foreign keys cost.

Prints rows/s of each and the floor's ratio to the ceiling.

    .venv/bin/python bench/import_floor_postgres.py \\
      --url postgresql://postgres@127.0.0.1:5432/bench --rows 100000 --batch 5000
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import psycopg

NOW = "2026-12-03 06:00:00.000000"
WRITTEN = ("consent_events", "suppressions", "addresses", "outbox")


def _schema(url: str) -> None:
    """An emptied database with every migration applied and one tenant."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS public CASCADE")
        db.execute("DROP SCHEMA IF EXISTS ceiling CASCADE")
        db.execute("CREATE SCHEMA public")
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
        env["OPTLEDGER_DATA_DIR"] = scratch
        env["OPTLEDGER_DATABASE_URL"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
        command = [sys.executable, "-m", "optledger", "tenant", "create", "floor"]
        subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: S603


def _rows(count: int, *, prefix: str) -> list[tuple[int, str, str]]:
    """(id, value, address hash), in hash order, ids in that order."""
    rows = []
    for n in range(count):
        value = f"{prefix}{n}@example.com"
        rows.append((value, hashlib.sha256(b"address\x1f" + value.encode()).hexdigest()))
    rows.sort(key=lambda row: row[1])
    return [(index + 1, value, digest) for index, (value, digest) in enumerate(rows)]


def ceiling(url: str, rows: list[tuple[int, str, str]]) -> float:
    with psycopg.connect(url) as db:
        db.execute("CREATE SCHEMA IF NOT EXISTS ceiling")
        db.execute("DROP TABLE IF EXISTS ceiling.imported")
        db.execute("CREATE TABLE ceiling.imported (email TEXT PRIMARY KEY, reason TEXT NOT NULL)")
        db.commit()
        started = time.perf_counter()
        with db.cursor() as cursor, cursor.copy("COPY ceiling.imported FROM STDIN") as copy:
            for _, value, _ in rows:
                copy.write_row((value, "imported"))
        db.commit()
        return len(rows) / (time.perf_counter() - started)


def floor(url: str, rows: list[tuple[int, str, str]], *, batch: int, keys: bool) -> float:
    with psycopg.connect(url) as db:
        if not keys:
            db.execute("SET session_replication_role = replica")
        db.execute(f"TRUNCATE {', '.join(WRITTEN)} CASCADE")
        tenant = db.execute("SELECT id FROM tenants").fetchone()
        if tenant is None:
            raise SystemExit("no tenant: the schema was not created")
        (tenant_id,) = tenant
        db.commit()
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            with db.cursor() as cursor:
                with cursor.copy(
                    "COPY addresses (id, tenant_id, channel, value, value_digest, address_hash,"
                    " created_at) FROM STDIN"
                ) as copy:
                    for i, value, digest in part:
                        copy.write_row((i, tenant_id, "email", value, digest, digest, NOW))
                with cursor.copy(
                    "COPY suppressions (tenant_id, channel, address_hash, address_id, reason,"
                    " created_at) FROM STDIN"
                ) as copy:
                    for i, _, digest in part:
                        copy.write_row((tenant_id, "email", digest, i, "imported", NOW))
                with cursor.copy(
                    "COPY consent_events (id, tenant_id, occurred_at, action, outcome, channel,"
                    " address_hash, address_id, via, actor, tags, context) FROM STDIN"
                ) as copy:
                    for i, _, digest in part:
                        event = (i, tenant_id, NOW, "suppress", "changed", "email", digest, i)
                        copy.write_row((*event, "import", "cli", "[]", "{}"))
                cursor.execute(
                    "INSERT INTO outbox (tenant_id, kind, payload, created_at, run_at)"
                    " VALUES (%s, 'consent.changed.batch', '{}', %s, %s)",
                    (tenant_id, NOW, NOW),
                )
            db.commit()
        return len(rows) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="an expendable database (emptied!)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="rows per transaction (5,000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    _schema(args.url)
    rows = _rows(args.rows, prefix="floor")
    for round_ in range(1, args.rounds + 1):
        top = ceiling(args.url, rows)
        keyed = floor(args.url, rows, batch=args.batch, keys=True)
        unkeyed = floor(args.url, rows, batch=args.batch, keys=False)
        print(
            f"round {round_}: ceiling {top:9,.0f} rows/s; floor {keyed:8,.0f} rows/s"
            f" ({keyed / top:.2f}x); floor without foreign keys {unkeyed:8,.0f} rows/s"
            f" ({unkeyed / top:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
