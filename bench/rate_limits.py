"""The cost of the request limits on the hot paths, and what they buy under bulk load.

One SQLite data directory (a tenant, the opt-out topic `news`, its admin key, enough
registered messages for every one-click below to be a first opt-out); then, in
interleaved rounds, `optledger serve` with `OPTLEDGER_RATE_LIMITS=on` and with `off`
(the header caps stay on in both), each driven with wrk (Debian package `wrk`) with the
scripts of bench/run.py:

1. `POST /v1/unsubscribe` of distinct new addresses, 64 connections;
2. `GET /v1/checks` of one address, 4 connections;
3. RFC 8058 one-click `POST /u/{token}`, a distinct link each time, 64 connections;

and then one-click latency, one POST at a time, while eight clients of one API key send
10,000-address `POST /v1/checks` back to back (a refused one waits its `Retry-After`).

    .venv/bin/python -m bench.rate_limits --seconds 10 --rounds 3
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from bench.run import (
    AUTH_LUA,
    CHECK_PATH,
    ONE_CLICK_LUA,
    UNSUBSCRIBE_LUA,
    Database,
    Sample,
    make_tenant,
    run_wrk,
    serve_optledger,
)

TOKENS_PER_RUN = 12_000
"""More one-click links than a run sends, so each POST is a first opt-out (with limits
on, a link's 21st POST within a minute would be refused)."""
HEAVY_CLIENTS = 8
BULK = 10_000
LATENCY_SAMPLES = 200


@contextmanager
def serving(env: dict[str, str], *, limits: str) -> Iterator[str]:
    """One `optledger serve` process on the data directory of `env`, with the rate limits
    `on` or `off` and the per-key rate at its default."""
    limited = {k: v for k, v in env.items() if k != "OPTLEDGER_KEY_RATE_LIMIT"}
    with serve_optledger(limited | {"OPTLEDGER_RATE_LIMITS": limits}, workers=1) as base:
        yield base


def register_links(base: str, key: str, count: int, *, prefix: str) -> list[str]:
    """Tokens of `count` new messages, each to its own address."""
    tokens: list[str] = []
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for batch in range(0, count, 1000):
            body = {
                "messages": [
                    {"channel": "email", "address": f"{prefix}{n}@example.com", "topic": "news"}
                    for n in range(batch, min(batch + 1000, count))
                ]
            }
            answer = client.post("/v1/messages", json=body, timeout=120)
            answer.raise_for_status()
            tokens += [m["unsubscribe_url"].rsplit("/", 1)[1] for m in answer.json()["messages"]]
    return tokens


def hot_paths(
    binary: str, base: str, key: str, tokens: list[str], seconds: int, *, run: int
) -> dict[str, Sample]:
    """The three hot paths; `run` keeps each run's unsubscribed addresses new."""
    lua_tokens = ",".join(f'"{t}"' for t in tokens)
    unsubscribe = UNSUBSCRIBE_LUA.replace("KEY", key).replace("PREFIX", f"r{run}")
    return {
        "unsubscribe": run_wrk(
            binary=binary,
            url=base,
            connections=64,
            seconds=seconds,
            script=unsubscribe,
        ),
        "check": run_wrk(
            binary=binary,
            url=f"{base}{CHECK_PATH}",
            connections=4,
            seconds=seconds,
            script=AUTH_LUA.replace("KEY", key),
        ),
        "one_click": run_wrk(
            binary=binary,
            url=base,
            connections=64,
            seconds=seconds,
            script=ONE_CLICK_LUA.replace("TOKENS", lua_tokens),
        ),
    }


def one_click_under_bulk_checks(base: str, key: str, tokens: list[str]) -> dict[str, float]:
    """One-click latency (ms) while HEAVY_CLIENTS clients of one key run bulk checks."""
    body = {
        "topic": "news",
        "channel": "email",
        "addresses": [f"bulk{n}@example.com" for n in range(BULK)],
    }
    stop = threading.Event()
    statuses: list[int] = []

    def check_in_bulk() -> None:
        auth = {"Authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=base, headers=auth, timeout=300) as client:
            while not stop.is_set():
                answer = client.post("/v1/checks", json=body)
                statuses.append(answer.status_code)
                if answer.status_code == 429:
                    stop.wait(float(answer.headers["retry-after"]))

    threads = [threading.Thread(target=check_in_bulk) for _ in range(HEAVY_CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    latencies = []
    try:
        with httpx2.Client(base_url=base, timeout=60) as mailbox:
            for token in tokens[:LATENCY_SAMPLES]:
                started = time.perf_counter()
                answer = mailbox.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise RuntimeError(f"one-click answered {answer.status_code}")
                time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    ordered = sorted(latencies)
    return {
        "p50": statistics.median(ordered),
        "p90": ordered[int(len(ordered) * 0.9) - 1],
        "p99": ordered[int(len(ordered) * 0.99) - 1],
        "checks_done": float(statuses.count(200)),
        "checks_refused": float(statuses.count(429)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = shutil.which("wrk")
    if binary is None:
        sys.exit("this benchmark needs wrk: apt-get install wrk")
    modes = ("on", "off")
    runs = args.rounds * len(modes)

    with tempfile.TemporaryDirectory() as scratch:
        tenant = make_tenant(Database(kind="sqlite").fresh(Path(scratch)))
        env, key = tenant.env, tenant.key
        with serving(env, limits="off") as base:
            pool = register_links(base, key, TOKENS_PER_RUN * runs, prefix="hot")
            heavy_pool = register_links(base, key, LATENCY_SAMPLES * len(modes), prefix="lat")
        rows: list[tuple[str, str, Sample]] = []
        for run in range(runs):
            mode = modes[run % len(modes)]
            tokens = pool[run * TOKENS_PER_RUN : (run + 1) * TOKENS_PER_RUN]
            with serving(env, limits=mode) as base:
                for path, row in hot_paths(
                    binary, base, key, tokens, args.seconds, run=run
                ).items():
                    rows.append((mode, path, row))
        heavy: dict[str, dict[str, float]] = {}
        for index, mode in enumerate(modes):
            with serving(env, limits=mode) as base:
                tokens = heavy_pool[index * LATENCY_SAMPLES : (index + 1) * LATENCY_SAMPLES]
                heavy[mode] = one_click_under_bulk_checks(base, key, tokens)

    print("| rate limits | measurement | requests/s | p50 | p99 | failures |")
    print("|---|---|---|---|---|---|")
    for path in ("unsubscribe", "check", "one_click"):
        for mode in modes:
            for row_mode, row_path, row in rows:
                if (row_mode, row_path) == (mode, path):
                    print(
                        f"| {mode} | {path} | {row.throughput:,.0f} | {row.p50_ms or 0:.1f} ms "
                        f"| {row.p99_ms or 0:.1f} ms | {row.failures} |"
                    )
    print()
    print("| rate limits | one-click p50 | p90 | p99 | bulk checks done | refused (429) |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        row = heavy[mode]
        print(
            f"| {mode} | {row['p50']:.1f} ms | {row['p90']:.1f} ms | {row['p99']:.1f} ms "
            f"| {row['checks_done']:.0f} | {row['checks_refused']:.0f} |"
        )


if __name__ == "__main__":
    main()
