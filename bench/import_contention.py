"""Opt-out latency through `optledger serve` while a CLI import writes the same database.

The full-size run of tests/contention (see its harness): `optledger import suppressions`
of N new addresses as a second process, and M opt-outs (half REST, half RFC 8058
one-click) at a steady rate during its write pass, each checked at once and its history
read back afterwards. Reports the opt-outs' p50/p99/max latency, how many were refused,
not effective or not recorded, and the import's rows/s and peak memory.

    .venv/bin/python bench/import_contention.py --rows 1000000 --opt-outs 1000 --rate 10
    .venv/bin/python bench/import_contention.py --database-url postgresql+psycopg://…
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.contention.harness import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--opt-outs", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10.0, help="opt-outs per second")
    parser.add_argument("--database-url", help="an empty, migrated PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        result = run(
            work=Path(scratch),
            database_url=args.database_url,
            rows=args.rows,
            opt_outs=args.opt_outs,
            rate=args.rate,
        )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "opt_outs": len(result.opt_outs),
                "during_import": result.during_import,
                "refused": len(result.refused),
                "not_effective": len(result.not_effective),
                "not_recorded": len(result.not_recorded),
                "p50_ms": round(result.latency_ms(0.5), 1),
                "p99_ms": round(result.latency_ms(0.99), 1),
                "max_ms": round(result.latency_ms(1), 1),
                "import_exit": result.import_exit,
                "import_stdout": result.import_stdout.strip(),
                "import_seconds": round(result.import_seconds, 1),
                "import_rows_per_second": round(args.rows / result.import_seconds),
                "import_peak_rss_mb": round(result.import_peak_rss_mb),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
