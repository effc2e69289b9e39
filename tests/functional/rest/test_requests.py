import pytest

from tests.functional.rest.conftest import NOW, create_topic, invalid, not_found, problem

LATER = "2026-01-12T09:30:00Z"
ANN = {"channel": "email", "address": "ann@example.com"}


def suppression(event_id: int, action: str) -> dict:
    return {
        "event_id": event_id,
        "channel": "email",
        "address": "ann@example.com",
        "topic": None,
        "action": action,
        "outcome": "changed",
        "state": None,
    }


def view(state="pending", closed_at=None, topics=(), changes=()) -> dict:
    return {
        "id": 1,
        "state": state,
        "created_at": NOW,
        "effective_at": LATER,
        "closed_at": closed_at,
        "topics": list(topics),
        "changes": list(changes),
    }


def test_request_read_and_cancel(client, acme):
    created = client.post("/v1/unsubscribe-requests", json={"address": ANN}, headers=acme.writer)
    read = client.get("/v1/unsubscribe-requests/1", headers=acme.checker)
    cancelled = client.post("/v1/unsubscribe-requests/1/cancel", headers=acme.writer)
    again = client.post(
        "/v1/unsubscribe-requests/1/cancel", json={"actor": "support"}, headers=acme.writer
    )

    assert (created.status_code, created.json()) == (
        201,
        view(changes=[suppression(2, "suppress")]),
    )
    assert (read.status_code, read.json()) == (200, view())
    assert (cancelled.status_code, cancelled.json()) == (
        200,
        view(state="cancelled", closed_at=NOW, changes=[suppression(3, "unsuppress")]),
    )
    assert (again.status_code, again.json()) == (
        409,
        problem(409, "conflict", "the unsubscribe request is no longer pending"),
    )


def test_a_request_for_topics_names_them(client, acme):
    create_topic(client, acme, "news")

    created = client.post(
        "/v1/unsubscribe-requests", json={"address": ANN, "topics": ["news"]}, headers=acme.writer
    )

    assert created.json()["topics"] == ["news"]
    assert [c["action"] for c in created.json()["changes"]] == ["unsubscribe"]


def test_another_tenants_request_is_not_found(client, acme, globex):
    client.post("/v1/unsubscribe-requests", json={"address": ANN}, headers=acme.writer)

    read = client.get("/v1/unsubscribe-requests/1", headers=globex.checker)
    cancel = client.post("/v1/unsubscribe-requests/1/cancel", headers=globex.writer)
    missing = client.get("/v1/unsubscribe-requests/2", headers=acme.checker)

    assert (read.status_code, read.json()) == (404, not_found("unsubscribe request", "1"))
    assert (cancel.status_code, cancel.json()) == (404, not_found("unsubscribe request", "1"))
    assert (missing.status_code, missing.json()) == (404, not_found("unsubscribe request", "2"))
    assert client.get("/v1/unsubscribe-requests/1", headers=acme.checker).json() == view()


def test_a_request_for_an_unknown_contact_is_not_found(client, acme):
    response = client.post("/v1/unsubscribe-requests", json={"contact": "u9"}, headers=acme.writer)

    assert (response.status_code, response.json()) == (404, not_found("contact", "u9"))


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("POST", "/cancel")], ids=["get", "cancel"]
)
def test_an_id_beyond_32_bits_is_invalid_on_both_databases(client, acme, method, suffix):
    """Request ids are 32-bit integers on PostgreSQL; a larger one was a 500 there."""
    beyond = client.request(
        method, f"/v1/unsubscribe-requests/9223372036854775806{suffix}", headers=acme.writer
    )
    largest = client.request(
        method, f"/v1/unsubscribe-requests/2147483647{suffix}", headers=acme.writer
    )

    assert beyond.status_code == 422
    assert beyond.json() == invalid(
        ("request_id", "Input should be less than or equal to 2147483647")
    )
    assert largest.status_code == 404
    assert largest.json() == not_found("unsubscribe request", "2147483647")
