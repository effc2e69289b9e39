"""The REST door's rate limits (docs/decisions/0011-rate-limits.md): what it counts and
how it refuses.

- Per API key: every authenticated request takes a token from its key's bucket.
- Per API key and bulk operation: a number of requests running at once (`BulkChecker`,
  `BulkAdmin` in auth.py), so one key's bulk checks or imports cannot take the whole
  process from the one-click door.
- Per client address: every failed authentication takes a token; once the address's
  bucket is empty, `FailedAuthGate` answers its `/v1` requests 429 before anything else
  runs (no key is looked up, no body is read), until the bucket has refilled a token.

Every refusal is `429` problem `/problems/rate-limited` with `Retry-After` in seconds.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from optledger.api.rest.errors import RATE_LIMITED, HttpProblem, problem_response
from optledger.api.throttle import ConcurrencyLimit, TokenBuckets, client_key, retry_after
from optledger.config import RequestLimits

__all__ = [
    "BULK_RETRY_AFTER",
    "FailedAuthGate",
    "RestThrottle",
    "bulk_refused",
    "failed_authentication",
    "install_throttle",
    "key_refused",
    "rest_throttle",
]

BULK_RETRY_AFTER: Final = 1
"""Seconds a refused bulk request is told to wait: when a running one ends is unknown."""
_STATE: Final = "rest_throttle"
_PREFIX: Final = "/v1/"


@dataclass(frozen=True, slots=True)
class RestThrottle:
    """The REST door's tables, shared by every request of one application."""

    keys: TokenBuckets[int]
    """Requests by API key id."""
    failures: TokenBuckets[str]
    """Failed authentications by client address (`client_key`)."""
    bulk: ConcurrencyLimit[tuple[int, str]]
    """Bulk requests running, by API key id and operation."""

    @classmethod
    def of(cls, limits: RequestLimits, *, clock: Callable[[], float]) -> "RestThrottle | None":
        """The tables for `limits`, counting seconds by `clock`; None when rate limits
        are off."""
        if not limits.rate_limits:
            return None
        return cls(
            keys=TokenBuckets(limits.key_rate, clock=clock),
            failures=TokenBuckets(limits.auth_failures, clock=clock),
            bulk=ConcurrencyLimit(limits.key_bulk_concurrency),
        )


def install_throttle(app: FastAPI, *, limits: RequestLimits, clock: Callable[[], float]) -> None:
    """Give `app` the REST door's tables and put `FailedAuthGate` in front of what it
    has so far; nothing when rate limits are off."""
    throttle = RestThrottle.of(limits, clock=clock)
    if throttle is None:
        return
    setattr(app.state, _STATE, throttle)
    app.add_middleware(FailedAuthGate, throttle=throttle)


def rest_throttle(request: Request) -> RestThrottle | None:
    """The application's tables; None if it has none (rate limits off)."""
    throttle: RestThrottle | None = getattr(request.app.state, _STATE, None)
    return throttle


def failed_authentication(request: Request) -> HttpProblem | None:
    """Count a failed authentication from the request's client address; the 429 to
    answer instead of 401 if the address has none left."""
    throttle = rest_throttle(request)
    if throttle is None:
        return None
    wait = throttle.failures.take(client_key(request.client.host if request.client else None))
    return _failures_refused(wait) if wait else None


def key_refused(request: Request, *, key_id: int) -> HttpProblem | None:
    """Count a request of API key `key_id`; the 429 to answer if it has none left."""
    throttle = rest_throttle(request)
    if throttle is None:
        return None
    wait = throttle.keys.take(key_id)
    if not wait:
        return None
    seconds = retry_after(wait)
    return HttpProblem(
        RATE_LIMITED,
        f"This API key sent too many requests; send it again in {seconds} seconds.",
        headers={"Retry-After": seconds},
    )


def bulk_refused(operation: str) -> HttpProblem:
    return HttpProblem(
        RATE_LIMITED,
        f"This API key already has as many {operation} requests running as it may; send it "
        "again when one has finished.",
        headers={"Retry-After": str(BULK_RETRY_AFTER)},
    )


def _failures_refused(wait: float) -> HttpProblem:
    seconds = retry_after(wait)
    return HttpProblem(
        RATE_LIMITED,
        "Too many failed authentications from this client address; send it again in "
        f"{seconds} seconds.",
        headers={"Retry-After": seconds},
    )


class FailedAuthGate:
    """ASGI middleware: a `/v1` request from a client address whose failed
    authentications used up its bucket answers 429 at once."""

    def __init__(self, app: ASGIApp, *, throttle: RestThrottle) -> None:
        self._app = app
        self._failures = throttle.failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(_PREFIX):
            client = scope.get("client")
            wait = self._failures.wait(client_key(client[0] if client else None))
            if wait:
                refused = _failures_refused(wait)
                response = problem_response(
                    refused.kind, detail=refused.detail, headers=refused.headers
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)
