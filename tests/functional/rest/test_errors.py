import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from tests.functional.rest.conftest import create_topic, invalid, problem

TOO_LARGE = problem(413, "too-large", "The body must be at most 1048576 bytes.")


def test_malformed_json_is_400(client, acme):
    response = client.post(
        "/v1/topics",
        content=b'{"key": ',
        headers={**acme.admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(400, "malformed-json", "The body is not valid JSON.")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(client, acme, content_type):
    headers = {**acme.writer, **({"Content-Type": content_type} if content_type else {})}

    response = client.post("/v1/unsubscribe", content=b'{"contact": "u1"}', headers=headers)

    assert (response.status_code, response.json()) == (
        415,
        problem(415, "unsupported-media-type", "The body must be application/json."),
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_json_body_over_1_mib_is_413(client, acme, chunked):
    body = b'{"key": "a", "name": "' + b"x" * (1024 * 1024) + b'"}'
    content = iter([body[:1000], body[1000:]]) if chunked else body

    response = client.post(
        "/v1/topics", content=content, headers={**acme.admin, "Content-Type": "application/json"}
    )

    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert client.get("/v1/topics", headers=acme.admin).json()["items"] == []


def test_unknown_fields_wrong_types_and_missing_fields_are_named(client, acme):
    response = client.post(
        "/v1/subscriptions",
        json={"channel": "fax", "address": 5, "tags": ["a", ""], "colour": "red"},
        headers=acme.writer,
    )

    assert (response.status_code, response.json()) == (
        422,
        invalid(
            ("tags[1]", "String should have at least 1 character"),
            ("channel", "Input should be 'email', 'sms', 'push', 'whatsapp' or 'voice'"),
            ("address", "Input should be a valid string"),
            ("topic", "Field required"),
            ("colour", "Extra inputs are not permitted"),
        ),
    )


def test_booleans_are_not_coerced(client, acme):
    response = client.post(
        "/v1/unsubscribe", json={"contact": "u1", "notify": "yes"}, headers=acme.writer
    )

    assert response.json() == invalid(("notify", "Input should be a valid boolean"))


def test_a_missing_body_is_named(client, acme):
    response = client.post("/v1/topics", headers=acme.admin)

    assert response.json() == invalid(("body", "Field required"))


def test_validation_errors_do_not_echo_the_input(client, acme):
    create_topic(client, acme, "news")

    response = client.post(
        "/v1/messages",
        json={"messages": [{"channel": "email", "address": "secret-person", "topic": "news"}]},
        headers=acme.writer,
    )

    assert response.status_code == 422
    assert "secret-person" not in response.text


def test_unknown_query_parameters_are_named_not_ignored(client, acme):
    response = client.post(
        "/v1/suppressions/import?skipinvalid=true&skip_invalid=true&x=1",
        content="email\nann@example.com\n",
        headers={**acme.admin, "Content-Type": "text/csv"},
    )
    listed = client.get("/v1/topics?limit=5", headers=acme.admin)

    assert (response.status_code, response.json()) == (
        422,
        invalid(
            ("query.skipinvalid", "is not a parameter of this operation"),
            ("query.x", "is not a parameter of this operation"),
        ),
    )
    assert listed.status_code == 200


def test_an_unknown_path_and_a_wrong_method(client, acme):
    missing = client.get("/v1/nothing", headers=acme.admin)
    method = client.put("/v1/topics", headers=acme.admin)

    assert (missing.status_code, missing.json()) == (404, problem(404, "not-found", "Not Found"))
    assert method.status_code == 405
    assert method.json() == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "Method Not Allowed",
    }


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/topics", "GET, POST"),
        ("/v1/checks", "GET, POST"),
        ("/v1/contacts/user-42", "DELETE, GET"),
        ("/v1/api-keys/7", "DELETE"),
    ],
)
def test_405_allows_every_method_of_the_path(client, acme, path, allow):
    """Found by schemathesis (allow_header_conformance): Starlette named only the methods
    of the first route on a path with several routes."""
    response = client.options(path, headers=acme.admin)

    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_an_unexpected_error_is_500_without_details(services, acme):
    def broken(**_kwargs):
        raise RuntimeError("secret detail ann@example.com")

    app = create_app(services=services, ready=lambda: True)
    services.topics.list_topics = broken  # type: ignore[method-assign]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/topics", headers=acme.checker)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": 500,
    }
