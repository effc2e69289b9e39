"""The OpenAPI document describes every route completely: auth, every status, problem+json."""

import pytest

PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}
EVERY_OPERATION = {"429", "431"}
"""Statuses any request can get: a rate limit, a request head over the cap."""
OPERATIONS = {
    ("/v1/topics", "post"): (
        "201",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/topics", "get"): ("200", {"401", "403", "422", "500", "503"}),
    ("/v1/topics/{key}", "get"): ("200", {"401", "403", "404", "422", "500", "503"}),
    ("/v1/api-keys", "post"): ("201", {"400", "401", "403", "413", "415", "422", "500", "503"}),
    ("/v1/api-keys", "get"): ("200", {"401", "403", "422", "500", "503"}),
    ("/v1/api-keys/{key_id}", "delete"): ("200", {"401", "403", "404", "422", "500", "503"}),
    ("/v1/subscriptions", "post"): (
        "200",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/subscriptions/confirm", "post"): (
        "200",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/unsubscribe", "post"): (
        "200",
        {"400", "401", "403", "404", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/resubscribe", "post"): (
        "200",
        {"400", "401", "403", "404", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/unsubscribe-requests", "post"): (
        "201",
        {"400", "401", "403", "404", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/unsubscribe-requests/{request_id}", "get"): (
        "200",
        {"401", "403", "404", "422", "500", "503"},
    ),
    ("/v1/unsubscribe-requests/{request_id}/cancel", "post"): (
        "200",
        {"400", "401", "403", "404", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/checks", "get"): ("200", {"401", "403", "422", "500", "503"}),
    ("/v1/checks", "post"): ("200", {"400", "401", "403", "413", "415", "422", "500", "503"}),
    ("/v1/messages", "post"): (
        "201",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/contacts/{external_id}/history", "get"): (
        "200",
        {"401", "403", "404", "422", "500", "503"},
    ),
    ("/v1/addresses/history", "get"): ("200", {"401", "403", "422", "500", "503"}),
    ("/v1/contacts/{external_id}", "get"): ("200", {"401", "403", "404", "422", "500", "503"}),
    ("/v1/contacts/{external_id}", "delete"): ("200", {"401", "403", "404", "422", "500", "503"}),
    ("/v1/suppressions/import", "post"): (
        "200",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/suppressions", "get"): ("200", {"401", "403", "500", "503"}),
}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_is_openapi_3_1_with_a_title(spec):
    assert spec["openapi"].startswith("3.1.")
    assert spec["info"]["title"] == "optledger"
    assert spec["info"]["version"] == "0.1.0"
    assert spec["info"]["description"].startswith("The native REST API of optledger.")
    assert spec["components"]["securitySchemes"] == {
        "ApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An optledger API key (`olk_…`); its scope is `check`, `write` or "
            "`admin`.",
        }
    }


def test_every_route_is_described(spec):
    described = {
        (path, method)
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert described == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_needs_a_key_and_declares_its_statuses(spec, path, method):
    operation = spec["paths"][path][method]
    success, problems = OPERATIONS[(path, method)]

    assert operation["security"] == [{"ApiKey": []}]
    assert set(operation["responses"]) == {success} | problems | EVERY_OPERATION
    for status in problems | EVERY_OPERATION:
        assert operation["responses"][status]["content"] == {"application/problem+json": PROBLEM}


def test_the_problem_schema_is_a_component_and_fastapis_own_is_not(spec):
    schemas = spec["components"]["schemas"]

    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    assert set(schemas["FieldProblem"]["properties"]) == {"field", "reason"}
    assert "HTTPValidationError" not in schemas


def test_request_bodies_refuse_unknown_fields(spec):
    schemas = spec["components"]["schemas"]
    inputs = [name for name in schemas if name.endswith("In")]

    assert len(inputs) >= 12
    assert all(schemas[name]["additionalProperties"] is False for name in inputs)


def test_the_import_takes_csv_or_ndjson(spec):
    body = spec["paths"]["/v1/suppressions/import"]["post"]["requestBody"]

    assert body == {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }


def test_the_docs_page(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert "/openapi.json" in response.text
