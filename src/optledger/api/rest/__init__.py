"""The native REST API, v1: the `/v1` router and what the application needs for it.

`docs/api.md` is the design this follows: API keys as bearer tokens, JSON bodies of at
most 1 MiB, RFC 9457 problem+json errors, cursor pagination.
"""

from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI

from optledger.api.rest import (
    checks,
    contacts,
    keys,
    messages,
    requests,
    subscriptions,
    suppressions,
    topics,
)
from optledger.api.rest.common import reject_unknown_query
from optledger.api.rest.errors import install_error_handlers
from optledger.api.rest.idempotency import IdempotencyMiddleware
from optledger.api.rest.limits import BodyLimits
from optledger.api.rest.openapi import complete_document
from optledger.api.rest.throttling import install_throttle
from optledger.config import RequestLimits
from optledger.services import Services

__all__ = ["MAX_JSON_BYTES", "install_rest_api"]

MAX_JSON_BYTES: Final = 1024 * 1024


def _router() -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(reject_unknown_query)])
    for module in (topics, keys, subscriptions, requests, checks, messages, contacts, suppressions):
        router.include_router(module.router)
    return router


def install_rest_api(
    app: FastAPI, *, services: Services, limits: RequestLimits, clock: Callable[[], float]
) -> None:
    """Mount `/v1`, turn every error of `app` into problem+json, and complete the OpenAPI
    document (`openapi.complete_document`: problem schemas, scopes, links, examples).

    Middleware order, outermost first: a client address with too many failed
    authentications is refused before anything runs (throttling.py); the body limits
    refuse oversize bodies before anything buffers them; then idempotency replays or
    records whole responses, for the callers whose keys may make the request (it checks
    the scope `app.router`'s routes require).
    """
    install_error_handlers(app)
    app.state.checks_together = checks.ChecksTogether(services.checks)
    app.include_router(_router())
    app.add_middleware(IdempotencyMiddleware, services=services, router=app.router)
    app.add_middleware(
        BodyLimits,
        default=MAX_JSON_BYTES,
        by_path={"/v1/suppressions/import": suppressions.MAX_IMPORT_BYTES},
    )
    install_throttle(app, limits=limits, clock=clock)
    generate = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        """FastAPI's document (which it caches until the routes change), completed once."""
        document = generate()
        if not completed or completed[0] is not document:
            complete_document(document, routes=app.routes)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way
