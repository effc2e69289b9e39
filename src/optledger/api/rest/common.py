"""What every REST route needs: the services, the door's part of provenance, cursors and
the check that a body is JSON."""

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Final, cast

from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from optledger.api.rest.errors import FOREIGN_CHARSET, UNSUPPORTED_MEDIA_TYPE, HttpProblem
from optledger.api.rest.media import declares_foreign_charset, is_json
from optledger.api.rest.schemas import ProvenanceIn
from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import Provenance
from optledger.services import Services

__all__ = [
    "MAX_PAGE",
    "After",
    "Door",
    "DoorInfo",
    "Limit",
    "decode_cursor",
    "decode_id_cursor",
    "encode_cursor",
    "idempotency_key",
    "reject_unknown_query",
    "require_json",
    "services",
]

MAX_PAGE: Final = 1_000
_MAX_USER_AGENT: Final = 500
_MAX_REQUEST_ID: Final = 200

Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description="The most items in one page.", examples=[100])
]
After = Annotated[
    str | None,
    Query(
        max_length=500,
        description="The `next_cursor` of the previous page.",
        examples=["MTA0Mg"],
    ),
]


def services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            description="1-255 visible ASCII characters, sent once; a retry with the same "
            "key and the same request within 24 hours replays the first response.",
            # Documented, not validated here: IdempotencyMiddleware answers a bad key 400.
            json_schema_extra={
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[!-~]+$",
                "examples": ["b6f2c1d0-unsubscribe-42"],
            },
        ),
    ] = None,
) -> str | None:
    """Declares the header in the OpenAPI document. `IdempotencyMiddleware` validates it
    (400 `/problems/invalid-idempotency-key`) and does the replaying, after the API key is
    known: an unauthenticated request gets its 401 whatever the header says."""
    return idempotency_key


@dataclass(frozen=True, slots=True)
class DoorInfo:
    """What the door knows of a request, for its provenance."""

    ip: str | None
    user_agent: str | None
    request_id: str | None
    idempotency_key: str | None

    def provenance(self, body: ProvenanceIn | None) -> Provenance:
        fields = body or ProvenanceIn()
        return Provenance(
            via="api",
            actor=fields.actor,
            device=fields.device,
            entrypoint=fields.entrypoint,
            tags=tuple(fields.tags),
            context=dict(fields.context),
            locale=fields.locale,
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )


def door_info(
    request: Request,
    x_request_id: Annotated[
        str | None,
        Header(
            description="Your id for the request; recorded on the consent events (its first "
            f"{_MAX_REQUEST_ID} characters: a tracing header never makes a request fail).",
            examples=["req-8f14e45f"],
        ),
    ] = None,
) -> DoorInfo:
    user_agent = request.headers.get("user-agent")
    return DoorInfo(
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:_MAX_USER_AGENT] if user_agent else None,
        request_id=x_request_id[:_MAX_REQUEST_ID] if x_request_id else None,
        idempotency_key=request.headers.get("idempotency-key"),
    )


Door = Annotated[DoorInfo, Depends(door_info)]


def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters the operation does not define, naming each (422): a
    mistyped `skip_invalid` must not be ignored in silence."""
    if not request.scope["query_string"]:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    names = _QUERY_NAMES.get(route.unique_id)
    if names is None:
        names = _QUERY_NAMES[route.unique_id] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        raise InvalidInput(
            *(
                FieldError(f"query.{name}", "is not a parameter of this operation")
                for name in unknown
            )
        )


_QUERY_NAMES: Final[dict[str, frozenset[str]]] = {}
"""The query parameters of each operation, by its unique id, found on its first call."""


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return frozenset(names)


async def require_json(request: Request) -> None:
    """Refuse a body that is not `application/json` (or `+json`) in UTF-8 with 415."""
    if not await request.body():
        return
    content_type = request.headers.get("content-type", "")
    if not is_json(content_type):
        raise HttpProblem(UNSUPPORTED_MEDIA_TYPE, "The body must be application/json.")
    if declares_foreign_charset(content_type):
        raise HttpProblem(UNSUPPORTED_MEDIA_TYPE, FOREIGN_CHARSET)


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The value inside a cursor made by `encode_cursor`; InvalidInput (`after`) if not."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput.of("after", "is not a cursor from this list") from None
    if not value:
        raise InvalidInput.of("after", "is not a cursor from this list")
    return value


def decode_id_cursor(cursor: str) -> int:
    """The id inside a cursor made by `encode_cursor(str(id))`; InvalidInput if not."""
    value = decode_cursor(cursor)
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidInput.of("after", "is not a cursor from this list")
    return int(value)
