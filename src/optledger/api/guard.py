"""The outermost guard of the HTTP application: an unexpected exception anywhere inside
becomes a plain 500 and one log line that carries no request data.

An exception's message can hold SQL, the values bound to it (addresses, phone numbers,
tokens) or the text of a request; a traceback printed by the server repeats it. So the
guard catches every exception a request raises, answers `500` (problem+json with type
`/problems/internal` on API paths, plain text on the hosted pages under `/u`), and logs
one line at ERROR: a random error id (also in the response, so a report can be matched
to the line), the exception's type and the optledger source line where it arose. Never
the message, the SQL, the path, the query string or the headers.

It is door-neutral and knows nothing of the doors' own error tables: each door still
answers its expected errors itself, and only what escapes them reaches the guard. If the
response had already started when the exception came, the guard can only log it; the
server then ends the connection.
"""

import json
import logging
import secrets
import traceback
from pathlib import Path
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorGuard", "describe"]

_log = logging.getLogger(__name__)

_PACKAGE: Final = Path(__file__).resolve().parents[1]
"""The `optledger` package directory, to find the package's frames in a traceback."""
_GUARD: Final = Path(__file__).resolve()
"""This module: its frame is in every traceback the guard catches, and says nothing."""
_PAGES_PREFIX: Final = "/u"
_PROBLEM_TYPE: Final = "/problems/internal"


def describe(error: BaseException) -> str:
    """What a log line may say about `error`: its type and the innermost optledger source
    line of its traceback, e.g. `sqlalchemy.exc.DataError at optledger/storage/cursor.py:210`.
    Never its message, which can carry SQL, parameters or personal data.
    """
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return describe(error.exceptions[0])
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    where = _optledger_line(error)
    return name if where is None else f"{name} at {where}"


def _optledger_line(error: BaseException) -> str | None:
    found: str | None = None
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(_PACKAGE) and path != _GUARD:
            found = f"{path.relative_to(_PACKAGE.parent).as_posix()}:{line}"
    return found


class ErrorGuard:
    """ASGI middleware: the last line of defence (see the module docstring). Add it after
    every other middleware, so it is the outermost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = _Progress(send)
        try:
            await self.app(scope, receive, response.send)
        except Exception as exc:
            error_id = secrets.token_hex(8)
            _log.error("request failed, error id %s: %s", error_id, describe(exc))
            if not response.started:
                await _answer(scope, send, error_id=error_id)


class _Progress:
    """Passes the application's messages on and remembers whether a response started."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _answer(scope: Scope, send: Send, *, error_id: str) -> None:
    path: str = scope.get("path", "")
    if path == _PAGES_PREFIX or path.startswith(f"{_PAGES_PREFIX}/"):
        media_type = "text/plain; charset=utf-8"
        body = f"Internal server error (error id {error_id}).\n".encode()
    else:
        media_type = "application/problem+json"
        problem = {
            "type": _PROBLEM_TYPE,
            "title": "Internal error",
            "status": 500,
            "detail": f"An unexpected error; it is logged with error id {error_id}.",
            "error_id": error_id,
        }
        body = json.dumps(problem, separators=(",", ":")).encode()
    headers = [
        (b"content-type", media_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
