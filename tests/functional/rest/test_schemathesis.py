"""Schemathesis fuzzes every operation of the OpenAPI document, in process, through ASGI.

The application runs on a real database, with a frozen clock, built as in conftest.py: a
SQLite file in the test's temporary directory, then a PostgreSQL database of its own
(when the PostgreSQL half runs); every operation is fuzzed on each. One tenant with one
topic (`news`, the topic of the document's examples) is seeded; every call is made with
that tenant's admin key, so each operation is reachable (scope refusals are covered by
test_auth.py and test_openapi.py; keys of every scope by bench/schemathesis_long.py, the
long run). Generation is derandomized with a fixed seed, positive and negative, a
bounded number of examples per operation.

Every check schemathesis has is on except `max_response_time` (timing is not a
correctness property on a shared CI machine); `not_a_server_error`,
`status_code_conformance`, `content_type_conformance`, `response_headers_conformance`,
`response_schema_conformance`, `negative_data_rejection`, `positive_data_acceptance`,
`missing_required_header`, `unsupported_method`, `allow_header_conformance` and
`ignored_auth` among them; `positive_data_acceptance` and `negative_data_rejection` take
the API's documented statuses (tests/schemathesis_checks.py). `use_after_free` and
`ensure_resource_availability` are on but act only in schemathesis' stateful phase, which
this test does not run (phases: examples, coverage, fuzzing; bench/schemathesis_long.py
runs the stateful phase too). No operation is excluded: `POST /v1/suppressions/import`
is fuzzed with string bodies as `text/csv` and `application/x-ndjson` like any other
(`filter_body` says why its bodies are strings only).

Rate limits are off (`UNLIMITED`): the `ignored_auth` probes send hundreds of invalid keys
from one client address, which would rightly be answered 429 (test_rate_limits.py), and
a positive case answered 429 would then fail `positive_data_acceptance`.

Repro of a failure: the report prints the `curl` of the failing request; rerun with
`.venv/bin/python -m pytest tests/functional/rest/test_schemathesis.py`, which is
deterministic.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from optledger.api import create_app
from optledger.config import DEFAULT_LIMITS
from optledger.domain.errors import AuthenticationFailed
from optledger.domain.model import Channel, Scope
from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from optledger.storage import migrate
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions
from tests.builders import service_context
from tests.conftest import DATABASES, _postgres_database, _postgres_server, sqlite_database
from tests.fakes import MemoryTransactions
from tests.schemathesis_checks import CHECK_SETTINGS

SEED: Final = 20260105
MAX_EXAMPLES: Final = 50
ADMIN_KEY_STAND_IN: Final = "olk_fuzzer_admin_key_stand_in"
"""The bearer credential schemathesis sends; `_Target` swaps it for the tenant's real
admin key. Schemathesis builds its coverage-phase cases, credentials included, when the
module is collected, before the database and its keys exist."""
UNLIMITED: Final = replace(DEFAULT_LIMITS, rate_limits=False)
CONFIG: Final = {
    "seed": SEED,
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
    },
    "checks": CHECK_SETTINGS,
    "auth": {"auto-signup": False, "openapi": {"ApiKey": {"bearer": ADMIN_KEY_STAND_IN}}},
}


def _services(transactions: Any) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
            hasher=KeyedHasher(b"f" * 32),
        )
    )


class _Target:
    """The ASGI application schemathesis calls: it forwards to `app`, which the `fuzzed`
    fixture points at an application on a fresh SQLite database for the module's
    duration, with `ADMIN_KEY_STAND_IN` replaced by the real admin key.

    Schemathesis needs the schema when the module is imported (its pytest plugin makes
    one test per operation from it), before any fixture runs; the OpenAPI document is
    read then from an application on in-memory storage, which serves nothing else."""

    def __init__(self) -> None:
        self.app: Any = create_app(
            services=_services(MemoryTransactions()), ready=lambda: True, limits=UNLIMITED
        )
        self.fuzzed: Fuzzed | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.fuzzed is not None:
            stand_in = f"Bearer {ADMIN_KEY_STAND_IN}".encode()
            real = f"Bearer {self.fuzzed.admin_key()}".encode()
            scope = {
                **scope,
                "headers": [
                    (name, real if name == b"authorization" and value == stand_in else value)
                    for name, value in scope["headers"]
                ],
            }
        await self.app(scope, receive, send)


# The import body is declared as a string in both its media types; schemathesis sends a
# `text/csv` string as text already, and needs telling to do the same for NDJSON (it
# would otherwise skip those cases, with a warning).
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

_target = _Target()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _target, config=SchemathesisConfig.from_dict(CONFIG)
)


@schema.hook.apply_to(path="/v1/suppressions/import", method="POST")
def filter_body(context: Any, body: Any) -> bool:
    """Only string bodies for the import, whose body is a file of text: any text is a
    string, so a negative case of another type (an array, which schemathesis sends as its
    JSON text) reaches the server as a valid NDJSON file of one line, and a 200 with that
    line skipped is the right answer under `skip_invalid=true`, not an accepted violation.
    Negative query strings, media types and headers are still sent."""
    return isinstance(body, str)


@dataclass
class Fuzzed:
    """The application under fuzzing and the admin key it is called with."""

    services: Services
    tenant_id: int
    secret: str

    def admin_key(self) -> str:
        """The admin key; a new one if the fuzzer revoked it (`DELETE /v1/api-keys/{id}`
        may well hit the key's own id, which the API allows)."""
        try:
            self.services.tenants.authenticate(secret=self.secret)
        except AuthenticationFailed:
            created = self.services.tenants.create_key(
                tenant_id=self.tenant_id, name="fuzzer", scope=Scope.ADMIN
            )
            self.secret = created.secret
        return self.secret


@contextmanager
def _database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database with the current schema: a SQLite file, or a PostgreSQL database
    of its own (migrated, dropped afterwards)."""
    if kind == "sqlite":
        yield sqlite_database(tmp_path_factory.mktemp("fuzzed") / "optledger.db")
        return
    with _postgres_database(_postgres_server()) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module", params=DATABASES)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """One database per kind for the whole module: what one operation's cases create, the
    next operation's cases may find."""
    with _database(request.param, tmp_path_factory) as url:
        yield from _fuzzed_on(url)


def _fuzzed_on(url: str) -> Iterator[Fuzzed]:
    engine = make_engine(url)
    transactions = SqlTransactions(engine)
    before = _target.app
    try:
        services = _services(transactions)
        created = services.tenants.create_tenant(name="acme")
        services.topics.create_topic(
            tenant_id=created.tenant.id,
            key="news",
            name="News",
            channels=(Channel.EMAIL, Channel.SMS),
        )
        _target.app = create_app(services=services, ready=lambda: True, limits=UNLIMITED)
        _target.fuzzed = Fuzzed(
            services=services, tenant_id=created.tenant.id, secret=created.admin_key.secret
        )
        yield _target.fuzzed
    finally:
        _target.app = before
        _target.fuzzed = None
        transactions.close()
        engine.dispose()


@schema.parametrize()
def test_api(case: Any, fuzzed: Fuzzed) -> None:
    case.call_and_validate()
