"""The cap on request bodies: 1 MiB of JSON, 100 MiB for a suppression import.

A body whose declared `Content-Length` is over the cap is refused before it is read; a
body without one (chunked) is counted as it is received, and reading stops with `413`
as soon as it passes the cap, so no more than the cap is ever buffered or consumed.

Reading stops by raising `BodyTooLarge` from `receive`. Inside a route the application's
own error handling answers it; a middleware between this one and the routes (the
idempotency middleware spools bodies itself) does not handle it, so this middleware
answers the `413` itself when the exception reaches it before a response has started.
"""

from collections.abc import Mapping
from typing import Final

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optledger.api.rest.errors import TOO_LARGE, problem_response

__all__ = ["BodyLimits", "BodyTooLarge"]

_PREFIX: Final = "/v1/"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes its cap; the app answers `413`."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"The body must be at most {limit} bytes.")


class BodyLimits:
    """ASGI middleware capping the bodies of `/v1/…` requests: `default` bytes, or the
    cap `by_path` names for a path."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: Mapping[str, int]) -> None:
        self._app = app
        self._default = default
        self._by_path = dict(by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(_PREFIX):
            await self._app(scope, receive, send)
            return
        limit = self._by_path.get(str(scope["path"]), self._default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = problem_response(TOO_LARGE, detail=BodyTooLarge(limit).detail)
            await response(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await problem_response(TOO_LARGE, detail=exc.detail)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared `Content-Length` (the first, as Starlette's `Headers` reads it), if a
    number. A scan of the raw fields: ASGI names are lowercase, and a `Headers` built per
    request, raising `KeyError` inside for the many requests without a body, cost more."""
    for name, raw in scope["headers"]:
        if name == b"content-length":
            value: str = raw.decode("latin-1")
            return int(value) if value.isascii() and value.isdigit() else None
    return None
