from tests.functional.rest.conftest import create_topic, invalid, not_found, problem

ANN = {"channel": "email", "address": "Ann@Example.com"}


def change(
    event_id, *, action, outcome="changed", state=None, topic=None, address="ann@example.com"
):
    return {
        "event_id": event_id,
        "channel": "email",
        "address": address,
        "topic": topic,
        "action": action,
        "outcome": outcome,
        "state": state,
    }


def test_subscribe_an_address_to_a_topic(client, acme):
    create_topic(client, acme, "news")

    response = client.post(
        "/v1/subscriptions", json={**ANN, "topic": "news", "contact": "u1"}, headers=acme.writer
    )

    assert response.status_code == 200
    assert response.json() == {
        "change": change(1, action="subscribe", state="subscribed", topic="news"),
        "confirmation_token": None,
    }


def test_double_opt_in_then_confirm(client, acme, globex):
    create_topic(client, acme, "vip", double_opt_in=True)
    pending = client.post("/v1/subscriptions", json={**ANN, "topic": "vip"}, headers=acme.writer)
    token = pending.json()["confirmation_token"]
    assert pending.json()["change"] == change(1, action="subscribe", state="pending", topic="vip")
    assert len(token) == 43

    other_tenant = client.post(
        "/v1/subscriptions/confirm", json={"token": token}, headers=globex.writer
    )
    confirmed = client.post("/v1/subscriptions/confirm", json={"token": token}, headers=acme.writer)
    again = client.post("/v1/subscriptions/confirm", json={"token": token}, headers=acme.writer)

    assert (other_tenant.status_code, other_tenant.json()) == (
        422,
        invalid(("token", "this link is not valid")),
    )
    assert (confirmed.status_code, confirmed.json()) == (
        200,
        {"change": change(2, action="confirm", state="subscribed", topic="vip")},
    )
    assert again.json() == {
        "change": change(3, action="confirm", outcome="repeated", state="subscribed", topic="vip")
    }


def test_an_unknown_confirmation_token_is_invalid(client, acme):
    response = client.post("/v1/subscriptions/confirm", json={"token": "nope"}, headers=acme.writer)

    assert (response.status_code, response.json()) == (
        422,
        invalid(("token", "this link is not valid")),
    )


def test_subscribe_refuses_an_unknown_topic_and_a_bad_address(client, acme):
    create_topic(client, acme, "news")

    topic = client.post("/v1/subscriptions", json={**ANN, "topic": "nope"}, headers=acme.writer)
    address = client.post(
        "/v1/subscriptions",
        json={"channel": "email", "address": "not-an-email", "topic": "news"},
        headers=acme.writer,
    )

    assert (topic.status_code, topic.json()) == (
        422,
        invalid(("topic", "there is no topic 'nope'")),
    )
    assert (address.status_code, address.json()) == (
        422,
        invalid(("address", "is not a valid email address: an email address must have an @-sign")),
    )


def test_unsubscribe_from_everything_then_again(client, acme):
    body = {"address": ANN}

    first = client.post("/v1/unsubscribe", json=body, headers=acme.writer)
    second = client.post("/v1/unsubscribe", json={**body, "topics": None}, headers=acme.writer)

    assert (first.status_code, first.json()) == (200, {"changes": [change(1, action="suppress")]})
    assert second.json() == {"changes": [change(2, action="suppress", outcome="repeated")]}


def test_unsubscribe_a_contact_on_one_channel_from_topics_and_resubscribe(client, acme):
    create_topic(client, acme, "news", channels=["email", "sms"])
    client.post(
        "/v1/subscriptions", json={**ANN, "topic": "news", "contact": "u1"}, headers=acme.writer
    )
    client.post(
        "/v1/subscriptions",
        json={"channel": "sms", "address": "+14155550100", "topic": "news", "contact": "u1"},
        headers=acme.writer,
    )

    left = client.post(
        "/v1/unsubscribe",
        json={"contact": "u1", "channel": "email", "topics": ["news"], "notify": True},
        headers=acme.writer,
    )
    back = client.post(
        "/v1/resubscribe", json={"contact": "u1", "topics": ["news"]}, headers=acme.writer
    )

    assert (left.status_code, left.json()) == (
        200,
        {"changes": [change(3, action="unsubscribe", state="unsubscribed", topic="news")]},
    )
    assert (back.status_code, back.json()) == (
        200,
        {
            "changes": [
                change(4, action="resubscribe", state="subscribed", topic="news"),
                {
                    **change(5, action="resubscribe", state="subscribed", topic="news"),
                    "channel": "sms",
                    "address": "+14155550100",
                    "outcome": "repeated",
                },
            ]
        },
    )


def test_resubscribe_without_topics_lifts_the_suppression(client, acme):
    client.post("/v1/unsubscribe", json={"address": ANN}, headers=acme.writer)

    response = client.post("/v1/resubscribe", json={"address": ANN}, headers=acme.writer)

    assert response.json() == {"changes": [change(2, action="unsuppress")]}


def test_a_target_is_exactly_one_thing(client, acme):
    none = client.post("/v1/unsubscribe", json={}, headers=acme.writer)
    two = client.post(
        "/v1/unsubscribe", json={"address": ANN, "contact": "u1"}, headers=acme.writer
    )
    stray_channel = client.post(
        "/v1/resubscribe", json={"address": ANN, "channel": "sms"}, headers=acme.writer
    )

    exactly_one = invalid(("target", "give exactly one of address, contact, message_uid"))
    assert (none.status_code, none.json()) == (422, exactly_one)
    assert (two.status_code, two.json()) == (422, exactly_one)
    assert stray_channel.json() == invalid(("channel", "is only allowed with contact"))


def test_unknown_topics_contacts_and_messages(client, acme):
    topic = client.post(
        "/v1/unsubscribe", json={"address": ANN, "topics": ["nope"]}, headers=acme.writer
    )
    contact = client.post("/v1/unsubscribe", json={"contact": "u9"}, headers=acme.writer)
    message = client.post("/v1/resubscribe", json={"message_uid": "m1"}, headers=acme.writer)

    assert (topic.status_code, topic.json()) == (
        422,
        invalid(("topics[0]", "there is no topic 'nope'")),
    )
    assert (contact.status_code, contact.json()) == (404, not_found("contact", "u9"))
    assert (message.status_code, message.json()) == (404, not_found("message", "m1"))


def test_a_topic_that_cannot_be_left_is_forbidden(client, acme):
    create_topic(client, acme, "receipts", category="transactional")

    response = client.post(
        "/v1/unsubscribe", json={"address": ANN, "topics": ["receipts"]}, headers=acme.writer
    )

    assert (response.status_code, response.json()) == (
        403,
        problem(403, "forbidden", "topics[0]: topic 'receipts' cannot be unsubscribed from"),
    )


def test_another_tenants_contact_is_not_found(client, acme, globex):
    create_topic(client, acme, "news")
    client.post(
        "/v1/subscriptions", json={**ANN, "topic": "news", "contact": "u1"}, headers=acme.writer
    )

    response = client.post("/v1/unsubscribe", json={"contact": "u1"}, headers=globex.writer)

    assert (response.status_code, response.json()) == (404, not_found("contact", "u1"))
