"""A write the database cannot take in time is a 503 with Retry-After at every door,
and nothing of it is recorded; once the database is free, the same request succeeds.

The whole application runs on a SQLite file whose write lock a foreign connection holds
for longer than the writer may wait (0.3 s here).
"""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.keyring import AesGcmKeyring
from optledger.services import Services
from optledger.services.messages import MessageSpec
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions
from tests.builders import service_context
from tests.conftest import sqlite_database
from tests.functional.pages.conftest import form_token

ADDRESS = "ann@example.com"
BUSY_PROBLEM = {
    "type": "/problems/unavailable",
    "title": "Service unavailable",
    "status": 503,
    "detail": "the database stayed locked by another process; try again",
}
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "optledger.db"
    sqlite_database(path)
    return path


@pytest.fixture
def services(database: Path) -> Iterator[Services]:
    engine = make_engine(f"sqlite:///{database}")
    transactions = SqlTransactions(engine, wait=0.3)
    try:
        yield Services.build(
            service_context(
                transactions=transactions,
                hasher=KeyedHasher(b"f" * 32),
                keyring=AesGcmKeyring({1: b"k" * 32}, current=1),
            )
        )
    finally:
        transactions.close()
        engine.dispose()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(
        create_app(services=services, ready=lambda: True), raise_server_exceptions=False
    ) as http:
        yield http


@pytest.fixture
def setup(services: Services) -> tuple[dict[str, str], str]:
    """An admin key's header, and the path of a message's one-click link."""
    created = services.tenants.create_tenant(name="acme")
    services.topics.create_topic(
        tenant_id=created.tenant.id,
        key="news",
        name="News",
        category=Category.MARKETING,
        consent_mode=ConsentMode.OPT_OUT,
        channels=(Channel.EMAIL,),
    )
    [message] = services.messages.register_messages(
        tenant_id=created.tenant.id,
        messages=[MessageSpec(channel=Channel.EMAIL, address=ADDRESS, topic="news")],
    )
    link = "/u/" + message.unsubscribe_url.rsplit("/", 1)[1]
    return {"Authorization": f"Bearer {created.admin_key.secret}"}, link


@pytest.fixture
def foreign_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the write lock."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    finally:
        connection.close()


def allowed(client: TestClient, headers: dict[str, str]) -> bool:
    response = client.get(
        "/v1/checks",
        params={"topic": "news", "channel": "email", "address": ADDRESS},
        headers=headers,
    )
    assert response.status_code == 200
    return bool(response.json()["allowed"])


def test_rest_answers_503_with_retry_after_then_succeeds(client, setup, foreign_lock):
    headers, _link = setup
    body = {"address": {"channel": "email", "address": ADDRESS}, "topics": ["news"]}

    refused = client.post("/v1/unsubscribe", json=body, headers=headers)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == BUSY_PROBLEM
    assert allowed(client, headers)

    foreign_lock.execute("COMMIT")
    accepted = client.post("/v1/unsubscribe", json=body, headers=headers)
    assert accepted.status_code == 200
    assert [change["outcome"] for change in accepted.json()["changes"]] == ["changed"]
    assert not allowed(client, headers)


def test_one_click_answers_503_in_plain_text_then_succeeds(client, setup, foreign_lock):
    headers, link = setup

    refused = client.post(link, content=ONE_CLICK, headers={"Content-Type": FORM})

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "text/plain; charset=utf-8"
    assert refused.text == "Service unavailable: nothing was changed, try again.\n"
    assert allowed(client, headers)

    foreign_lock.execute("COMMIT")
    accepted = client.post(link, content=ONE_CLICK, headers={"Content-Type": FORM})
    assert (accepted.status_code, accepted.text) == (200, "Unsubscribed.\n")
    assert not allowed(client, headers)


def test_a_page_form_answers_the_503_page(client, setup, foreign_lock):
    headers, link = setup
    token = form_token(client.get(link).text)

    refused = client.post(f"{link}/leave", data={"form_token": token, "scope": "topic"})

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert "Nothing was changed. Please try again in a few minutes." in refused.text
    assert allowed(client, headers)
