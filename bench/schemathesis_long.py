"""The long schemathesis run: at least 10,000 generated cases over every operation of the
OpenAPI document, against a real `optledger serve` on loopback, on SQLite and on
PostgreSQL.

For each database: a fresh data directory (and, for PostgreSQL, a database of its own,
dropped afterwards), `optledger serve` on a free port of 127.0.0.1, the tenant from
`optledger tenant create`, the topic `news` (the document's examples use it) and one key
of each scope made through the API. Schemathesis then loads /openapi.json from the
server and runs every phase: examples, coverage, fuzzing (positive and negative data)
and stateful sequences along the document's links, over HTTP. Each case is sent with a
key of a scope chosen at random (check, write or admin), so every operation is also
called with keys it must refuse. Rate limits are off (the header caps stay on): the
fuzzer is one client address sending thousands of requests, a third of them with keys
the operation refuses; the limits have tests of their own. The one thing filtered out
is revoking the run's own keys (`DELETE /v1/api-keys/{key_id}` with one of their ids,
which are kept away from the ids the coverage phase tries); any other key, the fuzzer's
own among them, it may revoke.

Checks: every check the CI gate (tests/functional/rest/test_schemathesis.py) runs, with
the same documented statuses, `not_a_server_error` and response schema, status and
header conformance among them. The report gives the cases and failures per operation and
per check, the statuses answered, and the server's log lines at warning level or above.
Exit status 1 when a case failed, fewer cases than `--min-cases` ran, or the server
logged an error or a traceback.

    .venv/bin/python bench/schemathesis_long.py --database sqlite --database postgresql
    .venv/bin/python bench/schemathesis_long.py --database sqlite --max-examples 20   # smoke

PostgreSQL: `--postgres-url` (default: the local server, user postgres, database test).
"""

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx2
import psycopg
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live import free_port, serving
from tests.schemathesis_checks import CHECK_SETTINGS

OPTLEDGER: Final = Path(sys.executable).parent / "optledger"
DEFAULT_POSTGRES: Final = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCOPES: Final = ("check", "write", "admin")
REVOKE: Final = "DELETE /v1/api-keys/{key_id}"
DECOYS: Final = 200


def _config(*, seed: int, max_examples: int, workers: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "workers": workers,
        # Keep generating after a failure, so that every operation gets its cases.
        "continue-on-failure": True,
        # Fuzzing draws ids from earlier responses (that reaches real resources); for the
        # revocation, whose one parameter is such an id, the pool is a handful of values,
        # and Hypothesis stops after one or two cases. There it generates ids instead.
        "operations": [
            {
                "include-operation-id": "revokeApiKey",
                "phases": {"fuzzing": {"extra-data-sources": {"responses": False}}},
            }
        ],
        "generation": {"mode": "all", "max-examples": max_examples, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
        "checks": CHECK_SETTINGS,
    }


# The server ------------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    keys: dict[str, str]
    """A secret per scope."""
    key_ids: frozenset[int]
    log: Path


def _env(data_dir: Path, database_url: str | None, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}
    env |= {
        "OPTLEDGER_DATA_DIR": str(data_dir),
        "OPTLEDGER_PUBLIC_URL": base_url,
        "OPTLEDGER_LOG_LEVEL": "warning",
        "OPTLEDGER_RATE_LIMITS": "off",
    }
    if database_url is not None:
        env["OPTLEDGER_DATABASE_URL"] = database_url
    return env


@contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    name = f"optledger_fuzz_{secrets.token_hex(4)}"
    admin_url = server_url.replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _serve(database: str, postgres_url: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="optledger-fuzz-") as temporary:
        data_dir = Path(temporary)
        if database == "sqlite":
            with _serving(data_dir, None) as server:
                yield server
        else:
            with _postgres_database(postgres_url) as url, _serving(data_dir, url) as server:
                yield server


@contextmanager
def _serving(data_dir: Path, database_url: str | None) -> Iterator[Server]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _env(data_dir, database_url, base_url)
    log = data_dir / "server.log"
    command = [str(OPTLEDGER), "serve", "--port", str(port), "--workers", "1"]
    with serving(command, base_url=base_url, env=env, cwd=data_dir, log=log):
        created = subprocess.run(  # noqa: S603 - a fixed command line
            [str(OPTLEDGER), "tenant", "create", "fuzz", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        yield _seed(base_url, json.loads(created.stdout)["api_key"], log)


def _seed(base_url: str, setup_key: str, log: Path) -> Server:
    """The topic `news`, and the run's keys. `DECOYS` keys come first, so that the run's
    own have ids far from those the coverage phase tries (1, 2, the document's example 7,
    the largest): the fuzzer may revoke any key, and revoking the run's own would turn
    the rest of the run into 401s. The filter in `run` keeps the other phases off them."""
    headers = {"Authorization": f"Bearer {setup_key}"}
    with httpx2.Client(base_url=base_url, headers=headers, timeout=30) as api:
        topic = {"key": "news", "name": "News and offers", "channels": ["email", "sms"]}
        api.post("/v1/topics", json=topic).raise_for_status()
        for number in range(DECOYS):
            decoy = {"name": f"decoy {number}", "scope": "check"}
            api.post("/v1/api-keys", json=decoy).raise_for_status()
        keys: dict[str, str] = {}
        ids: set[int] = set()
        for scope in SCOPES:
            response = api.post("/v1/api-keys", json={"name": f"fuzz {scope}", "scope": scope})
            response.raise_for_status()
            keys[scope] = response.json()["secret"]
            ids.add(response.json()["key"]["id"])
    return Server(base_url=base_url, keys=keys, key_ids=frozenset(ids), log=log)


def revoked_keys(server: Server) -> list[str]:
    """The scopes whose run key no longer authenticates."""
    with httpx2.Client(base_url=server.base_url, timeout=30) as api:
        return [
            scope
            for scope, secret in server.keys.items()
            if api.get("/v1/topics", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        ]


# The run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    by_phase: Counter[str] = field(default_factory=Counter)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    scopes: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[tuple[str, str], str] = field(default_factory=dict)
    """(operation, check) → the curl of one failing case."""
    errors: list[str] = field(default_factory=list)


def _rotating_keys(keys: dict[str, str], seed: int, tally: Tally) -> type:
    """An auth provider (schemathesis makes it without arguments) that sends each case
    with a key of a scope chosen at random, seeded."""
    chooser = random.Random(seed)
    lock = threading.Lock()

    class RotatingKeys:
        def get(self, case: Any, context: Any) -> str:
            with lock:
                scope = chooser.choice(SCOPES)
                tally.scopes[context.operation.label][scope] += 1
            return scope

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {keys[data]}"}

    return RotatingKeys


def _record(event: Any, tally: Tally) -> None:
    recorder = event.recorder
    for case_id, node in recorder.cases.items():
        label = node.value.operation.label
        tally.cases[label] += 1
        tally.by_phase[str(event.phase.value)] += 1
        interaction = recorder.interactions.get(case_id)
        if interaction is not None and interaction.response is not None:
            tally.statuses[label][interaction.response.status_code] += 1
        for check in recorder.checks.get(case_id, []):
            if check.failure_info is not None:
                tally.failures[label][check.name] += 1
                tally.examples.setdefault((label, check.name), check.failure_info.code_sample)


def run(server: Server, *, seed: int, max_examples: int, workers: int) -> Tally:
    tally = Tally()
    config = SchemathesisConfig.from_dict(
        _config(seed=seed, max_examples=max_examples, workers=workers)
    )
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=config)
    schema.auth(refresh_interval=None)(_rotating_keys(server.keys, seed, tally))

    @schema.hook
    def filter_case(_context: Any, case: Any) -> bool:
        own_key = (case.path_parameters or {}).get("key_id") in server.key_ids
        return not (case.operation.label == REVOKE and own_key)

    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(event, tally)
        elif isinstance(event, events.NonFatalError):
            tally.errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            tally.errors.append(f"fatal: {event.exception!r}")
    return tally


def report(database: str, tally: Tally, log: Path, seconds: float) -> list[str]:
    problems: list[str] = []
    total = sum(tally.cases.values())
    print(f"\n## {database}: {total:,} cases in {seconds:.0f} s")
    print("phases: " + ", ".join(f"{p} {n:,}" for p, n in sorted(tally.by_phase.items())))
    print("\n| operation | cases | check/write/admin keys | statuses | failures |")
    print("|---|---|---|---|---|")
    for label in sorted(tally.cases):
        scopes = tally.scopes[label]
        keys = "/".join(str(scopes[s]) for s in SCOPES)
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses[label].items()))
        failed = ", ".join(f"{c} {n}" for c, n in sorted(tally.failures[label].items())) or "0"
        print(f"| `{label}` | {tally.cases[label]:,} | {keys} | {statuses} | {failed} |")
    server_errors = sum(c["not_a_server_error"] for c in tally.failures.values())
    print(f"\nserver errors (not_a_server_error failures): {server_errors}")
    for (label, check), sample in sorted(tally.examples.items()):
        print(f"\n{label} fails {check}:\n    {sample}")
        problems.append(f"{database}: {label}: {check}")
    for error in tally.errors:
        print(f"error: {error}")
        problems.append(f"{database}: {error}")
    logged = log.read_text(errors="replace").splitlines()
    print(f"\nserver log, warning and above: {len(logged)} lines")
    for line, count in Counter(logged).most_common(10):
        print(f"    {count} x {line[:200]}")
    errors = [line for line in logged if "ERROR" in line or "Traceback" in line]
    if errors:
        problems.append(f"{database}: the server logged {len(errors)} error lines")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", action="append", choices=["sqlite", "postgresql"], required=True
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--max-examples", type=int, default=600, help="per operation and phase")
    parser.add_argument("--min-cases", type=int, default=10_000, help="per database")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20260105)
    args = parser.parse_args()
    print(f"schemathesis over HTTP; seed {args.seed}, max examples {args.max_examples}")

    problems: list[str] = []
    for database in args.database:
        with _serve(database, args.postgres_url) as server:
            started = time.monotonic()
            tally = run(
                server, seed=args.seed, max_examples=args.max_examples, workers=args.workers
            )
            elapsed = time.monotonic() - started
            problems += report(database, tally, server.log, elapsed)
            problems += [f"{database}: the run's {s} key was revoked" for s in revoked_keys(server)]
            total = sum(tally.cases.values())
            if total < args.min_cases:
                problems.append(f"{database}: only {total} cases (< {args.min_cases})")
    print("\nproblems:" if problems else "\nno failures")
    for problem in problems:
        print(f"- {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
