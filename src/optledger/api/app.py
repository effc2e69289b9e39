"""The application factory and the endpoints every deployment needs: health and readiness."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from optledger import __version__
from optledger.services import Services

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]


def create_app(
    *,
    services: Services,
    ready: Callable[[], bool],
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The optledger ASGI application.

    `ready` answers whether the service can take traffic (its database is reachable); it
    is called on every `GET /readyz`, in the thread pool since it may block.
    `on_shutdown` runs once when the server shuts down (ASGI lifespan), after the last
    request has been answered: whoever built the services closes them there, because
    some servers end the process right after shutdown (uvicorn re-raises SIGTERM).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    app = FastAPI(title="optledger", version=__version__, debug=False, lifespan=lifespan)
    app.state.services = services
    app.add_exception_handler(Exception, _internal_error)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Health:
        """The process is up. Does not touch the database."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready for traffic"}},
    )
    def readyz() -> JSONResponse:
        """The process can serve requests: its database answers."""
        if _safely(ready):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    return app


def _safely(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        _log.exception("readiness check failed")
        return False


async def _internal_error(_request: Request, _exc: Exception) -> JSONResponse:
    """A bare 500: the traceback goes to the server log, never to the client."""
    return JSONResponse({"status": "error"}, status_code=500)
