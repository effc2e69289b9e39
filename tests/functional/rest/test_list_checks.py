"""`POST /v1/checks/list`: a list of any length in, a decision per line streamed out."""

import csv
import io
import json

from optledger.services import checks
from tests.functional.rest.conftest import create_topic, invalid, problem

TEXT = {"Content-Type": "text/plain; charset=utf-8"}
QUERY = {"topic": "digest", "channel": "email"}


def _unsubscribe(client, tenant, address: str) -> None:
    response = client.post(
        "/v1/unsubscribe",
        json={"address": {"channel": "email", "address": address}},
        headers=tenant.writer,
    )
    assert response.status_code == 200, response.text


def test_a_list_is_answered_line_by_line_as_ndjson(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    _unsubscribe(client, acme, "bob@example.com")

    response = client.post(
        "/v1/checks/list",
        params=QUERY,
        content=b"ann@example.com\n\n  BOB@example.com \nnope\n",
        headers={**acme.checker, **TEXT},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in response.text.splitlines()] == [
        {
            "line": 1,
            "input": "ann@example.com",
            "address": "ann@example.com",
            "allowed": True,
            "reason": "opt_out_default",
        },
        {
            "line": 3,
            "input": "BOB@example.com",
            "address": "bob@example.com",
            "allowed": False,
            "reason": "suppressed",
        },
        {
            "line": 4,
            "input": "nope",
            "address": None,
            "allowed": False,
            "reason": "invalid_address",
        },
    ]


def test_a_long_list_is_answered_in_pieces_and_as_csv(client, acme, monkeypatch):
    monkeypatch.setattr(checks, "LIST_BATCH", 100)  # the first piece, then the whole sets
    create_topic(client, acme, "digest", consent_mode="opt_out")
    for n in range(0, 300, 30):
        _unsubscribe(client, acme, f"u{n}@example.com")
    body = "".join(f"U{n}@Example.com\n" for n in range(300)).encode()

    response = client.post(
        "/v1/checks/list",
        params=QUERY,
        content=body,
        headers={**acme.checker, "Content-Type": "text/plain", "Accept": "text/csv"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["line", "input", "address", "allowed", "reason"]
    assert rows[1:] == [
        [
            str(n + 1),
            f"U{n}@Example.com",
            f"u{n}@example.com",
            "false" if n % 30 == 0 else "true",
            "suppressed" if n % 30 == 0 else "opt_out_default",
        ]
        for n in range(300)
    ]


def test_a_list_check_needs_a_check_key_and_keeps_to_its_tenant(client, acme, globex):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    _unsubscribe(client, acme, "bob@example.com")
    create_topic(client, globex, "digest", consent_mode="opt_out")

    unauthenticated = client.post(
        "/v1/checks/list", params=QUERY, content=b"bob@example.com\n", headers=TEXT
    )
    other = client.post(
        "/v1/checks/list",
        params=QUERY,
        content=b"bob@example.com\n",
        headers={**globex.checker, **TEXT},
    )

    assert unauthenticated.status_code == 401
    assert other.status_code == 200
    assert json.loads(other.text)["reason"] == "opt_out_default"


def test_a_line_that_is_not_utf8_is_refused_before_any_answer(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")

    response = client.post(
        "/v1/checks/list",
        params=QUERY,
        content=b"ann@example.com\n\nb\xffb@example.com\n",
        headers={**acme.checker, **TEXT},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == invalid(("line 3", "is not UTF-8 text"))


def test_a_list_must_be_utf8_plain_text(client, acme):
    for content_type in ("application/json", "text/plain; charset=latin-1"):
        response = client.post(
            "/v1/checks/list",
            params=QUERY,
            content=b"ann@example.com\n",
            headers={**acme.checker, "Content-Type": content_type},
        )

        assert response.status_code == 415
        assert response.json() == problem(
            415, "unsupported-media-type", "The body must be text/plain in UTF-8."
        )


def test_the_query_is_checked_by_name(client, acme):
    response = client.post(
        "/v1/checks/list",
        params={"topic": "digest", "channel": "fax"},
        content=b"ann@example.com\n",
        headers={**acme.checker, **TEXT},
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["channel"]


def test_a_list_check_takes_no_idempotency_key_and_is_answered_afresh(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    headers = {**acme.checker, **TEXT, "Idempotency-Key": "list-1"}

    first = client.post(
        "/v1/checks/list", params=QUERY, content=b"bob@example.com\n", headers=headers
    )
    _unsubscribe(client, acme, "bob@example.com")
    again = client.post(
        "/v1/checks/list", params=QUERY, content=b"bob@example.com\n", headers=headers
    )

    assert (first.status_code, json.loads(first.text)["reason"]) == (200, "opt_out_default")
    assert (again.status_code, json.loads(again.text)["reason"]) == (200, "suppressed")
    assert "idempotency-replayed" not in again.headers
