"""Every workload of issue 9 against its ceiling, in the same run, and the ratios.

For each workload and database, N rounds (default 3) take turns: the ceiling, then
optledger, then the ceiling again, ... so that both see the same machine. The table
printed at the end has, per workload, the median throughput of each, optledger's median
p99, the median of the per-round ratios, and the goal with PASS or MISS. Everything
measured, round by round, is written as JSON to --output, and the connection sweep
(throughput and p99 at 4, 16, 64 and 256 connections) as SVG plots to --plots.

    .venv/bin/python -m bench.run                       # every workload, SQLite, 3 rounds
    .venv/bin/python -m bench.run --database both --postgres-url postgresql://…/bench
    .venv/bin/python -m bench.run --quick --workload w2-check-max

Workloads (docs/decisions/0022-benchmark-ceilings.md):
  w1-unsubscribe   POST /v1/unsubscribe of new addresses, 64 connections (wrk), against a
                   group-commit app (bench/ceilings/group_commit.py) on the same database
  w1-one-click     RFC 8058 POST /u/{token}, a new link each time, against the same ceiling
  w2-check-max     GET /v1/checks, 64 connections (wrk), against a raw ASGI GET
  w2-check-2000    GET /v1/checks at a constant 2,000/s (bench/openloop.py), the same
  w1-processes     w1-unsubscribe with serve's default workers, against one worker
  w2-list-check    optledger check of a list against suppressions, against polars
  w2-list-check-large  the same with a list ten times as long, and its peak memory
  w2-list-check-api  the same list through POST /v1/checks/list (streamed NDJSON) to a
                   running optledger serve, against the same polars ceiling
  w3-import        optledger import suppressions, against executemany (SQLite) / COPY
  w3-import-opt-outs   opt-outs through serve during a long import (tests/contention's
                   harness): their p99, and the import's rows/s and peak memory
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import psycopg
from tests.contention.harness import run as import_while_serving
from tests.live import peak_rss_mb, reap

from bench.openloop import open_loop
from bench.plots import sweep_svg

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(19500, 20000)
"""The bench's own ports (all on 127.0.0.1)."""
TOPIC = "news"
CHECK_PATH = f"/v1/checks?topic={TOPIC}&channel=email&address=someone%40example.com"
UNLIMITED_KEY_RATE = "1000000000/1s"
"""The per-key limiter still runs on every request, but never refuses one: the goals
(0.25x of a raw GET) are beyond its default 5,000/s, which protects a server, not a
benchmark."""

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
  local address = "PREFIX-" .. id .. "-" .. counter .. "@example.com"
  local body = '{"address":{"channel":"email","address":"' .. address .. '"}}'
  return wrk.format(nil, "/v1/unsubscribe", nil, body)
end
"""
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
AUTH_LUA = 'wrk.headers["Authorization"] = "Bearer KEY"\n'


@dataclass(frozen=True)
class Sizes:
    seconds: float
    list_lines: int
    list_suppressions: int
    import_rows: int
    one_click_links: int
    """Links registered per round; more than a round sends, so every POST is a first."""
    sweep: tuple[int, ...]
    large_list_lines: int
    """Lines of w2-list-check-large (against the same `list_suppressions`)."""
    contention_rows: int
    """Rows of the import that w3-import-opt-outs sends its opt-outs during."""
    contention_opt_outs: int


FULL = Sizes(
    seconds=10,
    list_lines=1_000_000,
    list_suppressions=500_000,
    import_rows=100_000,
    one_click_links=40_000,
    sweep=(4, 16, 64, 256),
    large_list_lines=10_000_000,
    contention_rows=1_000_000,
    contention_opt_outs=200,
)
QUICK = Sizes(
    seconds=2,
    list_lines=20_000,
    list_suppressions=10_000,
    import_rows=10_000,
    one_click_links=4_000,
    sweep=(4, 64),
    large_list_lines=200_000,
    contention_rows=50_000,
    contention_opt_outs=10,
)


@dataclass
class Sample:
    """One measurement: throughput (requests, lines or rows per second) and latency."""

    throughput: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    failures: int = 0
    """Non-2xx answers, socket errors, or a count that disagrees with the ceiling's."""
    peak_rss_mb: float | None = None
    """The most memory the measured process held (the bulk workloads' subprocesses)."""
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Goal:
    min_ratio: float
    max_p99_ms: float | None
    text: str
    max_rss_mb: float | None = None

    def met(
        self, *, ratio: float, p99_ms: float | None, failures: int, rss_mb: float | None = None
    ) -> bool:
        if failures or ratio < self.min_ratio:
            return False
        if self.max_rss_mb is not None and (rss_mb is None or rss_mb > self.max_rss_mb):
            return False
        return self.max_p99_ms is None or (p99_ms is not None and p99_ms <= self.max_p99_ms)


@dataclass(frozen=True)
class Database:
    """Where a workload's data lives: `sqlite` (a fresh data directory each time) or
    `postgres` (the database at `url`, emptied each time)."""

    kind: str
    url: str | None = None

    def fresh(self, scratch: Path) -> dict[str, str]:
        """The environment of an optledger on an empty database, its data in `scratch`."""
        scratch.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
        env["OPTLEDGER_DATA_DIR"] = str(scratch)
        env["OPTLEDGER_KEY_RATE_LIMIT"] = UNLIMITED_KEY_RATE
        env["OPTLEDGER_LOG_LEVEL"] = "warning"
        if self.url is not None:
            with psycopg.connect(_psycopg_url(self.url), autocommit=True) as db:
                db.execute("DROP SCHEMA IF EXISTS public CASCADE")
                db.execute("DROP SCHEMA IF EXISTS ceiling CASCADE")
                db.execute("CREATE SCHEMA public")
            env["OPTLEDGER_DATABASE_URL"] = self.url
        return env

    def ceiling_target(self, scratch: Path) -> str:
        """BENCH_CEILING_DATABASE for the group-commit ceiling: a new file, or the URL."""
        if self.url is not None:
            with psycopg.connect(_psycopg_url(self.url), autocommit=True) as db:
                db.execute("DROP SCHEMA IF EXISTS ceiling CASCADE")
            return _psycopg_url(self.url)
        path = scratch / f"ceiling-{time.monotonic_ns()}.sqlite"
        return str(path)

    def url_of(self, env: dict[str, str]) -> str:
        if self.url is not None:
            return self.url
        return f"sqlite:///{Path(env['OPTLEDGER_DATA_DIR']) / 'optledger.db'}"


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@dataclass
class Tenant:
    env: dict[str, str]
    key: str


@dataclass
class Context:
    database: Database
    sizes: Sizes
    scratch: Path
    workers: int | None
    wrk: str
    _tenant: Tenant | None = None
    _list_check: "ListCheckData | None" = None

    def fresh(self, name: str) -> dict[str, str]:
        """An optledger environment on an empty database. On PostgreSQL that empties the
        one database, so what was made before on it is made again when next needed."""
        if self.database.url is not None:
            self._tenant = None
            self._list_check = None
        return self.database.fresh(self.scratch / name)

    def tenant(self) -> Tenant:
        """The HTTP workloads' tenant (topic `news`, opt-out), made on first use."""
        if self._tenant is None:
            self._tenant = make_tenant(self.fresh("http"))
        return self._tenant


def make_tenant(env: dict[str, str]) -> Tenant:
    created = _optledger(env, "tenant", "create", "bench", "--json")
    key = json.loads(created)["api_key"]
    _optledger(
        env, "topic", "create", "--tenant", "bench", TOPIC, "--name", "News", "--mode", "opt_out"
    )
    return Tenant(env=env, key=key)


def _optledger(env: dict[str, str], *args: str) -> str:
    return subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _port() -> int:
    """A free bench port, searched from a random one: two bench runs at once (the test and
    a real run) should not take the same port between checking it and binding it."""
    start = random.randrange(len(PORTS))
    for port in (*PORTS[start:], *PORTS[:start]):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within 60 s")


@contextmanager
def _process(command: list[str], *, env: dict[str, str], ready: str) -> Iterator[None]:
    server = subprocess.Popen(  # noqa: S603 - a fixed command line
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def serve_optledger(env: dict[str, str], *, workers: int | None = None) -> Iterator[str]:
    """`optledger serve` on a bench port; its base URL. The one way the bench starts
    optledger. `workers` is its --workers (None: the default, one per usable core)."""
    port = _port()
    command = [sys.executable, "-m", "optledger", "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    with _process(command, env=env, ready=f"{base}/readyz"):
        yield base


@contextmanager
def serve_ceiling(app: str, *, database: str | None = None) -> Iterator[str]:
    """A ceiling app (`module:attribute`) on uvicorn with optledger's settings."""
    port = _port()
    env = dict(os.environ)
    if database is not None:
        env["BENCH_CEILING_DATABASE"] = database
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.ceilings.serve", app, "--port", str(port)]
    with _process(command, env=env, ready=f"{base}/"):
        yield base


def run_wrk(*, binary: str, url: str, connections: int, seconds: float, script: str) -> Sample:
    """wrk (2 threads) for `seconds`: requests/s, p50/p99 and non-2xx from its report."""
    if not binary:
        sys.exit("the closed-loop workloads need wrk: scripts/install --bench")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        report = subprocess.run(  # noqa: S603 - a fixed command line
            [
                binary,
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
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
    return parse_wrk(report)


def parse_wrk(report: str) -> Sample:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    if rps is None:
        raise RuntimeError(f"wrk printed no Requests/sec line:\n{report}")
    failures = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)"):
        match = re.search(pattern, report)
        if match:
            failures += sum(int(n) for n in re.findall(r"\d+", match.group(1)))
    latency: dict[str, float] = {}
    for label in ("50", "99"):
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", report)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            latency[label] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    requests = re.search(r"(\d+) requests in", report)
    return Sample(
        throughput=float(rps.group(1)),
        p50_ms=latency.get("50"),
        p99_ms=latency.get("99"),
        failures=failures,
        detail={"requests": int(requests.group(1)) if requests else 0},
    )


# --- the workloads -------------------------------------------------------------------


def _unsubscribe_script(key: str, prefix: str) -> str:
    return UNSUBSCRIBE_LUA.replace("KEY", key).replace("PREFIX", prefix)


def w1_unsubscribe_ceiling(ctx: Context, round_: int, connections: int = 64) -> Sample:
    target = ctx.database.ceiling_target(ctx.scratch)
    with serve_ceiling("bench.ceilings.group_commit:app", database=target) as base:
        return run_wrk(
            binary=ctx.wrk,
            url=base,
            connections=connections,
            seconds=ctx.sizes.seconds,
            script=_unsubscribe_script("none", f"c{round_}-{connections}"),
        )


def _unsubscribe_through(
    ctx: Context, *, workers: int | None, prefix: str, connections: int = 64
) -> Sample:
    """wrk's new-address unsubscribes through `optledger serve --workers workers`."""
    tenant = ctx.tenant()
    with serve_optledger(tenant.env, workers=workers) as base:
        return run_wrk(
            binary=ctx.wrk,
            url=base,
            connections=connections,
            seconds=ctx.sizes.seconds,
            script=_unsubscribe_script(tenant.key, prefix),
        )


def w1_unsubscribe(ctx: Context, round_: int, connections: int = 64) -> Sample:
    return _unsubscribe_through(
        ctx, workers=ctx.workers, prefix=f"o{round_}-{connections}", connections=connections
    )


def w1_one_process(ctx: Context, round_: int) -> Sample:
    return _unsubscribe_through(ctx, workers=1, prefix=f"one{round_}")


def w1_processes(ctx: Context, round_: int) -> Sample:
    return _unsubscribe_through(ctx, workers=ctx.workers, prefix=f"all{round_}")


def register_links(base: str, key: str, *, count: int, prefix: str) -> list[str]:
    """The tokens of `count` new messages, each to its own address."""
    tokens: list[str] = []
    with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for start in range(0, count, 1000):
            body = {
                "messages": [
                    {"channel": "email", "address": f"{prefix}-{n}@example.com", "topic": TOPIC}
                    for n in range(start, min(count, start + 1000))
                ]
            }
            answer = client.post("/v1/messages", json=body, timeout=120)
            answer.raise_for_status()
            tokens += [m["unsubscribe_url"].rsplit("/", 1)[1] for m in answer.json()["messages"]]
    return tokens


def w1_one_click(ctx: Context, round_: int) -> Sample:
    tenant = ctx.tenant()
    with serve_optledger(tenant.env, workers=ctx.workers) as base:
        tokens = register_links(
            base, tenant.key, count=ctx.sizes.one_click_links, prefix=f"link{round_}"
        )
        script = ONE_CLICK_LUA.replace("TOKENS", ",".join(f'"{t}"' for t in tokens))
        sample = run_wrk(
            binary=ctx.wrk, url=base, connections=64, seconds=ctx.sizes.seconds, script=script
        )
    # A run that sent more POSTs than there were links repeated some: not all first opt-outs.
    sample.detail["links"] = len(tokens)
    if int(str(sample.detail["requests"])) > len(tokens):
        sample.detail["links_reused"] = True
    return sample


def w2_check_max_ceiling(ctx: Context, round_: int, connections: int = 64) -> Sample:
    del round_
    with serve_ceiling("bench.ceilings.raw_get:app") as base:
        return run_wrk(
            binary=ctx.wrk,
            url=base + CHECK_PATH,
            connections=connections,
            seconds=ctx.sizes.seconds,
            script="",
        )


def w2_check_max(ctx: Context, round_: int, connections: int = 64) -> Sample:
    del round_
    tenant = ctx.tenant()
    with serve_optledger(tenant.env, workers=ctx.workers) as base:
        return run_wrk(
            binary=ctx.wrk,
            url=base + CHECK_PATH,
            connections=connections,
            seconds=ctx.sizes.seconds,
            script=AUTH_LUA.replace("KEY", tenant.key),
        )


CHECK_RATE = 2000.0


def _open_loop_sample(url: str, *, seconds: float, headers: dict[str, str]) -> Sample:
    result = open_loop(url=url, rate=CHECK_RATE, seconds=seconds, headers=headers)
    return Sample(
        throughput=result.achieved,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        failures=result.non_2xx + result.errors,
        detail={"rate": result.rate, "max_ms": result.max_ms},
    )


def w2_check_rate_ceiling(ctx: Context, round_: int) -> Sample:
    del round_
    with serve_ceiling("bench.ceilings.raw_get:app") as base:
        return _open_loop_sample(base + CHECK_PATH, seconds=ctx.sizes.seconds, headers={})


def w2_check_rate(ctx: Context, round_: int) -> Sample:
    del round_
    tenant = ctx.tenant()
    with serve_optledger(tenant.env, workers=ctx.workers) as base:
        return _open_loop_sample(
            base + CHECK_PATH,
            seconds=ctx.sizes.seconds,
            headers={"Authorization": f"Bearer {tenant.key}"},
        )


@dataclass
class ListCheckData:
    env: dict[str, str]
    key: str
    list_file: Path


def _list_check_data(ctx: Context) -> ListCheckData:
    """A tenant with `list_suppressions` suppressed addresses (imported with the CLI) and a
    list of `list_lines` lines whose first `list_suppressions` are those addresses."""
    if ctx._list_check is not None:
        return ctx._list_check
    scratch = ctx.scratch / "list-check"
    tenant = make_tenant(ctx.fresh("list-check"))
    env = tenant.env
    sizes = ctx.sizes
    suppressed = scratch / "suppressed.csv"
    with suppressed.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        file.writelines(f"listed{n}@example.com,bench\n" for n in range(sizes.list_suppressions))
    _optledger(env, "import", "suppressions", "--tenant", "bench", str(suppressed))
    list_file = scratch / "list.txt"
    with list_file.open("w", encoding="utf-8") as file:
        file.writelines(f"listed{n}@example.com\n" for n in range(sizes.list_lines))
    data = ListCheckData(env=env, key=tenant.key, list_file=list_file)
    ctx._list_check = data
    return data


def _large_list(ctx: Context) -> Path:
    """A list of `large_list_lines` lines whose first `list_suppressions` are suppressed."""
    path = ctx.scratch / "list-check-large.txt"
    if not path.exists():
        with path.open("w", encoding="utf-8") as file:
            file.writelines(f"listed{n}@example.com\n" for n in range(ctx.sizes.large_list_lines))
    return path


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_mb: float


def _timed(command: list[str], *, env: dict[str, str], stdout: Path) -> Timed:
    """Run `command` to its end, its output in `stdout`: how long and how much memory.
    A failure raises, with the end of what it wrote on stderr."""
    errors = stdout.with_suffix(".err")
    started = time.perf_counter()
    with stdout.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)  # noqa: S603
    usage = reap(process, block=True)
    seconds = time.perf_counter() - started
    if usage is None or process.returncode != 0:
        tail = errors.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{command} exited with {process.returncode}:\n{tail}")
    return Timed(seconds=seconds, peak_rss_mb=peak_rss_mb(usage))


def _list_check_ceiling(ctx: Context, *, list_file: Path, lines: int) -> Sample:
    data = _list_check_data(ctx)
    command = [sys.executable, "-m", "bench.ceilings.bulk", "list-check", str(list_file)]
    out = ctx.scratch / "list-check" / "ceiling.json"
    timed = _timed([*command, ctx.database.url_of(data.env)], env={**os.environ}, stdout=out)
    report = json.loads(out.read_text())
    expected = lines - ctx.sizes.list_suppressions
    return Sample(
        throughput=lines / timed.seconds,
        failures=0 if report["allowed"] == expected else 1,
        peak_rss_mb=timed.peak_rss_mb,
        detail={"seconds": round(timed.seconds, 3), "allowed": report["allowed"]},
    )


def _list_check(ctx: Context, *, list_file: Path, lines: int) -> Sample:
    data = _list_check_data(ctx)
    out = ctx.scratch / "list-check" / "allowed.txt"
    command = [sys.executable, "-m", "optledger", "check", "--tenant", "bench"]
    command += ["--topic", TOPIC, "--channel", "email", str(list_file)]
    timed = _timed(command, env=data.env, stdout=out)
    with out.open("rb") as file:
        allowed = sum(1 for _ in file)
    expected = lines - ctx.sizes.list_suppressions
    return Sample(
        throughput=lines / timed.seconds,
        failures=0 if allowed == expected else 1,
        peak_rss_mb=timed.peak_rss_mb,
        detail={"seconds": round(timed.seconds, 3), "allowed": allowed, "expected": expected},
    )


def w2_list_check_ceiling(ctx: Context, round_: int) -> Sample:
    del round_
    data = _list_check_data(ctx)
    return _list_check_ceiling(ctx, list_file=data.list_file, lines=ctx.sizes.list_lines)


def w2_list_check(ctx: Context, round_: int) -> Sample:
    del round_
    data = _list_check_data(ctx)
    return _list_check(ctx, list_file=data.list_file, lines=ctx.sizes.list_lines)


def w2_list_check_large_ceiling(ctx: Context, round_: int) -> Sample:
    del round_
    return _list_check_ceiling(ctx, list_file=_large_list(ctx), lines=ctx.sizes.large_list_lines)


def w2_list_check_large(ctx: Context, round_: int) -> Sample:
    del round_
    return _list_check(ctx, list_file=_large_list(ctx), lines=ctx.sizes.large_list_lines)


def w2_list_check_api(ctx: Context, round_: int) -> Sample:
    """The same list through `POST /v1/checks/list` to a running `optledger serve` (its
    start-up is not counted: an API is a running service), sent in 1 MiB blocks, the
    NDJSON answer read to its end."""
    del round_
    data = _list_check_data(ctx)
    with serve_optledger(data.env, workers=ctx.workers) as base:
        started = time.perf_counter()
        lines, allowed = _post_list(base, key=data.key, path=data.list_file)
        seconds = time.perf_counter() - started
    expected = ctx.sizes.list_lines - ctx.sizes.list_suppressions
    return Sample(
        throughput=ctx.sizes.list_lines / seconds,
        failures=0 if (lines, allowed) == (ctx.sizes.list_lines, expected) else 1,
        detail={"seconds": round(seconds, 3), "lines": lines, "allowed": allowed},
    )


def _post_list(base: str, *, key: str, path: Path) -> tuple[int, int]:
    """The answered lines and the allowed ones of a list check of the file at `path`."""

    def blocks() -> Iterator[bytes]:
        with path.open("rb") as file:
            while block := file.read(1024 * 1024):
                yield block

    lines = allowed = 0
    rest = b""
    with (
        httpx2.Client(timeout=600) as client,
        client.stream(
            "POST",
            f"{base}/v1/checks/list",
            params={"topic": TOPIC, "channel": "email"},
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
            content=blocks(),
        ) as response,
    ):
        response.raise_for_status()
        for received in response.iter_bytes():
            data = rest + received
            cut = data.rfind(b"\n") + 1
            lines += data.count(b"\n", 0, cut)
            allowed += data.count(b'"allowed":true', 0, cut)
            rest = data[cut:]
    return lines, allowed


def _import_file(ctx: Context, *, rows: int) -> Path:
    path = ctx.scratch / f"import-{rows}.csv"
    if not path.exists():
        with path.open("w", encoding="utf-8") as file:
            file.write("email,reason\n")
            file.writelines(f"imported{n}@example.com,bench\n" for n in range(rows))
    return path


def _import_ceiling(ctx: Context, *, round_: int, rows: int) -> Sample:
    source = _import_file(ctx, rows=rows)
    if ctx.database.url is None:
        what, target = "import-sqlite", str(ctx.scratch / f"import-ceiling-{rows}-{round_}.sqlite")
    else:
        what, target = "import-postgres", ctx.database.ceiling_target(ctx.scratch)
    command = [sys.executable, "-m", "bench.ceilings.bulk", what, str(source), target]
    timed = _timed(command, env={**os.environ}, stdout=ctx.scratch / "import-ceiling.out")
    return Sample(
        throughput=rows / timed.seconds,
        peak_rss_mb=timed.peak_rss_mb,
        detail={"seconds": round(timed.seconds, 3)},
    )


def w3_import_ceiling(ctx: Context, round_: int) -> Sample:
    return _import_ceiling(ctx, round_=round_, rows=ctx.sizes.import_rows)


def w3_import(ctx: Context, round_: int) -> Sample:
    source = _import_file(ctx, rows=ctx.sizes.import_rows)
    env = make_tenant(ctx.fresh(f"import-{round_}")).env
    command = [sys.executable, "-m", "optledger", "import", "suppressions"]
    timed = _timed(
        [*command, "--tenant", "bench", str(source)], env=env, stdout=ctx.scratch / "import.out"
    )
    return Sample(
        throughput=ctx.sizes.import_rows / timed.seconds,
        peak_rss_mb=timed.peak_rss_mb,
        detail={"seconds": round(timed.seconds, 3)},
    )


OPT_OUT_RATE = 20.0
"""Opt-outs a second during the import, as tests/contention sends them."""


def w3_import_opt_outs_ceiling(ctx: Context, round_: int) -> Sample:
    return _import_ceiling(ctx, round_=round_, rows=ctx.sizes.contention_rows)


def w3_import_opt_outs(ctx: Context, round_: int) -> Sample:
    """The import's rows/s and memory; the p99 of the opt-outs sent during it. Each opt-out
    that was refused, not effective at once, not recorded, or not sent while the import
    was writing is a failure."""
    work = ctx.scratch / f"contention-{round_}"
    work.mkdir()
    ctx.fresh(f"contention-{round_}")  # on PostgreSQL: the database emptied
    result = import_while_serving(
        work=work,
        database_url=ctx.database.url,
        rows=ctx.sizes.contention_rows,
        opt_outs=ctx.sizes.contention_opt_outs,
        rate=OPT_OUT_RATE,
    )
    lost = {o.address for o in (*result.refused, *result.not_effective, *result.not_recorded)}
    outside = len(result.opt_outs) - result.during_import
    return Sample(
        throughput=ctx.sizes.contention_rows / result.import_seconds,
        p50_ms=result.latency_ms(0.5),
        p99_ms=result.latency_ms(0.99),
        failures=len(lost) + outside + (result.import_exit != 0),
        peak_rss_mb=result.import_peak_rss_mb,
        detail={
            "seconds": round(result.import_seconds, 3),
            "opt_outs": len(result.opt_outs),
            "during_import": result.during_import,
            "max_ms": round(result.latency_ms(1), 1),
        },
    )


Measure = Callable[[Context, int], Sample]


@dataclass(frozen=True)
class Workload:
    name: str
    what: str
    ceiling_what: str
    ceiling: Measure
    optledger: Measure
    goal: Callable[[Database], Goal]


W1_GOAL = Goal(min_ratio=0.5, max_p99_ms=50, text="≥ 0.5x ceiling, p99 ≤ 50 ms")
LIST_CHECK_GOAL = Goal(min_ratio=0.5, max_p99_ms=None, text="within 2x (≥ 0.5x)")
WORKLOADS = (
    Workload(
        name="w1-unsubscribe",
        what="POST /v1/unsubscribe, new addresses, 64 connections",
        ceiling_what="group-commit app, same database",
        ceiling=w1_unsubscribe_ceiling,
        optledger=w1_unsubscribe,
        goal=lambda _: W1_GOAL,
    ),
    Workload(
        name="w1-one-click",
        what="POST /u/{token}, a new link each, 64 connections",
        ceiling_what="group-commit app, same database",
        ceiling=w1_unsubscribe_ceiling,
        optledger=w1_one_click,
        goal=lambda _: W1_GOAL,
    ),
    Workload(
        name="w1-processes",
        what="w1-unsubscribe, serve's default workers",
        ceiling_what="the same, --workers 1",
        ceiling=w1_one_process,
        optledger=w1_processes,
        goal=lambda _: Goal(min_ratio=1.1, max_p99_ms=None, text="≥ 1.1x one process"),
    ),
    Workload(
        name="w2-check-max",
        what="GET /v1/checks, 64 connections",
        ceiling_what="raw ASGI GET",
        ceiling=w2_check_max_ceiling,
        optledger=w2_check_max,
        goal=lambda _: Goal(min_ratio=0.25, max_p99_ms=None, text="≥ 0.25x ceiling"),
    ),
    Workload(
        name="w2-check-2000",
        what="GET /v1/checks, open loop at 2,000/s",
        ceiling_what="raw ASGI GET, same load",
        ceiling=w2_check_rate_ceiling,
        optledger=w2_check_rate,
        goal=lambda _: Goal(min_ratio=0.99, max_p99_ms=5, text="keeps the rate, p99 ≤ 5 ms"),
    ),
    Workload(
        name="w2-list-check",
        what="optledger check, list against suppressions",
        ceiling_what="polars anti-join, same database",
        ceiling=w2_list_check_ceiling,
        optledger=w2_list_check,
        goal=lambda _: LIST_CHECK_GOAL,
    ),
    Workload(
        name="w2-list-check-large",
        what="optledger check, a 10x longer list",
        ceiling_what="polars anti-join, same database",
        ceiling=w2_list_check_large_ceiling,
        optledger=w2_list_check_large,
        goal=lambda _: Goal(
            min_ratio=0.5, max_p99_ms=None, text="within 2x, < 2 GB", max_rss_mb=2048
        ),
    ),
    Workload(
        name="w2-list-check-api",
        what="POST /v1/checks/list, streamed, list against suppressions",
        ceiling_what="polars anti-join, same database",
        ceiling=w2_list_check_ceiling,
        optledger=w2_list_check_api,
        goal=lambda _: LIST_CHECK_GOAL,
    ),
    Workload(
        name="w3-import",
        what="optledger import suppressions, new rows",
        ceiling_what="executemany (SQLite) / COPY (PostgreSQL), one table",
        ceiling=w3_import_ceiling,
        optledger=w3_import,
        goal=lambda db: Goal(
            min_ratio=0.35 if db.kind == "sqlite" else 0.5,
            max_p99_ms=None,
            text="≥ 0.35x ceiling" if db.kind == "sqlite" else "≥ 0.5x ceiling",
        ),
    ),
    Workload(
        name="w3-import-opt-outs",
        what="opt-outs through serve during an import",
        ceiling_what="the import ceiling, same rows",
        ceiling=w3_import_opt_outs_ceiling,
        optledger=w3_import_opt_outs,
        goal=lambda _: Goal(min_ratio=0.0, max_p99_ms=100, text="opt-out p99 ≤ 100 ms, none lost"),
    ),
)
WORKLOAD_NAMES = tuple(w.name for w in WORKLOADS)


@dataclass
class Result:
    workload: str
    database: str
    what: str
    ceiling_what: str
    goal: str
    rounds: list[dict[str, object]]
    optledger_throughput: float
    ceiling_throughput: float
    optledger_p99_ms: float | None
    ceiling_p99_ms: float | None
    optledger_peak_rss_mb: float | None
    ratio: float
    failures: int
    """Failed requests or wrong counts, optledger's and the ceiling's, over every round."""
    passed: bool


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def measure(ctx: Context, workload: Workload, *, rounds: int) -> Result:
    """`rounds` turns of ceiling then optledger; the medians and the verdict."""
    pairs: list[tuple[Sample, Sample]] = []
    for round_ in range(1, rounds + 1):
        ceiling = workload.ceiling(ctx, round_)
        ours = workload.optledger(ctx, round_)
        pairs.append((ceiling, ours))
        print(
            f"  {workload.name} {ctx.database.kind} round {round_}: "
            f"ceiling {ceiling.throughput:,.0f}/s, optledger {ours.throughput:,.0f}/s",
            file=sys.stderr,
        )
    ratios = [o.throughput / c.throughput for c, o in pairs]
    ratio = statistics.median(ratios)
    p99 = _median([o.p99_ms for _, o in pairs])
    rss = max((o.peak_rss_mb for _, o in pairs if o.peak_rss_mb is not None), default=None)
    failures = sum(o.failures + c.failures for c, o in pairs)
    goal = workload.goal(ctx.database)
    return Result(
        workload=workload.name,
        database=ctx.database.kind,
        what=workload.what,
        ceiling_what=workload.ceiling_what,
        goal=goal.text,
        rounds=[{"ceiling": asdict(c), "optledger": asdict(o)} for c, o in pairs],
        optledger_throughput=statistics.median(o.throughput for _, o in pairs),
        ceiling_throughput=statistics.median(c.throughput for c, _ in pairs),
        optledger_p99_ms=p99,
        ceiling_p99_ms=_median([c.p99_ms for c, _ in pairs]),
        optledger_peak_rss_mb=rss,
        ratio=ratio,
        failures=failures,
        passed=goal.met(ratio=ratio, p99_ms=p99, failures=failures, rss_mb=rss),
    )


SweepPoint = dict[str, float | int | None]


def sweep(ctx: Context) -> dict[str, list[SweepPoint]]:
    """Throughput and p99 of W1 and the check at each connection count, optledger and its
    ceiling taking turns."""
    series: dict[str, list[SweepPoint]] = {}
    pairs = (
        ("w1-unsubscribe", w1_unsubscribe_ceiling, w1_unsubscribe),
        ("w2-check-max", w2_check_max_ceiling, w2_check_max),
    )
    for name, ceiling, ours in pairs:
        series[f"{name}/ceiling"] = []
        series[f"{name}/optledger"] = []
        for connections in ctx.sizes.sweep:
            for label, function in (("ceiling", ceiling), ("optledger", ours)):
                sample = function(ctx, 0, connections)
                series[f"{name}/{label}"].append(
                    {
                        "connections": connections,
                        "throughput": sample.throughput,
                        "p99_ms": sample.p99_ms,
                        "failures": sample.failures,
                    }
                )
    return series


def machine() -> dict[str, object]:
    cpu = "unknown"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": os.getloadavg(),
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def table(results: list[Result]) -> str:
    lines = [
        "| workload | database | optledger | p99 | memory | ceiling | ceiling p99 | ratio "
        "| goal | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.workload} | {r.database} | {r.optledger_throughput:,.0f}/s | "
            f"{_ms(r.optledger_p99_ms)} | {_mb(r.optledger_peak_rss_mb)} | "
            f"{r.ceiling_throughput:,.0f}/s | "
            f"{_ms(r.ceiling_p99_ms)} | {r.ratio:.2f}x | {r.goal} | "
            f"{'PASS' if r.passed else 'MISS'}{f' ({r.failures:,} failed)' if r.failures else ''} |"
        )
    return "\n".join(lines)


def run(
    *,
    databases: list[Database],
    workloads: list[str],
    rounds: int,
    sizes: Sizes,
    workers: int | None,
    output: Path,
    plots: Path | None,
) -> dict[str, object]:
    """Measure `workloads` on `databases`; the report, also written to `output`."""
    binary = shutil.which("wrk") or ""
    report: dict[str, object] = {"machine": machine(), "sizes": asdict(sizes), "rounds": rounds}
    results: list[Result] = []
    sweeps: dict[str, object] = {}
    for database in databases:
        with tempfile.TemporaryDirectory(prefix="optledger-bench-") as scratch:
            ctx = Context(
                database=database,
                sizes=sizes,
                scratch=Path(scratch),
                workers=workers,
                wrk=binary,
            )
            for workload in WORKLOADS:
                if workload.name in workloads:
                    results.append(measure(ctx, workload, rounds=rounds))
            if plots is not None:
                series = sweep(ctx)
                sweeps[database.kind] = series
                plots.mkdir(parents=True, exist_ok=True)
                for name in ("w1-unsubscribe", "w2-check-max"):
                    svg = sweep_svg(
                        title=f"{name} on {database.kind}",
                        ceiling=series[f"{name}/ceiling"],
                        optledger=series[f"{name}/optledger"],
                    )
                    (plots / f"{name}-{database.kind}.svg").write_text(svg, encoding="utf-8")
    report["load_average_after"] = os.getloadavg()
    report["results"] = [asdict(r) for r in results]
    report["sweeps"] = sweeps
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs, small files, 1 round")
    parser.add_argument("--rounds", type=int, help="turns of ceiling and optledger (3)")
    parser.add_argument("--seconds", type=float, help="length of each HTTP run (10; quick 2)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPTLEDGER_BENCH_POSTGRES_URL"),
        help="an expendable PostgreSQL database (emptied!) [OPTLEDGER_BENCH_POSTGRES_URL]",
    )
    parser.add_argument(
        "--workload", action="append", choices=WORKLOAD_NAMES, help="only these (repeatable)"
    )
    parser.add_argument("--import-rows", type=int, help="rows of the import (100,000)")
    parser.add_argument("--list-lines", type=int, help="lines of the list check (1,000,000)")
    parser.add_argument(
        "--contention-rows", type=int, help="rows of w3-import-opt-outs' import (1,000,000)"
    )
    parser.add_argument(
        "--workers", type=int, help="optledger serve --workers (default: one per core)"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "benchmarks" / "results.json"
    )
    parser.add_argument("--plots", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--no-plots", action="store_true", help="skip the connection sweep")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    if args.seconds is not None:
        sizes = Sizes(**{**asdict(sizes), "seconds": args.seconds})
    if args.import_rows is not None:
        sizes = Sizes(**{**asdict(sizes), "import_rows": args.import_rows})
    if args.contention_rows is not None:
        sizes = Sizes(**{**asdict(sizes), "contention_rows": args.contention_rows})
    if args.list_lines is not None:
        sizes = Sizes(
            **{
                **asdict(sizes),
                "list_lines": args.list_lines,
                "list_suppressions": args.list_lines // 2,
            }
        )
    databases = []
    if args.database in ("sqlite", "both"):
        databases.append(Database(kind="sqlite"))
    if args.database in ("postgres", "both"):
        if not args.postgres_url:
            parser.error("--database postgres needs --postgres-url (a database it may empty)")
        databases.append(Database(kind="postgres", url=args.postgres_url))
    run(
        databases=databases,
        workloads=list(args.workload or WORKLOAD_NAMES),
        rounds=args.rounds or (1 if args.quick else 3),
        sizes=sizes,
        workers=args.workers,
        output=args.output,
        plots=None if args.no_plots else args.plots,
    )


if __name__ == "__main__":
    main()
