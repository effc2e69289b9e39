"""The cost of the request limits on the hot paths, and what they buy under bulk load.

One SQLite data directory (a tenant, the opt-out topic `news`, its admin key, enough
registered messages for every one-click below to be a first opt-out); then, in
interleaved rounds, `optledger serve` with `OPTLEDGER_RATE_LIMITS=on` and with `off`
(the header caps stay on in both), each driven with wrk (Debian package `wrk`) exactly as
bench/http_api.py does:

1. `POST /v1/unsubscribe` of distinct new addresses, 64 connections;
2. `GET /v1/checks` of one address, 4 connections;
3. RFC 8058 one-click `POST /u/{token}`, a distinct link each time, 64 connections;

and then one-click latency, one POST at a time, while eight clients of one API key send
10,000-address `POST /v1/checks` back to back (a refused one waits its `Retry-After`).

    .venv/bin/python bench/rate_limits.py --seconds 10 --rounds 3
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from http_api import (
    AUTH_LUA,
    ONE_CLICK_LUA,
    UNSUBSCRIBE_LUA,
    free_port,
    optledger,
    wait_ready,
    wrk,
)

TOKENS_PER_RUN = 12_000
"""More one-click links than a run sends, so each POST is a first opt-out (with limits
on, a link's 21st POST within a minute would be refused)."""
HEAVY_CLIENTS = 8
BULK = 10_000
LATENCY_SAMPLES = 200


@contextmanager
def serving(data: Path, *, limits: str) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data)
    env["OPTLEDGER_RATE_LIMITS"] = limits
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz")
        yield base
    finally:
        server.terminate()
        server.wait()


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
) -> dict[str, dict[str, float]]:
    """The three hot paths; `run` keeps each run's unsubscribed addresses new."""
    lua_tokens = ",".join(f'"{t}"' for t in tokens)
    unsubscribe = UNSUBSCRIBE_LUA.replace("KEY", key).replace('"w" .. id', f'"r{run}w" .. id')
    return {
        "unsubscribe": wrk(
            binary=binary,
            url=base,
            connections=64,
            seconds=seconds,
            script=unsubscribe,
        ),
        "check": wrk(
            binary=binary,
            url=f"{base}/v1/checks?topic=news&channel=email&address=w1-1%40example.com",
            connections=4,
            seconds=seconds,
            script=AUTH_LUA.replace("KEY", key),
        ),
        "one_click": wrk(
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
        data = Path(scratch)
        created = optledger(data, "tenant", "create", "bench", "--json")
        key = json.loads(created)["api_key"]
        optledger(data, "topic", "create", "--tenant", "bench", "news", "--name", "News")
        with serving(data, limits="off") as base:
            pool = register_links(base, key, TOKENS_PER_RUN * runs, prefix="hot")
            heavy_pool = register_links(base, key, LATENCY_SAMPLES * len(modes), prefix="lat")
        rows: list[tuple[str, str, dict[str, float]]] = []
        for run in range(runs):
            mode = modes[run % len(modes)]
            tokens = pool[run * TOKENS_PER_RUN : (run + 1) * TOKENS_PER_RUN]
            with serving(data, limits=mode) as base:
                for path, row in hot_paths(
                    binary, base, key, tokens, args.seconds, run=run
                ).items():
                    rows.append((mode, path, row))
        heavy: dict[str, dict[str, float]] = {}
        for index, mode in enumerate(modes):
            with serving(data, limits=mode) as base:
                tokens = heavy_pool[index * LATENCY_SAMPLES : (index + 1) * LATENCY_SAMPLES]
                heavy[mode] = one_click_under_bulk_checks(base, key, tokens)

    print("| rate limits | measurement | requests/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|---|")
    for path in ("unsubscribe", "check", "one_click"):
        for mode in modes:
            for row_mode, row_path, row in rows:
                if (row_mode, row_path) == (mode, path):
                    print(
                        f"| {mode} | {path} | {row['rps']:,.0f} | {row.get('p50_ms', 0):.1f} ms "
                        f"| {row.get('p99_ms', 0):.1f} ms | {row['non_2xx']:.0f} |"
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
