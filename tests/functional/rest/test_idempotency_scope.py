"""`Idempotency-Key` on the real REST routes: a replay only ever reaches a key that may make
the request and made it; kept responses are sealed; bodies over the cap are a 413.

Issue 8, item 8: a `check` key replaying an admin's idempotency key received the new API
key's secret, a double opt-in token and unsubscribe URLs, and 422/403 told it whether a
key had been used.
"""

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine, text

from optledger.api.rest.auth import required_scope
from optledger.domain.model import Scope
from tests.functional.rest.conftest import bearer, create_topic, problem

KEY = {"Idempotency-Key": "retry-1"}


def forbidden(needed: str, has: str) -> dict:
    return problem(403, "forbidden", f"this needs a key with scope {needed}; this key has {has}")


def kept(engine: Engine) -> list[tuple[int, int, str, bytes]]:
    with engine.connect() as connection:
        query = text("SELECT tenant_id, api_key_id, key, sealed FROM idempotency_keys")
        return [(row[0], row[1], row[2], bytes(row[3])) for row in connection.execute(query)]


def test_a_lower_key_gets_403_for_a_new_api_key_whether_or_not_the_key_was_used(client, acme):
    body = {"name": "crm", "scope": "admin"}
    first = client.post("/v1/api-keys", json=body, headers={**acme.admin, **KEY})
    assert first.status_code == 201

    for lower, scope in ((acme.checker, "check"), (acme.writer, "write")):
        used = client.post("/v1/api-keys", json=body, headers={**lower, **KEY})
        unused = client.post("/v1/api-keys", json=body, headers={**lower, "Idempotency-Key": "x"})
        without = client.post("/v1/api-keys", json=body, headers=lower)
        reused = client.post("/v1/api-keys", json={"name": "other"}, headers={**lower, **KEY})
        invalid_key = client.post(
            "/v1/api-keys", json=body, headers={**lower, "Idempotency-Key": "not valid"}
        )
        for response in (used, unused, without, reused, invalid_key):
            assert (response.status_code, response.json()) == (403, forbidden("admin", scope))
            assert "idempotency-replayed" not in response.headers
        assert first.json()["secret"] not in used.text

    replayed = client.post("/v1/api-keys", json=body, headers={**acme.admin, **KEY})
    assert (replayed.status_code, replayed.content) == (201, first.content)
    assert replayed.headers["idempotency-replayed"] == "true"
    listed = client.get("/v1/api-keys", headers=acme.admin).json()["items"]
    assert [k["name"] for k in listed] == ["admin", "writer", "checker", "crm"]


def test_a_check_key_gets_403_for_a_confirmation_token_and_unsubscribe_urls(client, acme):
    create_topic(client, acme, "news", double_opt_in=True)
    subscribe = {"channel": "email", "address": "ann@example.com", "topic": "news"}
    messages = {"messages": [{"channel": "email", "address": "ann@example.com", "topic": "news"}]}
    token = client.post("/v1/subscriptions", json=subscribe, headers={**acme.writer, **KEY})
    urls = client.post(
        "/v1/messages", json=messages, headers={**acme.writer, "Idempotency-Key": "retry-2"}
    )
    assert (token.status_code, urls.status_code) == (200, 201)
    assert token.json()["confirmation_token"] is not None

    for path, body, key in (
        ("/v1/subscriptions", subscribe, "retry-1"),
        ("/v1/messages", messages, "retry-2"),
    ):
        response = client.post(path, json=body, headers={**acme.checker, "Idempotency-Key": key})
        assert (response.status_code, response.json()) == (403, forbidden("write", "check"))
        assert "idempotency-replayed" not in response.headers


def test_a_response_is_replayed_only_to_the_key_that_made_it(client, services, acme):
    second_admin = services.tenants.create_key(tenant_id=acme.id, name="ops", scope=Scope.ADMIN)
    body = {"name": "crm", "scope": "write"}
    mine = client.post("/v1/api-keys", json=body, headers={**acme.admin, **KEY})
    theirs = client.post("/v1/api-keys", json=body, headers={**bearer(second_admin.secret), **KEY})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotency-replayed" not in theirs.headers
    assert mine.json()["secret"] != theirs.json()["secret"]
    assert (mine.json()["key"]["id"], theirs.json()["key"]["id"]) == (5, 6)
    again = client.post("/v1/api-keys", json=body, headers={**bearer(second_admin.secret), **KEY})
    assert (again.content, again.headers["idempotency-replayed"]) == (theirs.content, "true")


def test_kept_responses_hold_no_secret_in_clear(client, engine, acme):
    created = client.post(
        "/v1/api-keys", json={"name": "crm", "scope": "write"}, headers={**acme.admin, **KEY}
    )
    secret = created.json()["secret"].encode()

    rows = kept(engine)
    assert [(t, k, key) for t, k, key, _ in rows] == [(acme.id, acme.key_ids["admin"], "retry-1")]
    sealed = rows[0][3]
    assert secret not in sealed
    assert secret[4:20] not in sealed
    assert b"crm" not in sealed
    assert b"application/json" not in sealed


@pytest.mark.parametrize("path", ["/v1/unsubscribe", "/v1/api-keys"])
def test_a_chunked_body_over_the_cap_with_a_key_is_413(client, engine, acme, path):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'

    response = client.post(
        path,
        content=iter([body[:1000], body[1000:]]),
        headers={**acme.admin, **KEY, "Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()) == (
        413,
        problem(413, "too-large", "The body must be at most 1048576 bytes."),
    )
    assert kept(engine) == []


def test_every_v1_route_names_the_scope_the_middleware_checks(client):
    """A /v1 route without `require(scope)` would let any key replay its responses."""
    scopes = {
        (method, context.path): required_scope(context.original_route)
        for context in iter_route_contexts(client.app.router.routes)
        if (context.path or "").startswith("/v1/")
        for method in context.methods or ()
    }

    assert len(scopes) > 20
    assert [route for route, scope in scopes.items() if scope is None] == []
    assert {key: scopes[key] for key in [("POST", "/v1/api-keys"), ("POST", "/v1/checks")]} == {
        ("POST", "/v1/api-keys"): Scope.ADMIN,
        ("POST", "/v1/checks"): Scope.CHECK,
    }
