"""The bulk ceilings, each run as a subprocess so that, like the optledger CLI it is measured
against, its time includes the interpreter's start-up:

    python -m bench.ceilings.bulk import-sqlite FILE.csv DB.sqlite
        raw sqlite3 executemany of every (email, reason) row in one transaction into one
        table (WAL, synchronous=FULL), on a fresh file
    python -m bench.ceilings.bulk import-postgres FILE.csv postgresql://…
        psycopg COPY of every row into one table (ceiling.imported, emptied first)
    python -m bench.ceilings.bulk list-check LIST.txt DATABASE_URL
        the list check as a polars anti-join: the list's lines (trimmed, lower-cased)
        against the email addresses the optledger database at DATABASE_URL suppresses

Each prints one JSON line: what it did and how many rows.
"""

import argparse
import csv
import json
import sqlite3
from pathlib import Path

import polars as pl
import psycopg

SUPPRESSED = (
    "SELECT a.value FROM suppressions s JOIN addresses a ON a.id = s.address_id"
    " WHERE s.channel = 'email'"
)


def _rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        next(reader)
        return [(row[0], row[1]) for row in reader]


def import_sqlite(source: Path, database: Path) -> dict[str, object]:
    rows = _rows(source)
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE imported (email TEXT PRIMARY KEY, reason TEXT NOT NULL)")
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO imported (email, reason) VALUES (?, ?)", rows)
    db.execute("COMMIT")
    db.close()
    return {"ceiling": "sqlite executemany", "rows": len(rows)}


def import_postgres(source: Path, url: str) -> dict[str, object]:
    count = 0
    with psycopg.connect(url) as db:
        db.execute("CREATE SCHEMA IF NOT EXISTS ceiling")
        db.execute("DROP TABLE IF EXISTS ceiling.imported")
        db.execute("CREATE TABLE ceiling.imported (email TEXT PRIMARY KEY, reason TEXT NOT NULL)")
        with (
            db.cursor() as cursor,
            cursor.copy("COPY ceiling.imported (email, reason) FROM STDIN") as copy,
        ):
            for row in _rows(source):
                copy.write_row(row)
                count += 1
    return {"ceiling": "psycopg COPY", "rows": count}


def list_check(source: Path, url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            suppressed = [row[0] for row in db.execute(SUPPRESSED)]
    else:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
            suppressed = [row[0] for row in db.execute(SUPPRESSED)]
    blocked = pl.DataFrame({"address": suppressed}, schema={"address": pl.String})
    lines = (
        pl.read_csv(source, has_header=False, new_columns=["address"], quote_char=None)
        .select(pl.col("address").str.strip_chars().str.to_lowercase())
        .filter(pl.col("address") != "")
    )
    allowed = lines.join(blocked, on="address", how="anti").height
    return {
        "ceiling": "polars anti-join",
        "lines": lines.height,
        "allowed": allowed,
        "blocked": lines.height - allowed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["import-sqlite", "import-postgres", "list-check"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target")
    args = parser.parse_args()
    if args.what == "import-sqlite":
        report = import_sqlite(args.source, Path(args.target))
    elif args.what == "import-postgres":
        report = import_postgres(args.source, args.target)
    else:
        report = list_check(args.source, args.target)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
