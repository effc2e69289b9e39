"""Durable unsubscribes per second through the services, without HTTP.

Starts N threads that each unsubscribe distinct addresses through
`services.subscriptions.unsubscribe` on a fresh database (SQLite file with WAL and
synchronous=FULL by default, or --database-url), and reports throughput and latency.
This measures the core's write path (validation, ledger row, state row, outbox row,
group commit); the HTTP benchmark of the REST door builds on it.

    .venv/bin/python bench/ledger_writes.py --threads 64 --seconds 10
"""

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from optledger.domain.channels import Channel
from optledger.domain.links import LinkClaims
from optledger.domain.model import ConsentMode, Provenance
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.clock import SystemClock
from optledger.outbound.sealer import AesGcmResponseSealer
from optledger.outbound.spool import TemporaryFileSpools
from optledger.services import ServiceContext, Services
from optledger.services.targets import AddressTarget
from optledger.storage.engine import make_engine
from optledger.storage.migrate import upgrade
from optledger.storage.transactions import SqlTransactions


class _NoLinks:
    """The benchmark registers no messages, so it needs no link keys."""

    def seal(self, claims: LinkClaims) -> str:
        raise AssertionError("the benchmark registers no messages")

    def open(self, token: str) -> LinkClaims:
        raise AssertionError("the benchmark opens no links")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=256, help="the writer's max group size")
    parser.add_argument(
        "--database-url",
        help="an empty database to migrate and fill (default: a fresh SQLite file)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        transactions = SqlTransactions(engine, max_batch=args.batch)
        services = Services.build(
            ServiceContext(
                transactions=transactions,
                clock=SystemClock(),
                hasher=KeyedHasher(b"b" * 32),
                keyring=_NoLinks(),
                public_url="https://optout.example.com",
                sealer=AesGcmResponseSealer(b"r" * 32),
                spools=TemporaryFileSpools(),
            )
        )
        tenant = services.tenants.create_tenant(name=f"bench-{int(time.time())}").tenant
        services.topics.create_topic(
            tenant_id=tenant.id, key="news", name="News", consent_mode=ConsentMode.OPT_OUT
        )
        latencies: list[list[float]] = [[] for _ in range(args.threads)]
        stop = time.perf_counter() + args.seconds
        provenance = Provenance(via="bench")

        def worker(index: int) -> None:
            n = 0
            while time.perf_counter() < stop:
                started = time.perf_counter()
                services.subscriptions.unsubscribe(
                    tenant_id=tenant.id,
                    target=AddressTarget(Channel.EMAIL, f"t{index}-{n}@example.com"),
                    topics=None,
                    provenance=provenance,
                )
                latencies[index].append(time.perf_counter() - started)
                n += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        transactions.close()
        engine.dispose()

    samples = sorted(x for per_thread in latencies for x in per_thread)
    quantiles = statistics.quantiles(samples, n=100)
    print(f"database: {url.split(':', 1)[0]}  threads: {args.threads}  batch: {args.batch}")
    print(
        f"durable unsubscribes: {len(samples)} in {elapsed:.1f} s = {len(samples) / elapsed:,.0f}/s"
    )
    print(f"latency p50 {quantiles[49] * 1000:.1f} ms  p99 {quantiles[98] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
