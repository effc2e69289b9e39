"""Server CPU per durable unsubscribe: the user + system time of `optledger serve`'s
processes (/proc/<pid>/stat) divided by the requests it answered, at a fixed offered rate.

On a machine whose cores the server saturates, requests/s under wrk move with whatever else
runs; the CPU one request costs at a rate below saturation does not, and it is what a
change to the request path changes. One server (`--workers 1` by default) on a fresh
database; a warm-up at the rate, then `--repeats` measured periods of `--seconds` each, every
request a first opt-out (a new address, or a new link for `one-click`), sent open-loop
(bench/openloop.py). Prints one JSON line per period and the median. `--ceiling` measures
the group-commit ceiling (bench/ceilings/group_commit.py) under the same unsubscribes.

    .venv/bin/python -m bench.request_cpu --route unsubscribe --rate 800
    .venv/bin/python -m bench.request_cpu --route one-click --database postgres \\
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Client CPU (this process) is not counted; the figure includes the server's writer thread,
its database driver and, on SQLite, the database engine, but not PostgreSQL's own server.
`loop_us_per_request` is the main threads' (the event loops') part. The writer's part
shrinks as batches grow: a run whose server fell behind (its p50 far above a few ms) wrote
bigger batches, so compare runs at the same latency.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from bench.openloop import OpenLoopResult, open_loop_requests
from bench.run import Database, make_tenant, register_links, serve_ceiling, serve_optledger

_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """`pid`'s descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _cpu_seconds(pids: list[int]) -> tuple[float, float, float]:
    """User and system CPU seconds of `pids` so far, and the CPU seconds of their main
    threads (each server's event loop) alone."""
    user = system = main = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])
        system += int(fields[12])
        thread = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        main += int(thread[11]) + int(thread[12])
    return user / _TICKS, system / _TICKS, main / _TICKS


def _unsubscribe_request(*, host: str, key: str, prefix: str) -> Callable[[int], bytes]:
    def request(index: int) -> bytes:
        body = (
            '{"address":{"channel":"email","address":"' + f'{prefix}-{index}@example.com"' + "}}"
        ).encode()
        head = (
            f"POST /v1/unsubscribe HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return request


def _one_click_request(*, host: str, tokens: list[str]) -> Callable[[int], bytes]:
    body = b"List-Unsubscribe=One-Click"

    def request(index: int) -> bytes:
        head = (
            f"POST /u/{tokens[index]} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return request


def measure(
    *,
    database: Database,
    route: str,
    rate: float,
    seconds: float,
    warmup: float,
    repeats: int,
    workers: int,
    ceiling: bool,
) -> list[dict[str, float]]:
    """One server; the CPU µs per request of each measured period."""
    periods = [warmup] + [seconds] * repeats
    with tempfile.TemporaryDirectory(prefix="request-cpu-") as scratch:
        if ceiling:
            key = "none"
            server = serve_ceiling(
                "bench.ceilings.group_commit:app",
                database=database.ceiling_target(Path(scratch)),
            )
        else:
            tenant = make_tenant(database.fresh(Path(scratch)))
            key = tenant.key
            server = serve_optledger(tenant.env, workers=workers)
        with server as base:
            parts = urlsplit(base)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            tokens: list[str] = []
            if route == "one-click":
                count = int(rate * sum(periods) * 1.05) + 100
                tokens = register_links(base, key, count=count, prefix="cpu")
            servers = _children(os.getpid())
            results: list[dict[str, float]] = []
            sent = 0
            for number, period in enumerate(periods):
                if route == "one-click":
                    request = _one_click_request(host=host, tokens=tokens[sent:])
                else:
                    request = _unsubscribe_request(host=host, key=key, prefix=f"cpu{number}")
                time.sleep(0.5)
                before = _cpu_seconds(servers)
                answer: OpenLoopResult = open_loop_requests(
                    host=host,
                    port=port,
                    rate=rate,
                    seconds=period,
                    connections=64,
                    request=request,
                )
                time.sleep(0.2)
                user, system, loop = (
                    after - then for after, then in zip(_cpu_seconds(servers), before, strict=True)
                )
                answered = answer.answered
                sent += int(rate * period) + 1
                if number == 0:
                    continue
                results.append(
                    {
                        "cpu_us_per_request": (user + system) / answered * 1e6,
                        "user_us_per_request": user / answered * 1e6,
                        "system_us_per_request": system / answered * 1e6,
                        "loop_us_per_request": loop / answered * 1e6,
                        "achieved": answer.achieved,
                        "p50_ms": answer.p50_ms,
                        "p99_ms": answer.p99_ms,
                        "non_2xx": answer.non_2xx,
                        "errors": answer.errors,
                    }
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", choices=("unsubscribe", "one-click"), default="unsubscribe")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url")
    parser.add_argument("--rate", type=float, default=800)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ceiling", action="store_true")
    args = parser.parse_args()
    if args.database == "postgres" and not args.postgres_url:
        parser.error("--database postgres needs --postgres-url")
    if args.ceiling and args.route != "unsubscribe":
        parser.error("--ceiling takes the unsubscribe route only")
    database = Database(
        kind=args.database, url=args.postgres_url if args.database == "postgres" else None
    )
    results = measure(
        database=database,
        route=args.route,
        rate=args.rate,
        seconds=args.seconds,
        warmup=args.warmup,
        repeats=args.repeats,
        workers=args.workers,
        ceiling=args.ceiling,
    )
    for result in results:
        print(json.dumps(result))
    cpu = [r["cpu_us_per_request"] for r in results]
    print(
        json.dumps(
            {
                "route": "ceiling" if args.ceiling else args.route,
                "database": args.database,
                "median_cpu_us_per_request": statistics.median(cpu),
                "spread": max(cpu) - min(cpu),
            }
        )
    )


if __name__ == "__main__":
    main()
