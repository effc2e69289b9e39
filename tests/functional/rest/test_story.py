"""The story the REST API was built for, in plain HTTP calls: a topic, a message, an
unsubscribe attributed to that message, and the event in the person's history."""

from tests.functional.rest.conftest import NOW


def test_unsubscribe_through_a_message_and_see_it_in_the_history(client, acme):
    topic = client.post("/v1/topics", json={"key": "news", "name": "News"}, headers=acme.admin)
    subscribed = client.post(
        "/v1/subscriptions",
        json={"channel": "email", "address": "ann@example.com", "topic": "news", "contact": "u1"},
        headers=acme.writer,
    )
    message = client.post(
        "/v1/messages",
        json={
            "messages": [
                {
                    "channel": "email",
                    "address": "ann@example.com",
                    "topic": "news",
                    "message_uid": "spring-0001",
                    "campaign": "spring",
                }
            ]
        },
        headers=acme.writer,
    )
    left = client.post(
        "/v1/unsubscribe",
        json={
            "message_uid": "spring-0001",
            "topics": ["news"],
            "actor": "ann",
            "device": "iphone",
            "entrypoint": "footer",
            "tags": ["story"],
            "context": {"page": "inbox"},
            "locale": "fr-CA",
        },
        headers={**acme.writer, "X-Request-Id": "req-1", "User-Agent": "mail-client/1.0"},
    )
    contact_history = client.get("/v1/contacts/u1/history", headers=acme.writer)
    address_history = client.get(
        "/v1/addresses/history",
        params={"channel": "email", "address": "Ann@example.com", "action": "unsubscribe"},
        headers=acme.writer,
    )
    check = client.get(
        "/v1/checks",
        params={"topic": "news", "channel": "email", "address": "ann@example.com"},
        headers=acme.checker,
    )

    assert [r.status_code for r in (topic, subscribed, message, left)] == [201, 200, 201, 200]
    assert left.json() == {
        "changes": [
            {
                "event_id": 2,
                "channel": "email",
                "address": "ann@example.com",
                "topic": "news",
                "action": "unsubscribe",
                "outcome": "changed",
                "state": "unsubscribed",
            }
        ]
    }
    event = {
        "id": 2,
        "occurred_at": NOW,
        "action": "unsubscribe",
        "outcome": "changed",
        "channel": "email",
        "address": "ann@example.com",
        "topic": "news",
        "state": "unsubscribed",
        "via": "api",
        "actor": "ann",
        "device": "iphone",
        "entrypoint": "footer",
        "message_uid": "spring-0001",
        "campaign": "spring",
        "unsubscribe_request_id": None,
        "tags": ["story"],
        "context": {"page": "inbox"},
        "request_id": "req-1",
        "idempotency_key": None,
        "locale": "fr-CA",
        "ip": "testclient",
        "user_agent": "mail-client/1.0",
    }
    assert contact_history.status_code == 200
    assert [e["action"] for e in contact_history.json()["items"]] == ["subscribe", "unsubscribe"]
    assert contact_history.json()["items"][1] == event
    assert address_history.json() == {"items": [event], "next_cursor": None}
    assert check.json()["reason"] == "unsubscribed"
