"""Rows per second of `optledger import suppressions`, run as a user runs it.

Generates a CSV of N new email addresses (`email,reason`), creates a tenant in a fresh
data directory (SQLite by default, or --database-url naming an empty PostgreSQL database),
then times the CLI import as a subprocess, start-up included, and reports its rows/s and
peak resident memory. With --bad-line L, row L of the file is made invalid, and the time
until the import stops and names it is reported instead.

    .venv/bin/python bench/import_rows.py --rows 100000
    .venv/bin/python bench/import_rows.py --rows 1000000 --bad-line 2
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTLEDGER = [sys.executable, "-m", "optledger"]


def write_csv(path: Path, *, rows: int, bad_line: int | None) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        for n in range(2, rows + 2):
            address = "not-an-email" if n == bad_line else f"user{n}@example.com"
            file.write(f"{address},bench\n")


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    if database_url:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bad-line", type=int, help="make this line of the file invalid")
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    args = parser.parse_args()

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
            report["rows_per_second"] = round(args.rows / elapsed)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
