"""The application factory, the endpoints every deployment needs (health and readiness)
and the mounting of every HTTP door."""

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from optledger import __version__
from optledger.api.explorer import install_api_explorer
from optledger.api.express import ExpressFastAPI
from optledger.api.guard import ErrorGuard, describe
from optledger.api.headers import HeaderLimits
from optledger.api.pages import create_pages_app
from optledger.api.redirects import relative_slash_redirects
from optledger.api.rest import install_rest_api
from optledger.config import DEFAULT_LIMITS, RequestLimits
from optledger.services import Services

__all__ = ["create_app"]

_log = logging.getLogger(__name__)
_OPENAPI_URL: Final = "/openapi.json"

_DESCRIPTION = """\
The native REST API of optledger. Authenticate with an API key:
`Authorization: Bearer olk_…`; its scope (`check` < `write` < `admin`) decides what it
may do, and it sees only its own tenant. Bodies are JSON of at most 1 MiB (suppression
imports: CSV or NDJSON up to 100 MiB). Errors are `application/problem+json` (RFC 9457)
with a stable `type`. Every `POST` accepts an `Idempotency-Key`. Each operation names
the scope its key needs (`x-required-scope`, and its `security` requirement).
"""


class Health(BaseModel):
    """The process is up."""

    status: Literal["ok"] = Field(description="Always `ok`.", examples=["ok"])


class Readiness(BaseModel):
    """Whether the process can take traffic."""

    status: Literal["ready", "unavailable"] = Field(
        description="`ready`, or `unavailable` while the database does not answer.",
        examples=["ready"],
    )


def create_app(
    *,
    services: Services,
    ready: Callable[[], bool],
    on_shutdown: Callable[[], None] | None = None,
    limits: RequestLimits = DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The optledger ASGI application.

    `ready` answers whether the service can take traffic (its database is reachable); it
    is called on every `GET /readyz`, in the thread pool since it may block.
    `on_shutdown` runs once when the server shuts down (ASGI lifespan), after the last
    request has been answered: whoever built the services closes them there, because
    some servers end the process right after shutdown (uvicorn re-raises SIGTERM).
    `limits` are the request limits of every door (docs/decisions/0011-rate-limits.md);
    `clock` tells the seconds their rate limits count in (monotonic).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_warm_up, services)
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    app = ExpressFastAPI(
        title="optledger",
        version=__version__,
        summary="Consent ledger: may we contact this address, on this channel, about this topic?",
        description=_DESCRIPTION,
        debug=False,
        lifespan=lifespan,
        openapi_url=_OPENAPI_URL,
        docs_url=None,  # install_api_explorer: Swagger UI from the package, not a CDN
        redoc_url=None,
    )
    app.state.services = services

    @app.get(
        "/healthz", tags=["operations"], operation_id="getHealth", summary="Is the process up?"
    )
    def healthz() -> Health:
        """The process is up. Does not touch the database."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="getReadiness",
        summary="Can the process serve requests?",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready for traffic"}},
    )
    def readyz() -> JSONResponse:
        """The process can serve requests: its database answers."""
        if _safely(ready):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    install_rest_api(app, services=services, limits=limits, clock=clock)
    install_api_explorer(app, openapi_url=_OPENAPI_URL)
    app.mount("/u", create_pages_app(services=services, limits=limits, clock=clock))
    relative_slash_redirects(app.router)
    app.add_middleware(HeaderLimits, limits=limits)
    app.add_middleware(ErrorGuard)  # added last: the outermost, around every door
    return app


def _warm_up(services: Services) -> None:
    """The checks' reads made once before the first request (`CheckService.warm_up`); a
    database that does not answer yet is no reason not to start (`/readyz` says so)."""
    try:
        services.checks.warm_up()
    except Exception as exc:
        _log.warning("the checks could not be warmed up: %s", describe(exc))


def _safely(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception as exc:
        _log.error("readiness check failed: %s", describe(exc))
        return False
