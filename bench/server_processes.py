"""Durable unsubscribes through `optledger serve --workers N`, for N = 1 and 2, interleaved.

Each run starts `optledger serve --workers N` on a fresh SQLite data directory (or, with
--database-url, on an empty PostgreSQL database, truncated between runs), creates a tenant
with the CLI, and drives `POST /v1/unsubscribe` of distinct new addresses with wrk at 64
connections for --seconds. Rate limits are off: the server, not the limit, is measured.
Prints requests/s, p50 and p99 per run and the median per N.

    .venv/bin/python -m bench.server_processes --rounds 3 --seconds 10
    .venv/bin/python -m bench.server_processes --rounds 3 --seconds 10 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from tests.live import free_port, serving

from bench.run import UNSUBSCRIBE_LUA, Sample, run_wrk

OPTLEDGER = [sys.executable, "-m", "optledger"]


def run(*, workers: int, seconds: int, database_url: str | None, binary: str) -> Sample:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
        env |= {"OPTLEDGER_DATA_DIR": str(data), "OPTLEDGER_RATE_LIMITS": "off"}
        env |= {"OPTLEDGER_LOG_LEVEL": "warning"}
        if database_url is not None:
            env["OPTLEDGER_DATABASE_URL"] = database_url
            _empty(database_url)
        created = subprocess.run(  # noqa: S603 - a fixed command line
            [*OPTLEDGER, "tenant", "create", "bench", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(created.stdout)["api_key"]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*OPTLEDGER, "serve", "--port", str(port), "--workers", str(workers)]
        with serving(command, base_url=base, env=env, cwd=data, log=data / "serve.log"):
            return run_wrk(
                binary=binary,
                url=base,
                connections=64,
                seconds=seconds,
                script=UNSUBSCRIBE_LUA.replace("KEY", key).replace("PREFIX", "w"),
            )


def _empty(database_url: str) -> None:
    """Every table of the database emptied, but the migrations' own."""
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            db.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    binary = shutil.which("wrk")
    if binary is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    results: dict[int, list[Sample]] = {1: [], 2: []}
    for round_ in range(args.rounds):
        for workers in (1, 2):
            result = run(
                workers=workers,
                seconds=args.seconds,
                database_url=args.database_url,
                binary=binary,
            )
            results[workers].append(result)
            print(
                f"round {round_ + 1} workers {workers}: {result.throughput:8.0f}/s "
                f"p50 {result.p50_ms or 0:6.1f} ms p99 {result.p99_ms or 0:6.1f} ms "
                f"failures {result.failures}",
                flush=True,
            )
    for workers, runs in results.items():
        rps = statistics.median(r.throughput for r in runs)
        p99 = statistics.median(r.p99_ms or 0 for r in runs)
        print(f"median, workers {workers}: {rps:.0f}/s, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
