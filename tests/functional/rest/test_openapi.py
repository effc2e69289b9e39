"""The OpenAPI document describes every route completely: readable operation ids, auth and
the scope each operation needs (and enforces), every status, problem+json, and a
description and example for everything a client author reads."""

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from tests.functional.rest.conftest import problem

PROBLEM = {"$ref": "#/components/schemas/Problem"}
EVERY_OPERATION = {"429", "431"}
"""Statuses any request can get: a rate limit, a request head over the cap."""
OPERATIONS = {
    ("/v1/topics", "post"): (
        "201",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/topics", "get"): ("200", {"401", "403", "422", "500", "503"}),
    ("/v1/topics/{key}", "get"): ("200", {"401", "403", "404", "422", "500", "503"}),
    ("/v1/api-keys", "post"): (
        "201",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
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
    ("/v1/checks", "post"): (
        "200",
        {"400", "401", "403", "409", "413", "415", "422", "500", "503"},
    ),
    ("/v1/checks/list", "post"): ("200", {"401", "403", "413", "415", "422", "500", "503"}),
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
OPERATION_IDS = {
    ("/healthz", "get"): "getHealth",
    ("/readyz", "get"): "getReadiness",
    ("/v1/topics", "post"): "createTopic",
    ("/v1/topics", "get"): "listTopics",
    ("/v1/topics/{key}", "get"): "getTopic",
    ("/v1/api-keys", "post"): "createApiKey",
    ("/v1/api-keys", "get"): "listApiKeys",
    ("/v1/api-keys/{key_id}", "delete"): "revokeApiKey",
    ("/v1/subscriptions", "post"): "subscribe",
    ("/v1/subscriptions/confirm", "post"): "confirmSubscription",
    ("/v1/unsubscribe", "post"): "unsubscribe",
    ("/v1/resubscribe", "post"): "resubscribe",
    ("/v1/unsubscribe-requests", "post"): "createUnsubscribeRequest",
    ("/v1/unsubscribe-requests/{request_id}", "get"): "getUnsubscribeRequest",
    ("/v1/unsubscribe-requests/{request_id}/cancel", "post"): "cancelUnsubscribeRequest",
    ("/v1/checks", "get"): "checkAddress",
    ("/v1/checks", "post"): "checkAddresses",
    ("/v1/checks/list", "post"): "checkList",
    ("/v1/messages", "post"): "registerMessages",
    ("/v1/contacts/{external_id}/history", "get"): "getContactHistory",
    ("/v1/addresses/history", "get"): "getAddressHistory",
    ("/v1/contacts/{external_id}", "get"): "exportContact",
    ("/v1/contacts/{external_id}", "delete"): "eraseContact",
    ("/v1/suppressions/import", "post"): "importSuppressions",
    ("/v1/suppressions", "get"): "exportSuppressions",
}
SCOPES = {
    ("/v1/topics", "post"): "admin",
    ("/v1/topics", "get"): "check",
    ("/v1/topics/{key}", "get"): "check",
    ("/v1/api-keys", "post"): "admin",
    ("/v1/api-keys", "get"): "admin",
    ("/v1/api-keys/{key_id}", "delete"): "admin",
    ("/v1/subscriptions", "post"): "write",
    ("/v1/subscriptions/confirm", "post"): "write",
    ("/v1/unsubscribe", "post"): "write",
    ("/v1/resubscribe", "post"): "write",
    ("/v1/unsubscribe-requests", "post"): "write",
    ("/v1/unsubscribe-requests/{request_id}", "get"): "check",
    ("/v1/unsubscribe-requests/{request_id}/cancel", "post"): "write",
    ("/v1/checks", "get"): "check",
    ("/v1/checks", "post"): "check",
    ("/v1/checks/list", "post"): "check",
    ("/v1/messages", "post"): "write",
    ("/v1/contacts/{external_id}/history", "get"): "write",
    ("/v1/addresses/history", "get"): "write",
    ("/v1/contacts/{external_id}", "get"): "admin",
    ("/v1/contacts/{external_id}", "delete"): "admin",
    ("/v1/suppressions/import", "post"): "admin",
    ("/v1/suppressions", "get"): "admin",
}
"""As docs/api.md's table says."""
READ_ONLY_POSTS = {("/v1/checks/list", "post")}
"""POSTs that change nothing and stream an answer too long to keep: no Idempotency-Key, so
no 400 or 409 for it (decision 0025)."""
SENTENCES = {
    "check": "Needs an API key of any scope (`check`, `write` or `admin`).",
    "write": "Needs an API key of scope `write` or `admin`.",
    "admin": "Needs an API key of scope `admin`.",
}
LOWER = {"write": "check", "admin": "write"}
REF = "#/components/schemas/"


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


def test_operation_ids_are_readable_verbs_and_nouns(spec):
    ids = {
        (path, method): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == OPERATION_IDS


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_needs_a_key_and_declares_its_statuses(spec, path, method):
    """Every POST but the read-only ones declares 409: the Idempotency-Key may be in use
    by a request still running, whatever the operation does. A read-only POST takes no
    Idempotency-Key at all."""
    operation = spec["paths"][path][method]
    success, problems = OPERATIONS[(path, method)]
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}

    assert set(operation["responses"]) == {success} | problems | EVERY_OPERATION
    if (path, method) in READ_ONLY_POSTS:
        assert "idempotency-key" not in headers
        assert {"400", "409"}.isdisjoint(problems)
    elif method == "post":
        assert {"400", "409", "422"} <= problems
        assert "idempotency-key" in headers
    for status in problems | EVERY_OPERATION:
        content = operation["responses"][status]["content"]
        assert list(content) == ["application/problem+json"]
        assert content["application/problem+json"]["schema"] == PROBLEM
        example = content["application/problem+json"]["example"]
        assert example["status"] == int(status)
        assert example["type"].startswith("/problems/")
    assert operation["responses"][success]["description"] != "Successful Response"


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_states_its_scope(spec, path, method):
    operation = spec["paths"][path][method]
    scope = SCOPES[(path, method)]

    assert operation["x-required-scope"] == scope
    assert operation["security"] == [{"ApiKey": [scope]}]
    assert operation["description"].endswith(f"\n\n{SENTENCES[scope]}")
    assert operation["description"].count("Needs an API key") == 1


def test_the_scope_sentence_is_added_once_however_often_the_document_is_read(client):
    first = client.get("/openapi.json").json()
    again = client.get("/openapi.json").json()

    assert again == first


def _body_schema(schema: dict) -> str:
    """The name of a body's component (an optional body is `anyOf` it and null)."""
    refs = [o["$ref"] for o in (schema, *schema.get("anyOf", ())) if "$ref" in o]
    assert len(refs) == 1, schema
    return str(refs[0]).removeprefix(REF)


def _example_request(spec: dict, path: str, method: str) -> dict[str, Any]:
    """A request for the operation, built from the document's own examples."""
    operation = spec["paths"][path][method]
    url = path
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            url = url.replace(f"{{{parameter['name']}}}", str(parameter["schema"]["examples"][0]))
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = parameter["schema"]["examples"][0]
    request: dict[str, Any] = {"method": method.upper(), "url": url, "params": query}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        name = _body_schema(content["application/json"]["schema"])
        request["json"] = spec["components"]["schemas"][name]["examples"][0]
    elif "text/csv" in content:
        request["content"] = b"email\nann@example.com\n"
        request["headers"] = {"Content-Type": "text/csv"}
    return request


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_the_documented_scope_is_the_one_enforced(client, spec, acme, path, method):
    """A key one scope below the documented one is refused with 403; a key of the
    documented scope gets past the check (whatever the example then leads to)."""
    scope = spec["paths"][path][method]["x-required-scope"]
    keys = {"check": acme.checker, "write": acme.writer, "admin": acme.admin}
    request = _example_request(spec, path, method)

    def send(headers: dict[str, str]) -> Any:
        extra = request.get("headers", {})
        return client.request(**{**request, "headers": {**extra, **headers}})

    assert send({}).status_code == 401
    if scope in LOWER:
        refused = send(keys[LOWER[scope]])
        assert refused.status_code == 403, refused.text
        assert refused.json() == problem(
            403, "forbidden", f"this needs a key with scope {scope}; this key has {LOWER[scope]}"
        )
    allowed = send(keys[scope])
    assert allowed.status_code not in {401, 403}, allowed.text


def test_links_lead_from_what_a_call_creates_to_the_calls_that_take_it(spec):
    operations = {o["operationId"]: o for path in spec["paths"].values() for o in path.values()}
    links = {
        (source, status, name): (link["operationId"], link["parameters"])
        for source, operation in operations.items()
        for status, response in operation["responses"].items()
        for name, link in response.get("links", {}).items()
    }

    assert links == {
        ("createTopic", "201", "getTopic"): ("getTopic", {"key": "$response.body#/key"}),
        ("createApiKey", "201", "revokeApiKey"): (
            "revokeApiKey",
            {"key_id": "$response.body#/key/id"},
        ),
        ("createUnsubscribeRequest", "201", "getUnsubscribeRequest"): (
            "getUnsubscribeRequest",
            {"request_id": "$response.body#/id"},
        ),
        ("createUnsubscribeRequest", "201", "cancelUnsubscribeRequest"): (
            "cancelUnsubscribeRequest",
            {"request_id": "$response.body#/id"},
        ),
        ("getUnsubscribeRequest", "200", "cancelUnsubscribeRequest"): (
            "cancelUnsubscribeRequest",
            {"request_id": "$response.body#/id"},
        ),
    }
    for target, parameters in links.values():
        names = {p["name"] for p in _parameters(spec, target)}
        assert set(parameters) <= names


def _parameters(spec: dict, operation_id: str) -> list[dict]:
    for operations in spec["paths"].values():
        for operation in operations.values():
            if operation["operationId"] == operation_id:
                return list(operation.get("parameters", []))
    raise AssertionError(operation_id)


# Descriptions and examples ---------------------------------------------------------------


def _refers_to_object(spec: dict, schema: dict) -> bool:
    """Whether a property is (a list of, or a nullable) object component: such a property
    is exemplified by that component's own example."""
    if "$ref" in schema:
        target = spec["components"]["schemas"][schema["$ref"].removeprefix(REF)]
        return target.get("type") == "object"
    if schema.get("type") == "array":
        return _refers_to_object(spec, schema["items"])
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    return len(options) == 1 and _refers_to_object(spec, options[0])


def _has_examples(schema: dict) -> bool:
    return bool(schema.get("examples")) or "enum" in schema or "const" in schema


def _undocumented(spec: dict) -> Iterator[str]:
    for name, schema in spec["components"]["schemas"].items():
        if not schema.get("description"):
            yield f"schema {name}: no description"
        if not _has_examples(schema):
            yield f"schema {name}: no example"
        for key, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                yield f"schema {name}, property {key}: no description"
            if not _has_examples(prop) and not _refers_to_object(spec, prop):
                yield f"schema {name}, property {key}: no example"
    yield from _undocumented_operations(spec)


def _undocumented_operations(spec: dict) -> Iterator[str]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for field in ("summary", "description"):
                if not operation.get(field):
                    yield f"{where}: no {field}"
            for parameter in operation.get("parameters", []):
                named = f"{where}, parameter {parameter['name']}"
                if not parameter.get("description"):
                    yield f"{named}: no description"
                if not (parameter.get("examples") or _has_examples(parameter["schema"])):
                    yield f"{named}: no example"


def test_every_schema_property_and_parameter_has_a_description_and_an_example(spec):
    assert list(_undocumented(spec)) == []


def test_the_walk_names_what_lacks_a_description_or_an_example(spec):
    spec["components"]["schemas"]["TopicOut"]["properties"]["key"].pop("description")
    spec["components"]["schemas"]["ChangeOut"]["properties"]["event_id"].pop("examples")
    spec["components"]["schemas"]["Channel"].pop("description")
    spec["paths"]["/v1/checks"]["get"]["parameters"][0].pop("description")

    assert list(_undocumented(spec)) == [
        "schema ChangeOut, property event_id: no example",
        "schema Channel: no description",
        "schema TopicOut, property key: no description",
        "GET /v1/checks, parameter topic: no description",
    ]


def _examples(spec: dict) -> Iterator[tuple[str, dict, Any]]:
    """(where, schema, example) for every example in the document."""
    for name, schema in spec["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield f"schema {name}", {"$ref": f"{REF}{name}"}, example
        for key, prop in schema.get("properties", {}).items():
            for example in prop.get("examples", []):
                yield f"schema {name}, property {key}", prop, example
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for example in parameter["schema"].get("examples", []):
                    where = f"{method.upper()} {path}, parameter {parameter['name']}"
                    yield where, parameter["schema"], example
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    if "example" in content:
                        where = f"{method.upper()} {path}, response {status} {media_type}"
                        yield where, content["schema"], content["example"]


def _invalid_examples(spec: dict) -> Iterator[str]:
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **spec}
    for where, schema, example in _examples(spec):
        validator = jsonschema_rs.Draft202012Validator({**root, **schema}, validate_formats=True)
        for error in validator.iter_errors(example):
            yield f"{where}: {error.message}"


def test_every_example_is_valid_against_its_own_schema(spec):
    assert sum(1 for _ in _examples(spec)) > 200
    assert list(_invalid_examples(spec)) == []


def test_an_invalid_example_is_named(spec):
    topic = spec["components"]["schemas"]["CreateTopicIn"]
    topic["properties"]["key"]["examples"] = ["no spaces allowed"]
    topic["examples"][0]["channels"] = ["fax"]

    assert list(_invalid_examples(spec)) == [
        'schema CreateTopicIn: "fax" is not one of "email", "sms" or 3 other candidates',
        'schema CreateTopicIn, property key: "no spaces allowed" does not match '
        '"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"',
    ]


def test_request_bodies_have_whole_examples(spec):
    """Composed examples cannot say which fields go together (a target is exactly one of
    address, contact or message_uid), so every JSON request body has its own."""
    schemas = spec["components"]["schemas"]
    for path, method in OPERATIONS:
        content = spec["paths"][path][method].get("requestBody", {}).get("content", {})
        if "application/json" in content:
            name = _body_schema(content["application/json"]["schema"])
            assert name.endswith("In"), name
            assert len(schemas[name]["examples"]) >= 1
    assert len(schemas["UnsubscribeIn"]["examples"]) == 4
    assert [sorted(e) for e in schemas["ResubscribeIn"]["examples"]] == [
        ["address", "topics"],
        ["actor", "channel", "contact", "tags"],
        ["message_uid"],
    ]


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
