"""Rows per second of `optledger import suppressions`, run as a user runs it, against
the ceiling of the same machine in the same run.

Generates a CSV of N new email addresses (`email,reason`), creates a tenant in a fresh
data directory (SQLite by default, or --database-url naming an empty PostgreSQL database),
then times the CLI import as a subprocess, start-up included, and reports its rows/s and
peak resident memory. With --bad-line L, row L of the file is made invalid, and the time
until the import stops and names it is reported instead.

The ceiling (issue 9, W3), timed right after the import on the same file: the CSV read
with the `csv` module and written into ONE table (`email`, `reason`, `created_at`; no
index but the rowid) in ONE transaction: on SQLite with sqlite3 `executemany`, WAL and
`synchronous=FULL`; on PostgreSQL with psycopg `COPY`, into a table created for the
run in the same database and dropped after it. `ratio` is the import's rows/s over it.
--quick: 20,000 rows.

    .venv/bin/python bench/import_rows.py --rows 100000
    .venv/bin/python bench/import_rows.py --quick
    .venv/bin/python bench/import_rows.py --rows 1000000 --database-url postgresql+psycopg://…
    .venv/bin/python bench/import_rows.py --rows 1000000 --bad-line 2
"""

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

OPTLEDGER = [sys.executable, "-m", "optledger"]


def write_csv(path: Path, *, rows: int, bad_line: int | None) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        for n in range(2, rows + 2):
            address = "not-an-email" if n == bad_line else f"user{n}@example.com"
            file.write(f"{address},bench\n")


def sqlite_ceiling(source: Path, database: Path) -> float:
    """Rows/s of sqlite3 `executemany` of the file into one table, one FULL transaction."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE bench_import_ceiling "
        "(id INTEGER PRIMARY KEY, email TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT)"
    )
    started = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with source.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        next(reader)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO bench_import_ceiling (email, reason, created_at) VALUES (?, ?, ?)",
            ((email, reason, now) for email, reason in reader),
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    (rows,) = connection.execute("SELECT count(*) FROM bench_import_ceiling").fetchone()
    connection.close()
    return rows / elapsed


def postgresql_ceiling(source: Path, database_url: str) -> float:
    """Rows/s of psycopg `COPY` of the file into one table, one transaction."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_import_ceiling")
        connection.execute(
            "CREATE TABLE bench_import_ceiling (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL, "
            "reason TEXT NOT NULL, created_at TIMESTAMP NOT NULL)"
        )
        connection.commit()
        try:
            started = time.perf_counter()
            now = datetime.now(UTC).replace(tzinfo=None)
            with source.open(newline="", encoding="utf-8") as file, connection.cursor() as cur:
                reader = csv.reader(file)
                next(reader)
                copy_sql = "COPY bench_import_ceiling (email, reason, created_at) FROM STDIN"
                with cur.copy(copy_sql) as copy:
                    for email, reason in reader:
                        copy.write_row((email, reason, now))
            connection.commit()
            elapsed = time.perf_counter() - started
            row = connection.execute("SELECT count(*) FROM bench_import_ceiling").fetchone()
        finally:
            connection.execute("DROP TABLE IF EXISTS bench_import_ceiling")
            connection.commit()
    return (row[0] if row else 0) / elapsed


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    if database_url:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--bad-line", type=int, help="make this line of the file invalid")
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    args = parser.parse_args()
    if args.quick:
        args.rows = 20_000

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        data_dir.mkdir()
        env = environment(data_dir, args.database_url)
        source = Path(scratch) / "optouts.csv"
        write_csv(source, rows=args.rows, bad_line=args.bad_line)
        subprocess.run(  # noqa: S603 - a fixed command line
            [*OPTLEDGER, "tenant", "create", "acme", "--json"],
            env=env,
            check=True,
            capture_output=True,
        )
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 - a fixed command line
            [*OPTLEDGER, "import", "suppressions", "--tenant", "acme", str(source)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report = {
            "rows": args.rows,
            "file_mb": round(source.stat().st_size / 1e6, 1),
            "exit_code": result.returncode,
            "seconds": round(elapsed, 2),
            "peak_rss_mb": round(peak_kib / 1024),
            "stdout": result.stdout.strip(),
            "stderr": result.stderr.strip().splitlines()[:3],
        }
        if args.bad_line is None and result.returncode == 0:
            rate = args.rows / elapsed
            ceiling = (
                postgresql_ceiling(source, args.database_url)
                if args.database_url
                else sqlite_ceiling(source, Path(scratch) / "ceiling.db")
            )
            report["rows_per_second"] = round(rate)
            report["ceiling_rows_per_second"] = round(ceiling)
            report["ratio"] = round(rate / ceiling, 3)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
