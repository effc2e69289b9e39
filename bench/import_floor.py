"""What an import's rows cost SQLite itself, in the project's own tables: the floor under
`optledger import suppressions` with no Python of optledger's at all.

Creates a database with `optledger tenant create` (every migration applied), then writes N
prepared rows with raw sqlite3 `executemany` into `addresses`, `suppressions` and
`consent_events`, as `services.suppressions._apply_batch` writes them: batches of
--batch rows, each its own `BEGIN IMMEDIATE … COMMIT` (WAL, `synchronous=FULL`, foreign
keys on), rows in address-hash order, ids allocated in that order. Two layouts, run one
after the other on fresh files:

- `digest`: `value_digest` is SHA-256 of the value, as stored today. The unique key
  `(tenant_id, channel, value_digest)` is then in an order unrelated to the write order.
- `hash`: `value_digest` takes the address hash instead, so the unique key is in write
  order, as it would be if addresses were keyed by their hash (decision 0026).

Prints rows/s and the bytes the process wrote (WAL and checkpoints), the figure the load
of a shared machine does not change.

    .venv/bin/python bench/import_floor.py --rows 100000 --batch 800
"""

import argparse
import hashlib
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOW = "2026-12-03 06:00:00.000000"


def _database(directory: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(directory)
    command = [sys.executable, "-m", "optledger", "tenant", "create", "floor"]
    subprocess.run(command, env=env, check=True, capture_output=True)  # noqa: S603
    return directory / "optledger.db"


def _rows(count: int, *, layout: str) -> list[tuple[int, str, str, str]]:
    """(id, value, address hash, value digest), in hash order, ids in that order."""
    rows = []
    for n in range(count):
        value = f"floor{n}@example.com"
        address_hash = hashlib.sha256(b"address\x1f" + value.encode()).hexdigest()
        digest = address_hash if layout == "hash" else hashlib.sha256(value.encode()).hexdigest()
        rows.append((value, address_hash, digest))
    rows.sort(key=lambda row: row[1])
    return [(index + 1, *row) for index, row in enumerate(rows)]


def run(*, rows: int, batch: int, layout: str) -> tuple[float, float]:
    """(rows/s, MB written) of one run on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="import-floor-") as scratch:
        path = _database(Path(scratch))
        prepared = _rows(rows, layout=layout)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        (tenant_id,) = db.execute("SELECT id FROM tenants").fetchone()
        written = resource.getrusage(resource.RUSAGE_SELF).ru_oublock
        started = time.perf_counter()
        for start in range(0, rows, batch):
            part = prepared[start : start + batch]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO addresses (id, tenant_id, channel, value, value_digest,"
                " address_hash, contact_id, created_at) VALUES (?, ?, 'email', ?, ?, ?, NULL, ?)",
                [(i, tenant_id, value, digest, h, NOW) for i, value, h, digest in part],
            )
            db.executemany(
                "INSERT INTO suppressions (tenant_id, channel, address_hash, address_id,"
                " reason, created_at) VALUES (?, 'email', ?, ?, 'floor', ?)",
                [(tenant_id, h, i, NOW) for i, _, h, _ in part],
            )
            db.executemany(
                "INSERT INTO consent_events (id, tenant_id, occurred_at, action, outcome,"
                " channel, address_hash, address_id, via, actor, tags, context)"
                " VALUES (?, ?, ?, 'suppress', 'changed', 'email', ?, ?, 'import', 'cli',"
                " '[]', '{}')",
                [(i, tenant_id, NOW, h, i) for i, _, h, _ in part],
            )
            db.execute("COMMIT")
        seconds = time.perf_counter() - started
        db.close()
        blocks = resource.getrusage(resource.RUSAGE_SELF).ru_oublock - written
    return rows / seconds, blocks * 512 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=800, help="rows per transaction (800)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        for layout in ("digest", "hash"):
            rate, megabytes = run(rows=args.rows, batch=args.batch, layout=layout)
            print(f"round {round_} {layout:>6}: {rate:9,.0f} rows/s, {megabytes:6,.0f} MB written")


if __name__ == "__main__":
    main()
