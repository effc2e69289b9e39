"""How long each batch of an import holds the write lock, in-process.

Imports N new addresses through `services.suppressions.import_csv` on a fresh database
(SQLite by default, or --database-url naming an empty PostgreSQL database) and times each
batch from the start of its work to the return of its `transactions.write`, which is
about how long it holds SQLite's write lock (BEGIN IMMEDIATE comes just before the work,
COMMIT just after). Reports the batches' sizes and hold times, and the import's rows/s.

    .venv/bin/python bench/import_batches.py --rows 100000
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from optledger.bootstrap import build
from optledger.config import Settings
from optledger.domain.model import Provenance
from optledger.storage.transactions import SqlTransactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    args = parser.parse_args()
    holds: list[float] = []
    sizes: list[int] = []
    write = SqlTransactions.write

    def timed_write(self: SqlTransactions, work: Callable[[Any], Any]) -> Any:
        started: list[float] = []

        def timed_work(uow: Any) -> Any:
            started.append(time.perf_counter())
            return work(uow)

        result = write(self, timed_work)
        holds.append(time.perf_counter() - started[0])
        return result

    body = "email,reason\n" + "".join(f"user{n}@example.com,bench\n" for n in range(args.rows))
    with tempfile.TemporaryDirectory() as scratch:
        environ = {"OPTLEDGER_DATA_DIR": scratch}
        if args.database_url:
            environ["OPTLEDGER_DATABASE_URL"] = args.database_url
        with build(Settings.from_env(environ)) as runtime:
            services = runtime.services
            tenant = services.tenants.create_tenant(name="bench").tenant

            class Sizes:
                def writing(self, *, written: int, total: int) -> None:
                    sizes.append(written)

            SqlTransactions.write = timed_write  # type: ignore[method-assign]
            started = time.perf_counter()
            report = services.suppressions.import_csv(
                tenant_id=tenant.id,
                chunks=[body.encode()],
                skip_invalid=False,
                provenance=Provenance(via="import"),
                observer=Sizes(),
            )
            elapsed = time.perf_counter() - started
            SqlTransactions.write = write  # type: ignore[method-assign]
    batches = holds[1:]  # the first write opens the import run
    batch_rows = [b - a for a, b in pairwise(sizes)]
    cuts = statistics.quantiles(batches, n=100, method="inclusive")
    print(
        json.dumps(
            {
                "rows": report.rows,
                "changed": report.changed,
                "seconds": round(elapsed, 2),
                "rows_per_second": round(args.rows / elapsed),
                "batches": len(batches),
                "batch_rows_median": statistics.median(batch_rows),
                "hold_ms_p50": round(cuts[49] * 1000, 1),
                "hold_ms_p99": round(cuts[98] * 1000, 1),
                "hold_ms_max": round(max(batches) * 1000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
