"""Kill `optledger serve` with SIGKILL under write load and check nothing acknowledged is lost.

One cycle: start the server (one process, or a supervisor and its workers) on a data
directory (its SQLite file, or the PostgreSQL database `database_url` names), let client
threads POST distinct unsubscribes to /v1/unsubscribe, SIGKILL the server at a random
moment, then read the database directly and check that (a) SQLite's integrity check
passes (PostgreSQL recovers by itself: the server, not the database, is killed), and (b)
every unsubscribe the server acknowledged with a 2xx is stored, with exactly one
`suppress` event. Writes the server stored but never acknowledged are allowed (the
client may have lost the reply). Used by tests/crash (a few cycles in CI) and
bench/crash_cycles.py (hundreds).
"""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import psycopg

from tests.live import free_port, wait_until_ready

OPTLEDGER = [sys.executable, "-m", "optledger"]
MIN_ACKNOWLEDGED = 10
"""Acknowledged writes a cycle waits for before it picks the moment to kill."""


@dataclass
class CheckResult:
    acknowledged: int
    stored: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    integrity: str = ""


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env["OPTLEDGER_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


def create_tenant(data_dir: Path, database_url: str | None) -> str:
    """A tenant `acme` with an admin key; returns the key."""
    created = subprocess.run(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, "tenant", "create", "acme", "--json"],
        env=environment(data_dir, database_url),
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(created.stdout)["api_key"])


def start_server(
    data_dir: Path, database_url: str | None, port: int, *, workers: int
) -> subprocess.Popen[bytes]:
    """`optledger serve` with `workers` processes, once it answers. Killing the process
    returned (SIGKILL) kills its workers at once too (optledger.cli.prefork)."""
    server = subprocess.Popen(  # noqa: S603 - a fixed command line
        [*OPTLEDGER, "serve", "--port", str(port), "--workers", str(workers)],
        env=environment(data_dir, database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", server)
    except BaseException:
        server.kill()
        server.wait()
        raise
    return server


def load(
    *,
    port: int,
    key: str,
    prefix: str,
    threads: int,
    stop: threading.Event,
    acknowledged: list[str],
) -> None:
    """POST distinct unsubscribes until `stop` (or the server is gone), appending each
    acknowledged address to `acknowledged` as its answer arrives."""
    lock = threading.Lock()

    def client(index: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            n = 0
            while not stop.is_set():
                address = f"{prefix}-{index}-{n}@example.com"
                n += 1
                body = {"address": {"channel": "email", "address": address}}
                try:
                    response = http.post("/v1/unsubscribe", json=body, timeout=60)
                except httpx2.TransportError:
                    return
                if 200 <= response.status_code < 300:
                    with lock:
                        acknowledged.append(address)
                else:
                    raise AssertionError(f"unexpected status {response.status_code}")

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


_SUPPRESS_EVENTS = (
    "SELECT a.value, COUNT(e.id) FROM addresses a "
    "JOIN consent_events e ON e.address_id = a.id AND e.action = 'suppress' "
    "GROUP BY a.value"
)


def check_database(
    data_dir: Path, database_url: str | None, acknowledged: list[str]
) -> CheckResult:
    """What the database holds of the acknowledged unsubscribes."""
    if database_url is None:
        connection = sqlite3.connect(data_dir / "optledger.db")
        try:
            integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
            rows = connection.execute(_SUPPRESS_EVENTS).fetchall()
        finally:
            connection.close()
    else:
        with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as pg:
            rows = pg.execute(_SUPPRESS_EVENTS).fetchall()
        integrity = "ok"
    events: Mapping[str, int] = dict(rows)
    return CheckResult(
        acknowledged=len(acknowledged),
        stored=len(events),
        lost=[a for a in acknowledged if events.get(a, 0) == 0],
        duplicated=[a for a in acknowledged if events.get(a, 0) > 1],
        integrity=integrity,
    )


def cycle(
    *,
    data_dir: Path,
    database_url: str | None,
    key: str,
    number: int,
    threads: int,
    rng: random.Random,
    workers: int,
) -> list[str]:
    """One start, load, SIGKILL cycle; returns the addresses acknowledged during it.

    The kill comes at a random moment after the server has acknowledged at least
    `MIN_ACKNOWLEDGED` writes, so every cycle kills a server under load however slow
    the machine is."""
    port = free_port()
    server = start_server(data_dir, database_url, port, workers=workers)
    stop = threading.Event()
    acknowledged: list[str] = []
    loader = threading.Thread(
        target=load,
        kwargs={
            "port": port,
            "key": key,
            "prefix": f"c{number}",
            "threads": threads,
            "stop": stop,
            "acknowledged": acknowledged,
        },
    )
    loader.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < MIN_ACKNOWLEDGED and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.8))
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    loader.join()
    return acknowledged
