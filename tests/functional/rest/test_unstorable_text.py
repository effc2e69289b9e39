"""Text no database can store is a 422 naming the field, on SQLite and PostgreSQL.

Issue 8, item 9: on PostgreSQL a NUL character in `actor`, `campaign` or a contact id
answered 500 (PostgreSQL refuses U+0000 in text). Nothing of the request may be written.
(An unpaired surrogate, `\\ud800` in JSON, is refused by the REST door's own validation;
the services refuse it for every other door: tests/unit/services/test_storable_text.py.)
"""

import json

import pytest
from sqlalchemy import Engine, text

from tests.functional.rest.conftest import create_topic, invalid

NUL = "must not contain the NUL character"
ANN = {"channel": "email", "address": "ann@example.com"}


def raw_json(value: object) -> bytes:
    """`value` as JSON, NUL characters escaped as `\\u0000`."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")


def written(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in ("consent_events", "addresses", "contacts")
        )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"actor": "agent\x00smith"}, "actor"),
        ({"device": "\x00"}, "device"),
        ({"entrypoint": "footer\x00"}, "entrypoint"),
        ({"tags": ["ok", "bad\x00tag"]}, "tags[1]"),
        ({"context": {"campaign": "spring\x00"}}, "context.campaign"),
        ({"context": {"ke\x00y": "value"}}, "context"),
    ],
)
def test_nul_in_provenance_is_422_naming_the_field(client, engine, acme, fields, field):
    response = client.post(
        "/v1/unsubscribe", content=raw_json({"address": ANN, **fields}), headers=json_to(acme)
    )

    reason = NUL if field != "context" else f"a key {NUL}"
    assert (response.status_code, response.json()) == (422, invalid((field, reason)))
    assert written(engine) == (0, 0, 0)


def test_every_bad_provenance_field_is_named_at_once(client, engine, acme):
    create_topic(client, acme, "news")
    body = {**ANN, "topic": "news", "actor": "\x00", "device": "a\x00", "tags": ["x", "\x00"]}

    response = client.post("/v1/subscriptions", content=raw_json(body), headers=json_to(acme))

    assert (response.status_code, response.json()) == (
        422,
        invalid(("actor", NUL), ("device", NUL), ("tags[1]", NUL)),
    )
    assert written(engine) == (0, 0, 0)


def test_nul_in_a_campaign_is_422_naming_the_message(client, engine, acme):
    create_topic(client, acme, "news")
    messages = [
        {**ANN, "topic": "news", "campaign": "spring"},
        {**ANN, "topic": "news", "campaign": "summer\x00"},
    ]

    response = client.post(
        "/v1/messages", content=raw_json({"messages": messages}), headers=json_to(acme)
    )

    assert (response.status_code, response.json()) == (
        422,
        invalid(("messages[1].campaign", NUL)),
    )
    assert written(engine) == (0, 0, 0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/unsubscribe", {"contact": "user\x0042"}),
        ("/v1/resubscribe", {"contact": "user\x0042"}),
        ("/v1/unsubscribe-requests", {"contact": "user\x0042"}),
        ("/v1/subscriptions", {**ANN, "topic": "news", "contact": "user\x0042"}),
    ],
)
def test_nul_in_a_contact_id_is_422(client, engine, acme, path, body):
    create_topic(client, acme, "news")

    response = client.post(path, content=raw_json(body), headers=json_to(acme))

    assert (response.status_code, response.json()) == (422, invalid(("contact", NUL)))
    assert written(engine) == (0, 0, 0)


@pytest.mark.parametrize(
    "case",
    [
        ("GET", "/v1/contacts/user%0042", "external_id"),
        ("DELETE", "/v1/contacts/user%0042", "external_id"),
        ("GET", "/v1/contacts/user%0042/history", "contact"),
        ("GET", "/v1/contacts/user42/history?via=api%00", "via"),
    ],
)
def test_nul_in_a_contact_id_in_the_path_is_422(client, engine, acme, case):
    method, path, field = case
    response = client.request(method, path, headers=acme.admin)

    assert (response.status_code, response.json()) == (422, invalid((field, NUL)))
    assert written(engine) == (0, 0, 0)


def test_nul_in_a_confirmation_token_is_422(client, engine, acme):
    response = client.post(
        "/v1/subscriptions/confirm", content=raw_json({"token": "abc\x00"}), headers=json_to(acme)
    )

    assert (response.status_code, response.json()) == (422, invalid(("token", NUL)))
    assert written(engine) == (0, 0, 0)


def json_to(tenant) -> dict[str, str]:
    return {**tenant.writer, "Content-Type": "application/json"}
