"""The express lane: a request for one of the application's fixed paths, or for a mounted
door (the hosted pages), goes straight to what handles it.

Why: for a durable unsubscribe or a check, FastAPI's application stack (its telemetry,
body-limit and exit-stack middleware) and its router, which tries every route in turn
through the included routers, cost more than the work itself (BENCHMARKS.md, "the hot
paths"). For these requests a dict lookup finds the route.

What stays the same: the doors' middleware (`app.user_middleware`: the error guard, the
header and body limits, the failed-authentication gate, idempotency), in the same order
and with the same settings; the route's handler (its `DirectRoute` plan); the
application's exception handlers, found for an exception as Starlette's
`ExceptionMiddleware` finds them. What is not run is what these requests do not use: no
telemetry is configured, no FastAPI body limit is set (the doors' own limits cap every
body), and no route taken here has a dependency with `yield`.

Which requests: a method and path equal to those of a route with a fixed path (no path
parameters) and a direct handler, when no route before it would take the request; and
every path under the prefix of a mounted application, when no route before the mount
has a path under that prefix. Everything else goes through the application as before.
"""

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from optledger.api.rest.direct import DirectHandler, direct_handler

__all__ = ["ExpressFastAPI", "ExpressLane", "query_pairs"]

_ExceptionHandler = Callable[[Request, Exception], Any]
_UNHANDLED: Final = (500, Exception)
"""Keys of `exception_handlers` Starlette gives its outermost error middleware instead."""


class ExpressFastAPI(FastAPI):
    """FastAPI, with the express lane in front of it (built at the first request, when
    the application is complete)."""

    _express: "ExpressLane | None" = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._express is None:
                self._express = ExpressLane(self)
            if self._express.takes(scope):
                scope["app"] = self
                await self._express(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class ExpressLane:
    """Takes the requests described in the module docstring; build it once the
    application's routes, middleware and exception handlers are complete."""

    def __init__(self, app: FastAPI) -> None:
        handlers = {
            key: handler for key, handler in app.exception_handlers.items() if key not in _UNHANDLED
        }
        contexts = list(iter_route_contexts(app.routes))
        self._routes: dict[tuple[str, str], _RouteEndpoint] = {}
        for index, context in enumerate(contexts):
            for method, endpoint in _endpoints(context, handlers=handlers):
                path = str(context.path)
                if not _taken_before(contexts[:index], method=method, path=path):
                    self._routes.setdefault((method, path), endpoint)
        self._mounts = [
            (mount.path, mount)
            for index, route in enumerate(app.routes)
            if isinstance(route, Mount)
            and not _under_before(app.routes[:index], prefix=(mount := route).path)
        ]
        stack: ASGIApp = self._dispatch
        for middleware in reversed(app.user_middleware):
            stack = middleware.cls(stack, *middleware.args, **middleware.kwargs)
        self._stack = stack

    def takes(self, scope: Scope) -> bool:
        """Whether this lane handles the HTTP request `scope`."""
        path: str = scope["path"]
        if (scope["method"], path) in self._routes:
            return True
        return any(path == prefix or path.startswith(f"{prefix}/") for prefix, _ in self._mounts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._stack(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._routes.get((scope["method"], scope["path"]))
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        for _, mount in self._mounts:
            match, child_scope = mount.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                await mount.handle(scope, receive, send)
                return
        raise RuntimeError("the express lane was given a request it does not take")


def query_pairs(query: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query string, exactly as Starlette's `QueryParams`
    reads them (`urllib.parse.parse_qsl` of its latin-1 text, blank values kept), in a
    third of the time: a piece is unquoted only if it holds a `%` (parse_qsl's per-pair
    work was about a tenth of a check's CPU)."""
    pairs: list[tuple[str, str]] = []
    for piece in query.decode("latin-1").split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "+" in piece:
            name = name.replace("+", " ")
            value = value.replace("+", " ")
        pairs.append(
            (
                unquote(name) if "%" in name else name,
                unquote(value) if "%" in value else value,
            )
        )
    return pairs


class _Request(Request):
    """Starlette's request, with its query parameters read by `query_pairs`."""

    _query: QueryParams | None = None

    @property
    def query_params(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(query_pairs(self.scope["query_string"]))
        return self._query


class _RouteEndpoint:
    """One route's direct handler as an ASGI app, with the application's exception
    handlers around it."""

    def __init__(
        self,
        *,
        context: RouteContext,
        handler: DirectHandler,
        exception_handlers: Mapping[Any, _ExceptionHandler],
    ) -> None:
        self._route = context.original_route
        self._endpoint = context.endpoint
        self._handler = handler
        self._exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self._route
        scope["endpoint"] = self._endpoint
        scope["path_params"] = {}
        request = _Request(scope, receive, send)
        try:
            response = await self._handler.handle(request)
        except Exception as exc:
            handle = self._exception_handler(exc)
            if handle is None:
                raise
            response = await handle(request, exc)
        await response(scope, receive, send)

    def _exception_handler(self, exc: Exception) -> _ExceptionHandler | None:
        if isinstance(exc, HTTPException) and exc.status_code in self._exception_handlers:
            return self._exception_handlers[exc.status_code]
        for kind in type(exc).__mro__:
            if kind in self._exception_handlers:
                return self._exception_handlers[kind]
        return None


def _endpoints(
    context: RouteContext, *, handlers: Mapping[Any, _ExceptionHandler]
) -> list[tuple[str, _RouteEndpoint]]:
    """The (method, endpoint) pairs this route context can take in the express lane."""
    path = context.path
    if not isinstance(path, str) or context.param_convertors or not context.methods:
        return []
    handler = direct_handler(context.original_route, path=path)
    if handler is None or handler.uses_exit_stacks:
        return []
    endpoint = _RouteEndpoint(context=context, handler=handler, exception_handlers=handlers)
    return [(method, endpoint) for method in sorted(context.methods)]


def _taken_before(contexts: list[RouteContext], *, method: str, path: str) -> bool:
    """Whether a route among `contexts` (those before this one) takes `method path`."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    return any(context.matches(scope)[0] is Match.FULL for context in contexts)


def _under_before(routes: list[Any], *, prefix: str) -> bool:
    """Whether a route among `routes` (those before a mount) has a path under `prefix`."""
    return any(
        str(context.path or "").startswith(prefix) for context in iter_route_contexts(routes)
    )
