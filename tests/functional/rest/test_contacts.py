import pytest

from tests.functional.rest.conftest import NOW, create_topic, invalid, not_found

ANN = {"channel": "email", "address": "ann@example.com"}


def event(event_id, action, *, state=None, topic=None, address="ann@example.com", **fields):
    return {
        "id": event_id,
        "occurred_at": NOW,
        "action": action,
        "outcome": "changed",
        "channel": "email",
        "address": address,
        "topic": topic,
        "state": state,
        "via": "api",
        "actor": None,
        "device": None,
        "entrypoint": None,
        "message_uid": None,
        "campaign": None,
        "unsubscribe_request_id": None,
        "tags": [],
        "context": {},
        "request_id": None,
        "idempotency_key": None,
        "locale": None,
        "ip": "testclient",
        "user_agent": "testclient",
        **fields,
    }


def subscribe_ann(client, tenant):
    create_topic(client, tenant, "news")
    response = client.post(
        "/v1/subscriptions", json={**ANN, "topic": "news", "contact": "u1"}, headers=tenant.writer
    )
    assert response.status_code == 200


def test_history_filters_and_pages(client, acme):
    subscribe_ann(client, acme)
    client.post("/v1/unsubscribe", json={"contact": "u1"}, headers=acme.writer)

    everything = client.get("/v1/contacts/u1/history", headers=acme.writer)
    first = client.get("/v1/contacts/u1/history", params={"limit": 1}, headers=acme.writer)
    second = client.get(
        "/v1/contacts/u1/history",
        params={"limit": 1, "after": first.json()["next_cursor"]},
        headers=acme.writer,
    )
    suppressions = client.get(
        "/v1/contacts/u1/history", params={"action": "suppress"}, headers=acme.writer
    )
    elsewhere = client.get("/v1/contacts/u1/history", params={"via": "sms"}, headers=acme.writer)
    later = client.get(
        "/v1/contacts/u1/history", params={"since": "2026-01-06T00:00:00"}, headers=acme.writer
    )

    subscribed = event(1, "subscribe", state="subscribed", topic="news")
    suppressed = event(2, "suppress")
    assert everything.json() == {"items": [subscribed, suppressed], "next_cursor": None}
    assert first.json()["items"] == [subscribed]
    assert second.json() == {"items": [suppressed], "next_cursor": None}
    assert suppressions.json() == {"items": [suppressed], "next_cursor": None}
    assert elsewhere.json() == later.json() == {"items": [], "next_cursor": None}


def test_address_history_without_a_contact(client, acme):
    client.post("/v1/unsubscribe", json={"address": ANN}, headers=acme.writer)

    response = client.get(
        "/v1/addresses/history",
        params={"channel": "email", "address": "ANN@example.com"},
        headers=acme.writer,
    )
    bad = client.get(
        "/v1/addresses/history", params={"channel": "email", "address": "nope"}, headers=acme.writer
    )

    assert response.json() == {"items": [event(1, "suppress")], "next_cursor": None}
    assert (bad.status_code, bad.json()) == (
        422,
        invalid(("address", "is not a valid email address: an email address must have an @-sign")),
    )


def test_export_and_erase_a_contact(client, acme):
    subscribe_ann(client, acme)
    client.post(
        "/v1/messages",
        json={"messages": [{**ANN, "topic": "news", "message_uid": "m-1"}]},
        headers=acme.writer,
    )

    exported = client.get("/v1/contacts/u1", headers=acme.admin)
    erased = client.delete("/v1/contacts/u1", headers=acme.admin)
    gone = client.get("/v1/contacts/u1", headers=acme.admin)
    history = client.get(
        "/v1/addresses/history",
        params={"channel": "email", "address": "ann@example.com"},
        headers=acme.writer,
    )
    check = client.get("/v1/checks", params={"topic": "news", **ANN}, headers=acme.checker)

    assert (exported.status_code, exported.json()) == (
        200,
        {
            "external_id": "u1",
            "locale": None,
            "created_at": NOW,
            "addresses": [{**ANN, "suppressed": False}],
            "subscriptions": [{**ANN, "topic": "news", "state": "subscribed", "updated_at": NOW}],
            "messages": [
                {**ANN, "message_uid": "m-1", "topic": "news", "campaign": None, "created_at": NOW}
            ],
            "unsubscribe_requests": [],
            "events": [event(1, "subscribe", state="subscribed", topic="news")],
        },
    )
    assert (erased.status_code, erased.json()) == (200, {"erased_addresses": 1})
    assert (gone.status_code, gone.json()) == (404, not_found("contact", "u1"))
    assert [(e["action"], e["address"]) for e in history.json()["items"]] == [
        ("subscribe", None),
        ("suppress", None),
        ("erase", None),
    ]
    assert check.json()["reason"] == "suppressed"


def test_another_tenants_contact_is_not_found_and_its_events_are_not_shown(client, acme, globex):
    subscribe_ann(client, acme)

    responses = [
        client.get("/v1/contacts/u1/history", headers=globex.writer),
        client.get("/v1/contacts/u1", headers=globex.admin),
        client.delete("/v1/contacts/u1", headers=globex.admin),
    ]
    by_address = client.get(
        "/v1/addresses/history",
        params={"channel": "email", "address": "ann@example.com"},
        headers=globex.writer,
    )
    missing = client.get("/v1/contacts/u2", headers=acme.admin)

    for response in responses:
        assert (response.status_code, response.json()) == (404, not_found("contact", "u1"))
    assert missing.json() == not_found("contact", "u2")
    assert by_address.json() == {"items": [], "next_cursor": None}
    assert client.get("/v1/contacts/u1", headers=acme.admin).status_code == 200


def test_bad_filters_are_invalid(client, acme):
    response = client.get(
        "/v1/contacts/u1/history",
        params={"action": "dance", "limit": 0, "after": "eA"},
        headers=acme.writer,
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["action", "limit"]


@pytest.mark.parametrize("moment", ["0.5", "1767225600", "2026-01-05", "monday"])
def test_times_are_rfc_3339_date_times_as_documented(client, acme, moment):
    """`since` and `until` are `format: date-time`; seconds since 1970 are not."""
    response = client.get(
        "/v1/addresses/history",
        params={"channel": "email", "address": "ann@example.com", "until": moment},
        headers=acme.writer,
    )

    assert response.status_code == 422
    assert response.json() == invalid(
        ("until", "must be an RFC 3339 date-time (2026-01-05T09:30:00Z)")
    )
