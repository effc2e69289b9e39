from tests.functional.rest.conftest import NOW, create_topic, invalid, not_found, problem


def topic(key: str, **fields) -> dict:
    return {
        "key": key,
        "name": key.title(),
        "category": "marketing",
        "consent_mode": "opt_in",
        "double_opt_in": False,
        "channels": ["email"],
        "unsubscribable": True,
        "created_at": NOW,
        **fields,
    }


def test_create_a_topic_with_every_field(client, acme):
    response = client.post(
        "/v1/topics",
        json={
            "key": "receipts",
            "name": "Receipts",
            "category": "transactional",
            "consent_mode": "opt_out",
            "double_opt_in": False,
            "channels": ["sms", "email"],
            "unsubscribable": False,
        },
        headers=acme.admin,
    )

    assert response.status_code == 201
    assert response.json() == topic(
        "receipts",
        category="transactional",
        consent_mode="opt_out",
        channels=["email", "sms"],
        unsubscribable=False,
    )


def test_create_with_defaults_then_get_and_list(client, acme):
    assert create_topic(client, acme, "news") == topic("news")
    create_topic(client, acme, "digest")

    one = client.get("/v1/topics/news", headers=acme.checker)
    listed = client.get("/v1/topics", headers=acme.checker)

    assert (one.status_code, one.json()) == (200, topic("news"))
    assert (listed.status_code, listed.json()) == (
        200,
        {"items": [topic("digest"), topic("news")], "next_cursor": None},
    )


def test_the_list_pages_with_a_cursor(client, acme):
    for key in ("a", "b", "c"):
        create_topic(client, acme, key)

    first = client.get("/v1/topics", params={"limit": 2}, headers=acme.checker).json()
    second = client.get(
        "/v1/topics", params={"limit": 2, "after": first["next_cursor"]}, headers=acme.checker
    ).json()

    assert [t["key"] for t in first["items"]] == ["a", "b"]
    assert second == {"items": [topic("c")], "next_cursor": None}


def test_a_cursor_that_is_not_one_is_invalid(client, acme):
    response = client.get("/v1/topics", params={"after": "%%%"}, headers=acme.checker)

    assert response.status_code == 422
    assert response.json() == invalid(("after", "is not a cursor from this list"))


def test_a_duplicate_key_is_a_conflict(client, acme):
    create_topic(client, acme, "news")

    response = client.post("/v1/topics", json={"key": "news", "name": "N"}, headers=acme.admin)

    assert response.status_code == 409
    assert response.json() == problem(409, "conflict", "key: a topic 'news' already exists")


def test_a_marketing_topic_must_allow_leaving(client, acme):
    response = client.post(
        "/v1/topics", json={"key": "x", "name": "X", "unsubscribable": False}, headers=acme.admin
    )

    assert response.status_code == 422
    assert response.json() == invalid(
        ("unsubscribable", "a marketing topic must allow unsubscribing")
    )


def test_an_unknown_topic_is_not_found(client, acme):
    response = client.get("/v1/topics/nope", headers=acme.checker)

    assert response.status_code == 404
    assert response.json() == not_found("topic", "nope")


def test_another_tenants_topic_is_not_found_and_not_listed(client, acme, globex):
    create_topic(client, acme, "secret")

    one = client.get("/v1/topics/secret", headers=globex.admin)
    listed = client.get("/v1/topics", headers=globex.admin)

    assert (one.status_code, one.json()) == (404, not_found("topic", "secret"))
    assert listed.json() == {"items": [], "next_cursor": None}


def test_creating_needs_admin_and_reading_needs_check(client, acme):
    assert client.post(
        "/v1/topics", json={"key": "a", "name": "A"}, headers=acme.writer
    ).json() == (problem(403, "forbidden", "this needs a key with scope admin; this key has write"))
    assert client.get("/v1/topics", headers=acme.checker).status_code == 200
