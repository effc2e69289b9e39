from tests.functional.rest.conftest import NOW, bearer, invalid, not_found, problem


def key(key_id: int, name: str, scope: str, prefix: str, revoked_at=None) -> dict:
    return {
        "id": key_id,
        "name": name,
        "prefix": prefix,
        "scope": scope,
        "created_at": NOW,
        "revoked_at": revoked_at,
    }


def test_create_a_key_shows_its_secret_once_and_it_works(client, acme):
    response = client.post(
        "/v1/api-keys", json={"name": "crm", "scope": "write"}, headers=acme.admin
    )

    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert created == {"key": key(4, "crm", "write", secret[:12]), "secret": secret}
    assert secret.startswith("olk_")
    listed = client.get("/v1/api-keys", headers=acme.admin).json()
    assert listed["items"][-1] == key(4, "crm", "write", secret[:12])
    assert secret not in str(listed)
    assert client.get("/v1/topics", headers=bearer(secret)).status_code == 200


def test_list_keys_with_pages(client, acme):
    first = client.get("/v1/api-keys", params={"limit": 2}, headers=acme.admin).json()
    second = client.get(
        "/v1/api-keys", params={"limit": 2, "after": first["next_cursor"]}, headers=acme.admin
    ).json()

    assert [(k["id"], k["name"], k["scope"]) for k in first["items"]] == [
        (1, "admin", "admin"),
        (2, "writer", "write"),
    ]
    assert [(k["id"], k["name"], k["scope"]) for k in second["items"]] == [(3, "checker", "check")]
    assert second["next_cursor"] is None
    assert {"key_hash", "secret"}.isdisjoint(first["items"][0])


def test_revoke_a_key_then_it_no_longer_authenticates(client, acme):
    response = client.delete(f"/v1/api-keys/{acme.key_ids['writer']}", headers=acme.admin)

    assert response.status_code == 200
    body = response.json()
    assert body == key(2, "writer", "write", body["prefix"], revoked_at=NOW)
    refused = client.get("/v1/topics", headers=acme.writer)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    again = client.delete(f"/v1/api-keys/{acme.key_ids['writer']}", headers=acme.admin)
    assert (again.status_code, again.json()) == (200, body)


def test_another_tenants_key_is_not_found_and_stays_valid(client, acme, globex):
    response = client.delete(f"/v1/api-keys/{globex.key_ids['writer']}", headers=acme.admin)
    missing = client.delete("/v1/api-keys/999", headers=acme.admin)

    assert (response.status_code, response.json()) == (404, not_found("api key", "5"))
    assert (missing.status_code, missing.json()) == (404, not_found("api key", "999"))
    assert client.get("/v1/topics", headers=globex.writer).status_code == 200
    listed = client.get("/v1/api-keys", headers=acme.admin).json()
    assert [k["id"] for k in listed["items"]] == [1, 2, 3]


def test_keys_need_admin(client, acme):
    forbidden = problem(403, "forbidden", "this needs a key with scope admin; this key has write")
    assert client.get("/v1/api-keys", headers=acme.writer).json() == forbidden
    assert client.delete("/v1/api-keys/1", headers=acme.writer).json() == forbidden
    assert (
        client.post(
            "/v1/api-keys", json={"name": "x", "scope": "admin"}, headers=acme.writer
        ).json()
        == forbidden
    )


def test_an_unknown_scope_and_a_bad_id_are_invalid(client, acme):
    scope = client.post("/v1/api-keys", json={"name": "x", "scope": "root"}, headers=acme.admin)
    path = client.delete("/v1/api-keys/abc", headers=acme.admin)

    assert scope.status_code == 422
    assert scope.json() == invalid(("scope", "Input should be 'admin', 'write' or 'check'"))
    assert path.status_code == 422
    assert path.json() == invalid(
        ("key_id", "Input should be a valid integer, unable to parse string as an integer")
    )


def test_an_id_beyond_32_bits_is_invalid_on_both_databases(client, acme):
    """Key ids are 32-bit integers on PostgreSQL; a larger one was a 500 there."""
    largest = client.delete("/v1/api-keys/2147483647", headers=acme.admin)
    beyond = client.delete("/v1/api-keys/2147483648", headers=acme.admin)

    assert largest.status_code == 404
    assert largest.json() == not_found("api key", "2147483647")
    assert beyond.status_code == 422
    assert beyond.json() == invalid(("key_id", "Input should be less than or equal to 2147483647"))
