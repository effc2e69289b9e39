"""Durable unsubscribes and single checks through `optledger serve`, against the machine's ceiling.

Starts `optledger serve` on a fresh SQLite data directory (WAL, synchronous=FULL), creates
a tenant, a topic and a key with the CLI, then drives it with wrk (Debian package `wrk`):

1. `POST /v1/unsubscribe` of distinct new addresses at 64 connections: durable writes/s
   and latency percentiles (each 2xx was committed before it was sent);
2. `GET /v1/checks` of one address at 4 connections: latency of a single check;
3. RFC 8058 one-click `POST /u/{token}` at 64 connections, each token a distinct
   registered message, as Gmail sends it: durable opt-outs/s through the hosted-pages door;
4. the same uvicorn settings serving bench/hello_asgi.py at 64 connections: the ceiling
   of HTTP on this machine, and the ratio of (1) to it.

    .venv/bin/python bench/http_api.py --seconds 10
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

BENCH = Path(__file__).resolve().parent
UNSUBSCRIBE_LUA = """
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer KEY"
end
function request()
  counter = counter + 1
  local address = "w" .. id .. "-" .. counter .. "@example.com"
  local body = '{"address":{"channel":"email","address":"' .. address .. '"}}'
  return wrk.format(nil, "/v1/unsubscribe", nil, body)
end
"""
AUTH_LUA = 'wrk.headers["Authorization"] = "Bearer KEY"\n'
ONE_CLICK_LUA = """
tokens = {TOKENS}
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "List-Unsubscribe=One-Click"
end
function request()
  counter = counter + 1
  return wrk.format(nil, "/u/" .. tokens[((counter - 1) * 2 + id - 1) % #tokens + 1])
end
"""
ONE_CLICK_MESSAGES = 40_000
"""Enough distinct links that every one-click in the run is a first, changing opt-out."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within 30 s")


def wrk(*, binary: str, url: str, connections: int, seconds: int, script: str) -> dict[str, float]:
    """Run wrk and read requests/s, non-2xx count and latency percentiles from its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        report = subprocess.run(  # noqa: S603 - a fixed command line
            [
                binary,
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(lua.name)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    if rps is None:
        raise RuntimeError("wrk printed no Requests/sec line")
    result = {"rps": float(rps.group(1))}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    for label in ("50", "99"):
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", report)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            result[f"p{label}_ms"] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    return result


def _one_click_tokens(base: str, key: str) -> list[str]:
    """Register ONE_CLICK_MESSAGES messages through the API; the tokens of their links."""
    tokens = []
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for batch in range(ONE_CLICK_MESSAGES // 1000):
            body = {
                "messages": [
                    {"channel": "email", "address": f"c{batch}-{i}@example.com", "topic": "news"}
                    for i in range(1000)
                ]
            }
            answer = client.post("/v1/messages", json=body, timeout=60)
            answer.raise_for_status()
            tokens += [m["unsubscribe_url"].rsplit("/", 1)[1] for m in answer.json()["messages"]]
    return tokens


def _lua_strings(values: list[str]) -> str:
    return ",".join(f'"{value}"' for value in values)


def optledger(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    return subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="server processes (--workers)")
    args = parser.parse_args()
    binary = shutil.which("wrk")
    if binary is None:
        sys.exit("this benchmark needs wrk: apt-get install wrk")

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch)
        key = json.loads(optledger(data, "tenant", "create", "bench", "--json"))["api_key"]
        optledger(
            data,
            "topic",
            "create",
            "--tenant",
            "bench",
            "news",
            "--name",
            "News",
            "--mode",
            "opt_out",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
        env["OPTLEDGER_DATA_DIR"] = str(data)
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - a fixed command line
            [
                *(sys.executable, "-m", "optledger", "serve"),
                *("--port", str(port), "--workers", str(args.workers)),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/readyz")
            writes = wrk(
                binary=binary,
                url=base,
                connections=64,
                seconds=args.seconds,
                script=UNSUBSCRIBE_LUA.replace("KEY", key),
            )
            checks = wrk(
                binary=binary,
                url=f"{base}/v1/checks?topic=news&channel=email&address=w1-1%40example.com",
                connections=4,
                seconds=args.seconds,
                script=AUTH_LUA.replace("KEY", key),
            )
            one_click = wrk(
                binary=binary,
                url=base,
                connections=64,
                seconds=args.seconds,
                script=ONE_CLICK_LUA.replace("TOKENS", _lua_strings(_one_click_tokens(base, key))),
            )
        finally:
            server.terminate()
            server.wait()

    port = free_port()
    hello = subprocess.Popen(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hello_asgi:app",
            "--port",
            str(port),
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ],
        cwd=BENCH,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/")
        ceiling = wrk(
            binary=binary,
            url=f"http://127.0.0.1:{port}/",
            connections=64,
            seconds=args.seconds,
            script="",
        )
    finally:
        hello.terminate()
        hello.wait()

    print("| measurement | requests/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|")
    for name, row in (
        ("durable unsubscribes, 64 connections", writes),
        ("single check, 4 connections", checks),
        ("one-click opt-outs (RFC 8058), 64 connections", one_click),
        ("hello-world ASGI ceiling, 64 connections", ceiling),
    ):
        print(
            f"| {name} | {row['rps']:,.0f} | {row.get('p50_ms', 0):.1f} ms | "
            f"{row.get('p99_ms', 0):.1f} ms | {row['non_2xx']:.0f} |"
        )
    print(f"\nunsubscribes / ceiling = {writes['rps'] / ceiling['rps']:.0%}")


if __name__ == "__main__":
    main()
