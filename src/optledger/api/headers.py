"""The cap on request heads: too many header fields, or too many bytes in the request
target and the header fields, answer `431 Request Header Fields Too Large` before any
route runs.

`HeaderLimits` is the ASGI middleware that holds the cap under any server. `optledger
serve` also enforces it while reading (`optledger.api.protocol`), so a head over the cap
is never buffered whole. Both measure alike: the raw request target (path and query) and
each header field's name and value, without separators.

The answer speaks the door's language: problem+json under `/v1/`, short text elsewhere.
"""

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from optledger.api.rest.errors import HEADERS_TOO_LARGE, PROBLEM_MEDIA_TYPE, problem_response
from optledger.config import RequestLimits

__all__ = ["HEADERS_TOO_LARGE_TEXT", "HeaderLimits", "head_bytes", "refusal"]

HEADERS_TOO_LARGE_TEXT: Final = "Request header fields too large.\n"
_TEXT_MEDIA_TYPE: Final = "text/plain; charset=utf-8"
_REST_PREFIX: Final = "/v1/"


def refusal(*, path: str, max_headers: int, max_bytes: int) -> tuple[str, bytes]:
    """The media type and body of the 431 answer to a request for `path`."""
    if path.startswith(_REST_PREFIX):
        detail = (
            f"A request may have at most {max_headers} header fields and {max_bytes} bytes "
            "of request target and header fields."
        )
        return PROBLEM_MEDIA_TYPE, bytes(problem_response(HEADERS_TOO_LARGE, detail=detail).body)
    return _TEXT_MEDIA_TYPE, HEADERS_TOO_LARGE_TEXT.encode()


def head_bytes(scope: Scope) -> int:
    """The size of the request head as the cap counts it."""
    query: bytes = scope.get("query_string", b"")
    target = len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0)
    return target + sum(len(name) + len(value) for name, value in scope["headers"])


class HeaderLimits:
    """ASGI middleware answering 431 to an HTTP request whose head is over the cap."""

    def __init__(self, app: ASGIApp, *, limits: RequestLimits) -> None:
        self._app = app
        self._max_headers = limits.max_headers
        self._max_bytes = limits.max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            len(scope["headers"]) > self._max_headers or head_bytes(scope) > self._max_bytes
        ):
            media_type, body = refusal(
                path=scope["path"], max_headers=self._max_headers, max_bytes=self._max_bytes
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", media_type.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)
