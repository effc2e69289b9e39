"""Opt-outs through a running `optledger serve` while a CLI import writes the same database.

One run: a fresh data directory (its SQLite file, or the PostgreSQL database
`database_url` names); a tenant, an opt-out topic `news`, and messages registered for
the one-click half of the opt-outs; `optledger serve` on a free port. Then `optledger
import suppressions` of `rows` new addresses starts as a second process, and once its
write pass has begun, one client sends `opt_outs` opt-outs at a steady `rate` (faster
if the import is ahead of it: `SPREAD`),
alternately `POST /v1/unsubscribe` (REST) and `POST /u/{token}` with
`List-Unsubscribe=One-Click` (RFC 8058), each followed at once by `GET /v1/checks` of its
address. Afterwards every opt-out's address history is read back.

The server's log is left in `work/server.log`. Used by tests/contention (300,000 rows,
200 opt-outs) and bench/import_contention.py (1,000,000 rows, 1,000 opt-outs).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from sqlalchemy import Engine, select

from optledger.storage.engine import make_engine
from optledger.storage.tables import import_runs
from tests.live import free_port, peak_rss_mb, reap, wait_until_ready

OPTLEDGER = [sys.executable, "-m", "optledger"]
TOPIC = "news"
SPREAD = 0.8
"""Opt-out n of N is sent at n / `rate` seconds into the write pass, or sooner, once the
import has applied n / N of this share of its rows: a fast import still has every
opt-out fall inside its write pass, with the last fifth of its rows still to write."""


@dataclass
class OptOut:
    kind: str
    """`rest` or `one-click`."""
    address: str
    status: int = 0
    seconds: float = 0.0
    allowed_after: bool | None = None
    """What the check right after the opt-out answered (it must be False)."""
    during_import: bool = False
    """Whether the import was still writing when the opt-out was answered."""
    recorded: bool = False


@dataclass
class Result:
    opt_outs: list[OptOut] = field(default_factory=list)
    import_exit: int | None = None
    import_stdout: str = ""
    import_stderr: str = ""
    import_seconds: float = 0.0
    import_peak_rss_mb: float = 0.0
    rows: int = 0

    @property
    def refused(self) -> list[OptOut]:
        return [o for o in self.opt_outs if not 200 <= o.status < 300]

    @property
    def not_effective(self) -> list[OptOut]:
        return [o for o in self.opt_outs if o.allowed_after is not False]

    @property
    def not_recorded(self) -> list[OptOut]:
        return [o for o in self.opt_outs if not o.recorded]

    @property
    def during_import(self) -> int:
        return sum(o.during_import for o in self.opt_outs)

    def latency_ms(self, quantile: float) -> float:
        seconds = sorted(o.seconds for o in self.opt_outs)
        if quantile >= 1:
            return seconds[-1] * 1000
        cuts = statistics.quantiles(seconds, n=1000, method="inclusive")
        return cuts[round(quantile * 1000) - 1] * 1000


def environment(data_dir: Path, database_url: str | None, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    env["OPTLEDGER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env["OPTLEDGER_LOG_LEVEL"] = "warning"  # no "optledger: database …" line on stderr
    if database_url is not None:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


def run(
    *,
    work: Path,
    database_url: str | None,
    rows: int,
    opt_outs: int,
    rate: float,
) -> Result:
    data_dir = work / "data"
    data_dir.mkdir()
    port = free_port()
    env = environment(data_dir, database_url, port)
    url = database_url or f"sqlite:///{data_dir / 'optledger.db'}"
    created = subprocess.run(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, "tenant", "create", "acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = str(json.loads(created.stdout)["api_key"])
    source = work / "optouts.csv"
    with source.open("w", encoding="utf-8") as file:
        file.write("email,reason\n")
        file.writelines(f"import{n}@example.com,imported\n" for n in range(rows))
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        with httpx2.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        ) as http:
            wait_until_ready(f"http://127.0.0.1:{port}", server)
            planned = _prepare(http, opt_outs)
            return _race(
                http, env=env, url=url, source=source, rows=rows, planned=planned, rate=rate
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _prepare(http: httpx2.Client, count: int) -> list[tuple[OptOut, str | None]]:
    """The opt-outs to send: REST ones, and one-click ones with their link's path."""
    topic = http.post(
        "/v1/topics",
        json={"key": TOPIC, "name": "News", "consent_mode": "opt_out", "channels": ["email"]},
    )
    assert topic.status_code == 201, topic.text
    planned: list[tuple[OptOut, str | None]] = []
    one_click = [f"click{n}@example.com" for n in range(0, count, 2)]
    paths: dict[str, str] = {}
    for start in range(0, len(one_click), 1_000):
        batch = one_click[start : start + 1_000]
        registered = http.post(
            "/v1/messages",
            json={"messages": [{"channel": "email", "address": a, "topic": TOPIC} for a in batch]},
        )
        assert registered.status_code == 201, registered.text
        for message in registered.json()["messages"]:
            link = message["headers"]["List-Unsubscribe"].strip("<>")
            paths[message["address"]] = httpx2.URL(link).path
    for n in range(count):
        if n % 2 == 0:
            address = f"click{n}@example.com"
            planned.append((OptOut("one-click", address), paths[address]))
        else:
            planned.append((OptOut("rest", f"rest{n}@example.com"), None))
    return planned


def _progress(engine: Engine) -> tuple[int, bool]:
    """(rows the import has applied, whether it has finished), read from its import run."""
    with engine.connect() as connection:
        row = connection.execute(select(import_runs.c.applied, import_runs.c.finished_at)).first()
    if row is None:
        return 0, False
    return row.applied, row.finished_at is not None


def _race(
    http: httpx2.Client,
    *,
    env: dict[str, str],
    url: str,
    source: Path,
    rows: int,
    planned: list[tuple[OptOut, str | None]],
    rate: float,
) -> Result:
    result = Result(rows=rows)
    progress = make_engine(url, pool_size=1, max_overflow=0)
    started = time.monotonic()
    stdout, stderr = source.with_suffix(".out"), source.with_suffix(".err")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        importer = subprocess.Popen(  # noqa: S603 - a fixed command line
            [*OPTLEDGER, "import", "suppressions", "--tenant", "acme", str(source)],
            env=env,
            stdout=out,
            stderr=err,
        )
    usage = None
    try:
        while _progress(progress)[0] == 0:
            usage = reap(importer, block=False)
            if usage is not None:
                break
            time.sleep(0.05)
        began = time.monotonic()
        for number, (opt_out, path) in enumerate(planned):
            due = began + number / rate
            after = SPREAD * rows * number // len(planned)
            while usage is None and time.monotonic() < due and _progress(progress)[0] < after:
                time.sleep(0.01)
                usage = reap(importer, block=False)
            _send(http, opt_out, path)
            if usage is None:
                usage = reap(importer, block=False)
            opt_out.during_import = usage is None and not _progress(progress)[1]
            result.opt_outs.append(opt_out)
        if usage is None:
            usage = reap(importer, block=True)
        result.import_seconds = time.monotonic() - started
    finally:
        progress.dispose()
        if importer.returncode is None:
            importer.kill()
            reap(importer, block=True)
    result.import_exit = importer.returncode
    result.import_peak_rss_mb = peak_rss_mb(usage)
    result.import_stdout = stdout.read_text(encoding="utf-8")
    result.import_stderr = stderr.read_text(encoding="utf-8")
    for opt_out in result.opt_outs:
        opt_out.recorded = _recorded(http, opt_out)
    return result


def _send(http: httpx2.Client, opt_out: OptOut, path: str | None) -> None:
    began = time.perf_counter()
    if path is None:
        response = http.post(
            "/v1/unsubscribe",
            json={"address": {"channel": "email", "address": opt_out.address}},
        )
    else:
        response = http.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": ""},
        )
    opt_out.seconds = time.perf_counter() - began
    opt_out.status = response.status_code
    check = http.get(
        "/v1/checks", params={"topic": TOPIC, "channel": "email", "address": opt_out.address}
    )
    if check.status_code == 200:
        opt_out.allowed_after = bool(check.json()["allowed"])


def _recorded(http: httpx2.Client, opt_out: OptOut) -> bool:
    history = http.get(
        "/v1/addresses/history", params={"channel": "email", "address": opt_out.address}
    )
    if history.status_code != 200:
        return False
    via = "one_click" if opt_out.kind == "one-click" else "api"
    return any(
        event["via"] == via and event["outcome"] == "changed" for event in history.json()["items"]
    )
