"""API key authentication and scope checks for the REST door.

`Authorization: Bearer <key>`. No bearer credential answers 401 with the challenge
`Bearer`; a credential that is malformed, unknown or revoked answers 401 with
`Bearer error="invalid_token"` (RFC 6750 section 3); a key whose scope is too low
answers 403.
"""

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from optledger.api.rest.common import services
from optledger.api.rest.errors import UNAUTHENTICATED, HttpProblem
from optledger.domain.errors import AuthenticationFailed, Forbidden
from optledger.domain.model import Scope
from optledger.services.results import Principal

__all__ = ["Admin", "Checker", "Writer", "require"]

_bearer: Final = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An optledger API key (`olk_…`); its scope is `check`, `write` or `admin`.",
)


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency: the caller's principal, whose key must allow `scope`."""

    def principal(
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
        if not found.scope.allows(scope):
            raise Forbidden(f"this needs a key with scope {scope}; this key has {found.scope}")
        return found

    return principal


Checker = Annotated[Principal, Depends(require(Scope.CHECK))]
Writer = Annotated[Principal, Depends(require(Scope.WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
