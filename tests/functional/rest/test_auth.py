import pytest

from tests.functional.rest.conftest import problem

MISSING = problem(401, "unauthenticated", "This needs an API key: Authorization: Bearer <key>.")
INVALID = problem(401, "unauthenticated", "The API key is not valid.")

ROUTES = [
    ("GET", "/v1/topics"),
    ("POST", "/v1/topics"),
    ("GET", "/v1/topics/news"),
    ("POST", "/v1/api-keys"),
    ("GET", "/v1/api-keys"),
    ("DELETE", "/v1/api-keys/1"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/subscriptions/confirm"),
    ("POST", "/v1/unsubscribe"),
    ("POST", "/v1/resubscribe"),
    ("POST", "/v1/unsubscribe-requests"),
    ("GET", "/v1/unsubscribe-requests/1"),
    ("POST", "/v1/unsubscribe-requests/1/cancel"),
    ("GET", "/v1/checks?topic=news&channel=email&address=a@example.com"),
    ("POST", "/v1/checks"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/contacts/u1/history"),
    ("GET", "/v1/addresses/history?channel=email&address=a@example.com"),
    ("GET", "/v1/contacts/u1"),
    ("DELETE", "/v1/contacts/u1"),
    ("POST", "/v1/suppressions/import"),
    ("GET", "/v1/suppressions"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_key(client, method, path):
    response = client.request(method, path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == MISSING


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "olk_abc", "Token olk_abc"],
)
def test_no_bearer_credential_is_a_plain_challenge(client, authorization):
    response = client.get("/v1/topics", headers={"Authorization": authorization})

    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")
    assert response.json() == MISSING


@pytest.mark.parametrize(
    "secret", ["nope", "olk_unknown", "olk_" + "x" * 200, "olk_ä".encode().decode("latin-1")]
)
def test_a_malformed_or_unknown_key_is_an_invalid_token(client, secret):
    response = client.get(
        "/v1/topics", headers={"Authorization": f"Bearer {secret}".encode("latin-1")}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == INVALID


def test_a_revoked_key_is_an_invalid_token(client, services, acme):
    services.tenants.revoke_key(tenant_id=acme.id, key_id=acme.key_ids["checker"])

    response = client.get("/v1/topics", headers=acme.checker)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == INVALID


def test_the_scheme_name_is_case_insensitive(client, acme):
    secret = acme.checker["Authorization"].removeprefix("Bearer ")

    response = client.get("/v1/topics", headers={"Authorization": f"bearer {secret}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/v1/subscriptions", "write"),
        ("POST", "/v1/unsubscribe", "write"),
        ("POST", "/v1/resubscribe", "write"),
        ("POST", "/v1/unsubscribe-requests", "write"),
        ("POST", "/v1/unsubscribe-requests/1/cancel", "write"),
        ("POST", "/v1/messages", "write"),
        ("GET", "/v1/contacts/u1/history", "write"),
        ("GET", "/v1/addresses/history?channel=email&address=a@example.com", "write"),
        ("GET", "/v1/contacts/u1", "admin"),
        ("DELETE", "/v1/contacts/u1", "admin"),
        ("POST", "/v1/suppressions/import", "admin"),
        ("GET", "/v1/suppressions", "admin"),
        ("POST", "/v1/topics", "admin"),
        ("POST", "/v1/api-keys", "admin"),
    ],
)
def test_a_check_key_may_not_write(client, acme, method, path, needed):
    response = client.request(method, path, headers=acme.checker)

    assert response.status_code == 403
    assert response.json() == problem(
        403, "forbidden", f"this needs a key with scope {needed}; this key has check"
    )
