"""The REST door's one translation of errors into RFC 9457 `application/problem+json`.

| error                                         | status | type                                 |
|-----------------------------------------------|--------|--------------------------------------|
| InvalidInput, request validation              | 422    | /problems/invalid-input (+ `errors`) |
| InvalidLinkToken (a confirmation token)       | 422    | /problems/invalid-input (`token`)    |
| a body that is not JSON (or not UTF-8, or     | 400    | /problems/malformed-json (`body`)    |
|   nested too deeply to read)                  |        |                                      |
| AuthenticationFailed, no or a bad API key     | 401    | /problems/unauthenticated            |
| Forbidden, a key whose scope is too low       | 403    | /problems/forbidden                  |
| NotFound, an unknown path                     | 404    | /problems/not-found                  |
| Conflict                                      | 409    | /problems/conflict                   |
| a body over the size limit                    | 413    | /problems/too-large                  |
| a body of another media type or charset       | 415    | /problems/unsupported-media-type     |
| a rate or concurrency limit (api/throttle.py) | 429    | /problems/rate-limited, Retry-After  |
| too many or too large header fields           | 431    | /problems/headers-too-large          |
| Unavailable (the database stayed busy)        | 503    | /problems/unavailable, Retry-After   |
| any other HTTP error (405 …)                  | its own| about:blank                          |
| anything else                                 | 500    | /problems/internal, by the guard     |

Anything else is not handled here: it reaches `optledger.api.guard`, which answers 500
and logs the error without its message.

Details never carry personal data or secrets: the domain's messages name the field and
the rule, and validation errors are reported without the offending value.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from optledger.api.rest.media import declares_foreign_charset
from optledger.api.rest.schemas import FieldProblem, Problem
from optledger.domain.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    InvalidLinkToken,
    NotFound,
    OptledgerError,
    Unavailable,
)

__all__ = [
    "CONFLICT",
    "FORBIDDEN",
    "FOREIGN_CHARSET",
    "HEADERS_TOO_LARGE",
    "IDEMPOTENCY_KEY_IN_USE",
    "IDEMPOTENCY_KEY_REUSED",
    "INVALID_IDEMPOTENCY_KEY",
    "INVALID_INPUT",
    "MALFORMED_JSON",
    "NOT_FOUND",
    "PROBLEM_MEDIA_TYPE",
    "RATE_LIMITED",
    "TOO_LARGE",
    "UNAUTHENTICATED",
    "UNAVAILABLE",
    "UNSUPPORTED_MEDIA_TYPE",
    "HttpProblem",
    "Kind",
    "install_error_handlers",
    "problem_response",
    "problem_responses",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
FOREIGN_CHARSET: Final = "The body must be application/json in UTF-8."
_LOCATIONS: Final = frozenset({"body", "query", "path", "header", "cookie"})


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of problem: its stable type URI, its title and its status."""

    type: str
    title: str
    status: int


INVALID_INPUT: Final = Kind("/problems/invalid-input", "Invalid input", 422)
MALFORMED_JSON: Final = Kind("/problems/malformed-json", "Malformed JSON", 400)
UNAUTHENTICATED: Final = Kind("/problems/unauthenticated", "Unauthenticated", 401)
FORBIDDEN: Final = Kind("/problems/forbidden", "Forbidden", 403)
NOT_FOUND: Final = Kind("/problems/not-found", "Not found", 404)
CONFLICT: Final = Kind("/problems/conflict", "Conflict", 409)
TOO_LARGE: Final = Kind("/problems/too-large", "Content too large", 413)
UNSUPPORTED_MEDIA_TYPE: Final = Kind(
    "/problems/unsupported-media-type", "Unsupported media type", 415
)
RATE_LIMITED: Final = Kind("/problems/rate-limited", "Too many requests", 429)
HEADERS_TOO_LARGE: Final = Kind(
    "/problems/headers-too-large", "Request header fields too large", 431
)
INTERNAL: Final = Kind("/problems/internal", "Internal error", 500)
"""Answered by `optledger.api.guard`, for every door; here for the document's example."""
UNAVAILABLE: Final = Kind("/problems/unavailable", "Service unavailable", 503)
INVALID_IDEMPOTENCY_KEY: Final = Kind(
    "/problems/invalid-idempotency-key", "Invalid Idempotency-Key", 400
)
IDEMPOTENCY_KEY_REUSED: Final = Kind(
    "/problems/idempotency-key-reused", "Idempotency key reused", 422
)
IDEMPOTENCY_KEY_IN_USE: Final = Kind(
    "/problems/idempotency-key-in-use", "Idempotency key in use", 409
)

_BY_ERROR: Final[tuple[tuple[type[OptledgerError], Kind], ...]] = (
    (InvalidInput, INVALID_INPUT),
    (InvalidLinkToken, INVALID_INPUT),
    (AuthenticationFailed, UNAUTHENTICATED),
    (Forbidden, FORBIDDEN),
    (NotFound, NOT_FOUND),
    (Conflict, CONFLICT),
    (Unavailable, UNAVAILABLE),
)
_BY_STATUS: Final = {k.status: k for k in (NOT_FOUND, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE)}

_DESCRIPTIONS: Final = {
    400: "The body is not valid JSON (`/problems/malformed-json`), or the Idempotency-Key "
    "header is not 1 to 255 visible ASCII characters sent once "
    "(`/problems/invalid-idempotency-key`).",
    401: "No API key, or an unknown or revoked one (`/problems/unauthenticated`).",
    403: "The API key's scope does not allow this (`/problems/forbidden`).",
    404: "Not found in this tenant (`/problems/not-found`).",
    409: "Conflicts with the current state (`/problems/conflict`), or the Idempotency-Key "
    "is in use by a request still running (`/problems/idempotency-key-in-use`).",
    413: "The body is too large (`/problems/too-large`).",
    415: "The body's media type is not accepted (`/problems/unsupported-media-type`).",
    422: "The input is invalid (`/problems/invalid-input`), or the Idempotency-Key was "
    "used for another request (`/problems/idempotency-key-reused`).",
    429: "Too many requests from this API key, or too many of its bulk requests at once, "
    "or too many failed authentications from this client address; send it again after "
    "`Retry-After` seconds (`/problems/rate-limited`).",
    431: "Too many header fields, or too many bytes of request target and header fields "
    "(`/problems/headers-too-large`).",
    500: "An unexpected error (`/problems/internal`), logged under the `error_id` given.",
    503: "The database stayed busy or could not be reached; nothing was written. Send the "
    "same request again after `Retry-After` seconds (`/problems/unavailable`).",
}


_EXAMPLES: Final = {
    400: (MALFORMED_JSON, "The body is not valid JSON."),
    401: (UNAUTHENTICATED, "The API key is not valid."),
    403: (FORBIDDEN, "this needs a key with scope admin; this key has write"),
    404: (NOT_FOUND, "contact 'user-42' was not found"),
    409: (CONFLICT, "key: a topic 'news' already exists"),
    413: (TOO_LARGE, "The body must be at most 1048576 bytes."),
    415: (UNSUPPORTED_MEDIA_TYPE, "The body must be application/json."),
    422: (INVALID_INPUT, "The input is invalid."),
    429: (
        RATE_LIMITED,
        "This API key sent too many requests; send it again in 1 seconds.",
    ),
    431: (
        HEADERS_TOO_LARGE,
        "A request may have at most 100 header fields and 32768 bytes of request target "
        "and header fields.",
    ),
    500: (INTERNAL, "An unexpected error; it is logged with error id e3b0c44298fc1c14."),
    503: (UNAVAILABLE, "the database stayed locked by another process; try again"),
}
"""One problem of each status, as the OpenAPI document shows it."""


def _problem_content(status: int) -> dict[str, Any]:
    """The problem+json content of a response; with an example where `_EXAMPLES` has one
    (tests/functional/rest/test_openapi.py wants one for every status)."""
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    if status in _EXAMPLES:
        content["example"] = _example(status)
    return content


def _example(status: int) -> dict[str, Any]:
    kind, detail = _EXAMPLES[status]
    example: dict[str, Any] = {"type": kind.type, "title": kind.title, "status": kind.status}
    if detail is not None:
        example["detail"] = detail
    if kind is INVALID_INPUT:
        example["errors"] = [{"field": "topics[0]", "reason": "unknown topic"}]
    return example


class HttpProblem(Exception):
    """A problem the door itself finds (a missing key, a wrong media type)."""

    def __init__(
        self, kind: Kind, detail: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})


def problem_response(
    kind: Kind,
    *,
    detail: str | None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
) -> JSONResponse:
    problem = Problem(
        type=kind.type,
        title=title or kind.title,
        status=kind.status,
        detail=detail,
        errors=[FieldProblem(field=e.field, reason=e.reason) for e in errors] or None,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=kind.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of a route for these statuses, plus those any request can
    get: 429, 431, 500 and 503."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: _problem_content(status)},
        }
        for status in (*statuses, 429, 431, 500, 503)
    }


_METHODS: Final = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of the application a problem+json response."""
    app.add_exception_handler(OptledgerError, _domain_error)
    app.add_exception_handler(HttpProblem, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_exception)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OptledgerError)
    kind = next((k for error, k in _BY_ERROR if isinstance(exc, error)), None)
    if kind is None:
        raise exc  # not one this door expects: the guard answers 500
    if isinstance(exc, InvalidInput):
        return problem_response(kind, detail="The input is invalid.", errors=exc.errors)
    if isinstance(exc, InvalidLinkToken):
        return problem_response(
            kind, detail="The input is invalid.", errors=[FieldError("token", exc.message)]
        )
    headers = {"WWW-Authenticate": "Bearer"} if kind is UNAUTHENTICATED else None
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem_response(kind, detail=exc.message, headers=headers)


async def _http_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HttpProblem)
    return problem_response(exc.kind, detail=exc.detail, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return _malformed("is not valid JSON")
    errors = [FieldError(_field(p.get("loc", ())), str(p.get("msg", ""))) for p in problems]
    return problem_response(INVALID_INPUT, detail="The input is invalid.", errors=errors)


def _field(loc: Sequence[object]) -> str:
    """`("body", "messages", 2, "address")` as `messages[2].address`, the domain's spelling."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        location = str(parts.pop(0))
        if not parts:
            return location
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _malformed(reason: str) -> JSONResponse:
    return problem_response(
        MALFORMED_JSON, detail="The body is not valid JSON.", errors=[FieldError("body", reason)]
    )


def _unreadable_body(request: Request, cause: BaseException) -> JSONResponse:
    """FastAPI's answer to a body its JSON parser gave up on (a bare 400 "There was an
    error parsing the body"), as this door's own problem."""
    if declares_foreign_charset(request.headers.get("content-type", "")):
        return problem_response(UNSUPPORTED_MEDIA_TYPE, detail=FOREIGN_CHARSET)
    if isinstance(cause, RecursionError):
        return _malformed("is nested too deeply")
    if isinstance(cause, UnicodeDecodeError):
        return _malformed("is not valid UTF-8")
    return _malformed("is not valid JSON")


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == HTTPStatus.BAD_REQUEST and exc.__cause__ is not None:
        return _unreadable_body(request, exc.__cause__)
    known = _BY_STATUS.get(exc.status_code)
    phrase = HTTPStatus(exc.status_code).phrase
    kind = known or Kind("about:blank", phrase, exc.status_code)
    headers = exc.headers
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_response(kind, detail=exc.detail or phrase, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route answers on this path. Starlette's own `Allow` names only
    the methods of the first route that matched the path, so a path with separate `GET`
    and `POST` routes advertised one of them (RFC 9110 section 15.5.6 wants them all)."""
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    )
