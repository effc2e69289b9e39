"""The whole application through ASGI, on SQLite and PostgreSQL.

Services run on the real storage (`transactions` from tests/conftest.py) with a frozen
clock, so timestamps in responses are exact. Each test gets two tenants, `acme` and
`globex`, with one key of each scope.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.domain.model import Scope
from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from tests.builders import service_context
from tests.fakes import FrozenClock

NOW = "2026-01-05T09:30:00Z"


@dataclass(frozen=True)
class Tenant:
    id: int
    admin: dict[str, str]
    writer: dict[str, str]
    checker: dict[str, str]
    key_ids: dict[str, int]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def services(transactions, clock) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
            clock=clock,
            hasher=KeyedHasher(b"f" * 32),
        )
    )


@pytest.fixture
def client(services) -> Iterator[TestClient]:
    app = create_app(services=services, ready=lambda: True)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def make_tenant(services: Services, name: str) -> Tenant:
    created = services.tenants.create_tenant(name=name)
    tenant_id = created.tenant.id
    writer = services.tenants.create_key(tenant_id=tenant_id, name="writer", scope=Scope.WRITE)
    checker = services.tenants.create_key(tenant_id=tenant_id, name="checker", scope=Scope.CHECK)
    return Tenant(
        id=tenant_id,
        admin=bearer(created.admin_key.secret),
        writer=bearer(writer.secret),
        checker=bearer(checker.secret),
        key_ids={
            "admin": created.admin_key.key.id,
            "writer": writer.key.id,
            "checker": checker.key.id,
        },
    )


@pytest.fixture
def acme(services) -> Tenant:
    return make_tenant(services, "acme")


@pytest.fixture
def globex(services) -> Tenant:
    return make_tenant(services, "globex")


def problem(status: int, kind: str, detail: str, errors: list | None = None) -> dict:
    """The problem+json body of an error."""
    titles = {
        "invalid-input": "Invalid input",
        "malformed-json": "Malformed JSON",
        "unauthenticated": "Unauthenticated",
        "forbidden": "Forbidden",
        "not-found": "Not found",
        "conflict": "Conflict",
        "too-large": "Content too large",
        "unsupported-media-type": "Unsupported media type",
    }
    body = {"type": f"/problems/{kind}", "title": titles[kind], "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = [{"field": f, "reason": r} for f, r in errors]
    return body


def invalid(*errors: tuple[str, str]) -> dict:
    return problem(422, "invalid-input", "The input is invalid.", list(errors))


def not_found(kind: str, key: str) -> dict:
    return problem(404, "not-found", f"{kind} {key!r} was not found")


def create_topic(client: TestClient, tenant: Tenant, key: str, **fields) -> dict:
    response = client.post(
        "/v1/topics", json={"key": key, "name": key.title(), **fields}, headers=tenant.admin
    )
    assert response.status_code == 201, response.text
    return response.json()
