"""`optledger check` of a long list against its same-run ceiling, a polars anti-join.

Creates a tenant with an opt-out topic in a fresh data directory (SQLite by default, or
--database-url naming an empty PostgreSQL database), stores S suppressions by keyed hash
(as an erased person's are kept: written straight into the table, since the import is not
what is measured), and writes a list of N addresses of which about S are suppressed, a
few hundred are not addresses, and every tenth is in upper case. Then, --runs times,
interleaved:

- `optledger check` as a user runs it: a subprocess, start-up included, stdout to a file;
  its wall time and peak resident memory;
- the ceiling: polars reading the same list and the same suppressions table (over the
  same driver), lower-casing, hashing each address with the same keyed hash (the table
  holds nothing else to join on), anti-joining and writing the allowed addresses. It
  checks no syntax, so it is a floor under any real list check.

Both must allow the same addresses. Prints the medians and the ratio. polars comes with
`scripts/install --bench` (requirements/bench.txt).

    .venv/bin/python bench/list_check.py --lines 1000000 --suppressions 500000
    .venv/bin/python bench/list_check.py --quick
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import create_engine, insert, select

from optledger.bootstrap import build
from optledger.config import Settings
from optledger.domain.channels import Channel
from optledger.domain.model import ConsentMode
from optledger.domain.secrets import KeyedHasher
from optledger.storage.tables import suppressions

OPTLEDGER = [sys.executable, "-m", "optledger"]
CHANNEL = ["--channel", "email"]
GNU_TIME = "/usr/bin/time"
INSERT_BATCH = 50_000


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    if database_url:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


def address(n: int) -> str:
    if n % 4_001 == 7:
        return f"not-an-address-{n}@"
    text = f"user{n}@example.com"
    return text.upper() if n % 10 == 3 else text


def prepare(
    env: dict[str, str], *, lines: int, suppressed: int, list_path: Path
) -> tuple[int, KeyedHasher, str]:
    """The tenant's id, its hasher and the database URL, after seeding."""
    settings = Settings.from_env(env)
    with build(settings) as runtime:
        services = runtime.services
        tenant = services.tenants.create_tenant(name="bench").tenant
        services.topics.create_topic(
            tenant_id=tenant.id, key="digest", name="Digest", consent_mode=ConsentMode.OPT_OUT
        )
        hasher: KeyedHasher = services.checks._ctx.hasher  # the same key
        url = settings.database_url
    step = max(lines // suppressed, 1) if suppressed else lines + 1
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        rows = []
        for n in range(0, lines, step)[:suppressed]:
            value = f"user{n}@example.com"
            rows.append(
                {
                    "tenant_id": tenant.id,
                    "channel": "email",
                    "address_hash": hasher.address_hash(
                        tenant_id=tenant.id, channel=Channel.EMAIL, value=value
                    ),
                    "address_id": None,
                    "reason": "bench",
                    "created_at": now,
                }
            )
            if len(rows) == INSERT_BATCH:
                connection.execute(insert(suppressions), rows)
                rows = []
        if rows:
            connection.execute(insert(suppressions), rows)
    engine.dispose()
    with list_path.open("w", encoding="utf-8") as file:
        file.writelines(f"{address(n)}\n" for n in range(lines))
    return tenant.id, hasher, url


def run_cli(env: dict[str, str], list_path: Path, out_path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `optledger check`. The RSS is GNU time's `%M` of
    the command alone (this process's own rusage of children would count the memory of
    the fork that starts it, this process's size)."""
    command = [*OPTLEDGER, "check", "--tenant", "bench", "--topic", "digest", *CHANNEL]
    started = time.perf_counter()
    with out_path.open("wb") as out:
        finished = subprocess.run(  # noqa: S603 - a fixed command line
            [GNU_TIME, "-f", "%M", *command, str(list_path)],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            check=True,
        )
    elapsed = time.perf_counter() - started
    return elapsed, int(finished.stderr.decode().splitlines()[-1]) / 1024


def run_ceiling(
    *, url: str, tenant_id: int, hasher: KeyedHasher, list_path: Path, out_path: Path
) -> float:
    """Wall seconds of the polars pipeline."""
    started = time.perf_counter()
    frame = pl.read_csv(list_path, has_header=False, new_columns=["raw"], schema={"raw": pl.String})
    frame = frame.select(pl.col("raw").str.strip_chars().str.to_lowercase().alias("address"))
    frame = frame.filter(pl.col("address").str.contains("@."))
    values = frame.get_column("address").to_list()
    hashes: list[str] = [
        hasher.address_hash(tenant_id=tenant_id, channel=Channel.EMAIL, value=value)
        for value in values
    ]
    frame = frame.with_columns(pl.Series("address_hash", hashes, dtype=pl.String))
    engine = create_engine(url)
    with engine.connect() as connection:
        statement = select(suppressions.c.address_hash).where(
            suppressions.c.tenant_id == tenant_id, suppressions.c.channel == "email"
        )
        stored = pl.DataFrame(
            {"address_hash": [row[0] for row in connection.execute(statement)]},
            schema={"address_hash": pl.String},
        )
    engine.dispose()
    allowed = frame.join(stored, on="address_hash", how="anti").select("address")
    allowed.write_csv(out_path, include_header=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--suppressions", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file)")
    parser.add_argument("--quick", action="store_true", help="100,000 lines, 50,000, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.suppressions, args.runs = 100_000, 50_000, 1
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "data").mkdir()
        env = environment(root / "data", args.database_url)
        list_path = root / "list.txt"
        tenant_id, hasher, url = prepare(
            env, lines=args.lines, suppressed=args.suppressions, list_path=list_path
        )
        cli_runs: list[float] = []
        ceiling_runs: list[float] = []
        peak = 0.0
        for _ in range(args.runs):
            seconds, rss = run_cli(env, list_path, root / "cli.txt")
            cli_runs.append(seconds)
            peak = max(peak, rss)
            ceiling_runs.append(
                run_ceiling(
                    url=url,
                    tenant_id=tenant_id,
                    hasher=hasher,
                    list_path=list_path,
                    out_path=root / "ceiling.txt",
                )
            )
        cli_allowed = (root / "cli.txt").read_text(encoding="utf-8").splitlines()
        ceiling_allowed = (root / "ceiling.txt").read_text(encoding="utf-8").splitlines()
    cli = statistics.median(cli_runs)
    ceiling = statistics.median(ceiling_runs)
    print(
        json.dumps(
            {
                "database": "postgresql" if args.database_url else "sqlite",
                "lines": args.lines,
                "suppressions": args.suppressions,
                "allowed": len(cli_allowed),
                "same_answers": cli_allowed == ceiling_allowed,
                "cli_seconds": [round(s, 2) for s in cli_runs],
                "ceiling_seconds": [round(s, 2) for s in ceiling_runs],
                "cli_peak_rss_mb": round(peak),
                "ratio_cli_to_ceiling": round(cli / ceiling, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
