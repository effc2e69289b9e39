"""The SIGKILL durability test, for as many cycles as you like.

Each cycle starts `optledger serve` on one data directory (its SQLite file, or with
--database-url a PostgreSQL database), drives unsubscribes at it from client threads,
kills it with SIGKILL at a random moment, and checks that every unsubscribe acknowledged
so far (in any cycle) is stored with exactly one event and, on SQLite, that the integrity
check passes. tests/crash runs 20 SQLite and 5 PostgreSQL cycles in CI; this runs more.

    .venv/bin/python bench/crash_cycles.py --cycles 400
    .venv/bin/python bench/crash_cycles.py --cycles 400 --workers 2
    .venv/bin/python bench/crash_cycles.py --cycles 200 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/crash

The PostgreSQL database must exist and be empty; it is migrated by the first start.
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.crash.harness import check_database, create_tenant, cycle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server processes (--workers)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch)
        key = create_tenant(data, args.database_url)
        acknowledged: list[str] = []
        for number in range(args.cycles):
            acknowledged += cycle(
                data_dir=data,
                database_url=args.database_url,
                key=key,
                number=number,
                threads=args.threads,
                rng=rng,
                workers=args.workers,
            )
            result = check_database(data, args.database_url, acknowledged)
            if (result.integrity, result.lost, result.duplicated) != ("ok", [], []):
                sys.exit(
                    f"cycle {number}: integrity {result.integrity!r}, "
                    f"{len(result.lost)} lost, {len(result.duplicated)} duplicated"
                )
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{args.cycles} SIGKILL cycles on {database}, {args.workers} server processes, "
        f"{len(acknowledged)} acknowledged "
        f"unsubscribes, 0 lost, 0 duplicated, integrity ok every cycle, "
        f"{time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
