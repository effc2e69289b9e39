"""What the REST door adds to the OpenAPI document FastAPI generates.

- The problem+json schema (`Problem`, `FieldProblem`) as components.
- The scope each operation needs, read from the `require` dependency that enforces it
  (`auth.required_scope`), so the document cannot say one thing and the code do another:
  `x-required-scope`, the `security` requirement (OpenAPI 3.1 lets a bearer scheme name
  roles) and a sentence at the end of the description.
- Links between operations (the id a create answers is the one the get or cancel takes),
  for client authors and for schemathesis' stateful tests.
- An example for every object schema that has none of its own, made of its properties'
  examples, so tools can show a whole response. Request bodies have hand-written ones.
- For each success response, the description of the schema it holds instead of
  FastAPI's "Successful Response".
"""

from collections.abc import Sequence
from typing import Any, Final

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from optledger.api.rest.auth import required_scope
from optledger.api.rest.schemas import problem_schemas
from optledger.domain.model import Scope

__all__ = ["LINKS", "SCOPE_EXTENSION", "complete_document"]

SCOPE_EXTENSION: Final = "x-required-scope"
_SCHEME: Final = "ApiKey"
_ALLOWED_BY: Final = {
    Scope.CHECK: "any scope (`check`, `write` or `admin`)",
    Scope.WRITE: "scope `write` or `admin`",
    Scope.ADMIN: "scope `admin`",
}
_COMPONENT_PREFIX: Final = "#/components/schemas/"
_FASTAPI_DEFAULT: Final = "Successful Response"

LINKS: Final[dict[tuple[str, str, str], dict[str, Any]]] = {
    ("createTopic", "201", "getTopic"): {
        "operationId": "getTopic",
        "parameters": {"key": "$response.body#/key"},
        "description": "The topic just created.",
    },
    ("createApiKey", "201", "revokeApiKey"): {
        "operationId": "revokeApiKey",
        "parameters": {"key_id": "$response.body#/key/id"},
        "description": "Revoke the key just created.",
    },
    ("createUnsubscribeRequest", "201", "getUnsubscribeRequest"): {
        "operationId": "getUnsubscribeRequest",
        "parameters": {"request_id": "$response.body#/id"},
        "description": "The request's state.",
    },
    ("createUnsubscribeRequest", "201", "cancelUnsubscribeRequest"): {
        "operationId": "cancelUnsubscribeRequest",
        "parameters": {"request_id": "$response.body#/id"},
        "description": "Take the request back while it is pending.",
    },
    ("getUnsubscribeRequest", "200", "cancelUnsubscribeRequest"): {
        "operationId": "cancelUnsubscribeRequest",
        "parameters": {"request_id": "$response.body#/id"},
        "description": "Take the request back while it is pending.",
    },
}
"""(operation, status, name) → the OpenAPI Link object added to that response."""


def complete_document(document: dict[str, Any], *, routes: Sequence[BaseRoute]) -> None:
    """Add the problem schemas, scopes, links and composed examples to `document`, the
    document FastAPI made of `routes`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    operations = _operations(document)
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.operation_id in operations:
            scope = required_scope(route)
            if scope is not None:
                _state_scope(operations[route.operation_id], scope)
    for operation in operations.values():
        _describe_responses(operation, schemas)
    for (source, status, name), link in LINKS.items():
        response = operations[source]["responses"][status]
        response.setdefault("links", {})[name] = link
    for name in schemas:
        _compose_example(schemas, name)


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's operations by operationId; every route sets its id explicitly."""
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
    }


def _state_scope(operation: dict[str, Any], scope: Scope) -> None:
    operation[SCOPE_EXTENSION] = scope.value
    operation["security"] = [{_SCHEME: [scope.value]}]
    sentence = f"Needs an API key of {_ALLOWED_BY[scope]}."
    description = operation.get("description", "").rstrip()
    operation["description"] = f"{description}\n\n{sentence}" if description else sentence


def _describe_responses(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """FastAPI's "Successful Response" replaced with the description of what it holds."""
    for response in operation["responses"].values():
        if response.get("description") != _FASTAPI_DEFAULT:
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        name = schema.get("$ref", "").removeprefix(_COMPONENT_PREFIX)
        if name in schemas and schemas[name].get("description"):
            response["description"] = schemas[name]["description"]


def _compose_example(schemas: dict[str, Any], name: str) -> Any:
    """The first example of component `name`; composed from its properties (and given
    to it) when it is an object schema without one."""
    schema = schemas[name]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") != "object" or "properties" not in schema:
        return None
    example = {key: _property_example(schemas, prop) for key, prop in schema["properties"].items()}
    schema["examples"] = [example]
    return example


def _property_example(schemas: dict[str, Any], schema: dict[str, Any]) -> Any:
    if schema.get("examples"):
        return schema["examples"][0]
    if "$ref" in schema:
        return _compose_example(schemas, schema["$ref"].removeprefix(_COMPONENT_PREFIX))
    if schema.get("type") == "array":
        return [_property_example(schemas, schema["items"])]
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return _property_example(schemas, option)
    return None
