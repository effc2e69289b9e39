"""The hosted pages, mounted at /u: the RFC 8058 one-click POST, the landing page of an
unsubscribe link, undo, and the preference centre. Localised, without JavaScript.

A plain Starlette application, not part of the REST door's OpenAPI document: its errors are
pages (or short text for the one-click door), never problem+json. See docs/pages.md.
"""

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from optledger.api.pages.i18n import load_translations, page_locales
from optledger.api.pages.render import LOCALES_DIR, Renderer, plain
from optledger.api.pages.routes import Handler, PageHandlers
from optledger.api.pages.throttling import LinkThrottle
from optledger.api.redirects import relative_slash_redirects
from optledger.config import DEFAULT_LIMITS, RequestLimits
from optledger.services import Services

__all__ = ["create_pages_app"]


def create_pages_app(
    *,
    services: Services,
    limits: RequestLimits = DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The hosted pages as an ASGI application, to mount at /u.

    Loads every template environment and message catalog now, so a missing compiled
    catalog (.mo) stops the application at start-up (MissingCatalogError), not at the
    first request. The routes of a link are rate limited as throttling.py says, unless
    `limits` turns rate limits off; `clock` tells their seconds (monotonic).
    """
    renderer = Renderer(locales=page_locales(), translations=load_translations(LOCALES_DIR))
    pages = PageHandlers(links=services.links, renderer=renderer)
    throttle = LinkThrottle(limits, clock=clock) if limits.rate_limits else None

    def link(name: str, handler: Handler) -> Handler:
        guarded = pages.guarded(name, handler)
        return guarded if throttle is None else throttle.wrap(guarded)

    routes = [
        Route("/assets/{name}", pages.guarded("asset", pages.asset), methods=["GET"]),
        Route("/{token}", link("link", pages.link), methods=["GET", "POST", "OPTIONS"]),
        Route("/{token}/leave", link("leave", pages.leave), methods=["POST", "OPTIONS"]),
        Route("/{token}/undo", link("undo", pages.undo), methods=["POST", "OPTIONS"]),
        Route(
            "/{token}/preferences",
            link("preferences", pages.preferences),
            methods=["GET", "POST", "OPTIONS"],
        ),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    relative_slash_redirects(app.router)
    return app


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Routing errors (no such page, a method a page does not take) as short text."""
    assert isinstance(exc, HTTPException)
    text = "Not found.\n" if exc.status_code == 404 else f"{exc.detail}.\n"
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette lists a route's methods in set order
        methods = {m.strip() for m in headers["Allow"].split(",")}
        headers["Allow"] = ", ".join(sorted(methods, key=_METHOD_ORDER.index))
    return plain(text, status=exc.status_code, headers=headers)


_METHOD_ORDER = ("GET", "HEAD", "POST", "OPTIONS")
