from datetime import UTC, datetime

from tests.builders import PUBLIC_URL
from tests.functional.rest.conftest import create_topic, invalid, problem

ISSUED = int(datetime(2026, 1, 5, 9, 30, tzinfo=UTC).timestamp())


def registered(
    uid,
    *,
    address_id,
    message_id,
    topic="news",
    topic_id=1,
    campaign=None,
    address="ann@example.com",
):
    url = f"{PUBLIC_URL}/u/t1.{address_id}.{topic_id}.{message_id}.{ISSUED}"
    return {
        "message_uid": uid,
        "channel": "email",
        "address": address,
        "topic": topic,
        "campaign": campaign,
        "unsubscribe_url": url,
        "headers": {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }


def test_register_messages_with_and_without_uids(client, acme):
    create_topic(client, acme, "news")

    response = client.post(
        "/v1/messages",
        json={
            "messages": [
                {
                    "channel": "email",
                    "address": "Ann@Example.com",
                    "topic": "news",
                    "message_uid": "m-1",
                    "campaign": "spring",
                },
                {"channel": "email", "address": "bob@example.com", "topic": "news"},
            ]
        },
        headers=acme.writer,
    )

    assert response.status_code == 201
    messages = response.json()["messages"]
    generated = messages[1]["message_uid"]
    assert len(generated) == 24
    assert messages == [
        registered("m-1", address_id=1, message_id=1, campaign="spring"),
        registered(generated, address_id=2, message_id=2, address="bob@example.com"),
    ]


def test_registering_a_uid_again_is_safe_and_elsewhere_a_conflict(client, acme):
    create_topic(client, acme, "news")
    body = {
        "messages": [
            {
                "channel": "email",
                "address": "ann@example.com",
                "topic": "news",
                "message_uid": "m-1",
            }
        ]
    }
    first = client.post("/v1/messages", json=body, headers=acme.writer)

    again = client.post("/v1/messages", json=body, headers=acme.writer)
    elsewhere = client.post(
        "/v1/messages",
        json={"messages": [{**body["messages"][0], "address": "bob@example.com"}]},
        headers=acme.writer,
    )

    assert (again.status_code, again.json()) == (201, first.json())
    assert (elsewhere.status_code, elsewhere.json()) == (
        409,
        problem(
            409,
            "conflict",
            "messages[0].message_uid: already registered for another address or topic",
        ),
    )


def test_every_bad_message_is_named(client, acme):
    create_topic(client, acme, "news")

    response = client.post(
        "/v1/messages",
        json={
            "messages": [
                {"channel": "email", "address": "ann@example.com", "topic": "nope"},
                {"channel": "sms", "address": "ann@example.com", "topic": "news"},
            ]
        },
        headers=acme.writer,
    )

    assert (response.status_code, response.json()) == (
        422,
        invalid(
            ("messages[0].topic", "there is no topic 'nope'"),
            ("messages[1].channel", "topic 'news' is not sent on sms"),
            ("messages[1].address", "is not a phone number"),
        ),
    )


def test_shapes_and_limits(client, acme):
    one = {"channel": "email", "address": "a@example.com", "topic": "news"}

    empty = client.post("/v1/messages", json={"messages": []}, headers=acme.writer)
    over = client.post("/v1/messages", json={"messages": [one] * 1001}, headers=acme.writer)
    bad_uid = client.post(
        "/v1/messages", json={"messages": [one, {**one, "message_uid": "a b"}]}, headers=acme.writer
    )

    assert empty.json() == invalid(
        ("messages", "List should have at least 1 item after validation, not 0")
    )
    assert over.json() == invalid(
        ("messages", "List should have at most 1000 items after validation, not 1001")
    )
    assert bad_uid.json() == invalid(
        ("messages[1].message_uid", "String should match pattern '^[A-Za-z0-9_.:-]{1,100}$'")
    )


def test_another_tenants_topics_are_unknown(client, acme, globex):
    create_topic(client, acme, "news")

    response = client.post(
        "/v1/messages",
        json={"messages": [{"channel": "email", "address": "a@example.com", "topic": "news"}]},
        headers=globex.writer,
    )

    assert response.json() == invalid(("messages[0].topic", "there is no topic 'news'"))
