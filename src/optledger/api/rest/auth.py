"""API key authentication and scope checks for the REST door.

`Authorization: Bearer <key>`. No bearer credential answers 401 with the challenge
`Bearer`; a credential that is malformed, unknown or revoked answers 401 with
`Bearer error="invalid_token"` (RFC 6750 section 3); a key whose scope is too low
answers 403.

Each request counts against its key's rate limit, and each failed authentication against
its client address's (throttling.py): beyond either, 429.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Final

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from optledger.api.rest.common import services
from optledger.api.rest.errors import UNAUTHENTICATED, HttpProblem
from optledger.api.rest.throttling import (
    bulk_refused,
    failed_authentication,
    key_refused,
    rest_throttle,
)
from optledger.domain.errors import AuthenticationFailed, Forbidden
from optledger.domain.model import Scope
from optledger.services.results import Principal

__all__ = [
    "Admin",
    "BulkAdmin",
    "BulkChecker",
    "Checker",
    "ScopeRequirement",
    "Writer",
    "bulk",
    "require",
    "required_scope",
]


class _BearerToken(HTTPBearer):
    """FastAPI's `HTTPBearer` without its automatic errors (this module answers them),
    answering the token itself rather than an `HTTPAuthorizationCredentials`: validating
    that pydantic model was about a tenth of a check's event-loop time, for two strings.
    It reads the header as `HTTPBearer` does, and is the same security scheme in the
    OpenAPI document."""

    async def __call__(self, request: HTTPConnection) -> str | None:  # type: ignore[override]
        authorization = request.headers.get("Authorization")
        scheme, token = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and token) or scheme.lower() != "bearer":
            return None
        return token


_bearer: Final = _BearerToken(
    auto_error=False,
    scheme_name="ApiKey",
    description="An optledger API key (`olk_…`); its scope is `check`, `write` or `admin`.",
)


class ScopeRequirement:
    """The dependency `require(scope)` returns: authenticates the caller and checks that
    its key allows `required_scope`.

    A class rather than a closure so that the scope a route needs can be read off the
    route itself (`required_scope`), by the idempotency middleware that must refuse to
    replay a response to a key that could not have made the request.
    """

    def __init__(self, scope: Scope) -> None:
        self.required_scope: Final = scope

    def __call__(
        self,
        request: Request,
        token: Annotated[str | None, Security(_bearer)],
    ) -> Principal:
        if token is None:
            raise HttpProblem(
                UNAUTHENTICATED,
                "This needs an API key: Authorization: Bearer <key>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            found = services(request).tenants.authenticate(secret=token)
        except AuthenticationFailed:
            refused = failed_authentication(request)
            if refused is not None:
                raise refused from None
            raise HttpProblem(
                UNAUTHENTICATED,
                "The API key is not valid.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        refused = key_refused(request, key_id=found.key_id)
        if refused is not None:
            raise refused
        needed = self.required_scope
        if not found.scope.allows(needed):
            raise Forbidden(f"this needs a key with scope {needed}; this key has {found.scope}")
        return found


def require(scope: Scope) -> ScopeRequirement:
    """A dependency: the caller's principal, whose key must allow `scope`."""
    return ScopeRequirement(scope)


def required_scope(route: BaseRoute) -> Scope | None:
    """The scope an API key needs for `route`: the strongest its `require(scope)`
    dependencies name, anywhere among its dependencies; None for a route without one."""
    if not isinstance(route, APIRoute):
        return None
    needed: Scope | None = None
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, ScopeRequirement):
            scope = dependant.call.required_scope
            if needed is None or scope.allows(needed):
                needed = scope
        pending.extend(dependant.dependencies)
    return needed


_PRINCIPALS: Final = {scope: require(scope) for scope in Scope}
"""One dependency per scope, so that a route and its other dependencies share it
(FastAPI solves a dependency once per request)."""


def bulk(scope: Scope, *, operation: str) -> Callable[..., AsyncIterator[Principal]]:
    """A dependency: the caller's principal (as `require`), holding one of its key's
    slots for `operation` until the response is done; 429 when it has none free."""

    async def principal(
        request: Request, found: Annotated[Principal, Depends(_PRINCIPALS[scope])]
    ) -> AsyncIterator[Principal]:
        throttle = rest_throttle(request)
        if throttle is None:
            yield found
            return
        with throttle.bulk.slot((found.key_id, operation)) as entered:
            if not entered:
                raise bulk_refused(operation)
            yield found

    return principal


Checker = Annotated[Principal, Depends(_PRINCIPALS[Scope.CHECK])]
Writer = Annotated[Principal, Depends(_PRINCIPALS[Scope.WRITE])]
Admin = Annotated[Principal, Depends(_PRINCIPALS[Scope.ADMIN])]
BulkChecker = Annotated[Principal, Depends(bulk(Scope.CHECK, operation="bulk check"))]
BulkAdmin = Annotated[Principal, Depends(bulk(Scope.ADMIN, operation="import"))]
