"""API key authentication and scope checks for the REST door.

`Authorization: Bearer <key>`. No bearer credential answers 401 with the challenge
`Bearer`; a credential that is malformed, unknown or revoked answers 401 with
`Bearer error="invalid_token"` (RFC 6750 section 3); a key whose scope is too low
answers 403.
"""

from typing import Annotated, Final

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from optledger.api.rest.common import services
from optledger.api.rest.errors import UNAUTHENTICATED, HttpProblem
from optledger.domain.errors import AuthenticationFailed, Forbidden
from optledger.domain.model import Scope
from optledger.services.results import Principal

__all__ = ["Admin", "Checker", "ScopeRequirement", "Writer", "require", "required_scope"]

_bearer: Final = HTTPBearer(
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
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HttpProblem(
                UNAUTHENTICATED,
                "This needs an API key: Authorization: Bearer <key>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            found = services(request).tenants.authenticate(secret=credentials.credentials)
        except AuthenticationFailed:
            raise HttpProblem(
                UNAUTHENTICATED,
                "The API key is not valid.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
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


Checker = Annotated[Principal, Depends(require(Scope.CHECK))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
