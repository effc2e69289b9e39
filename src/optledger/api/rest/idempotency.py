"""`Idempotency-Key` on every `POST` under `/v1`: a pure ASGI middleware.

The contract is in docs/api.md ("Idempotency"); the keeping of responses, their sealing,
their expiry and the trade-offs are in `optledger.services.idempotency`. This module is
the REST door's part: it reads the request, decides, and replays or records the response.

What it touches: only `POST` requests whose path is under `/v1` and that carry an
`Idempotency-Key` header, except the read-only ones (`READ_ONLY_POSTS`). Everything else
(other methods, other paths, requests without the header, streamed uploads and
downloads, websockets, lifespan) goes to the application untouched, so streaming
responses of ordinary requests stay streamed.

For a request it touches:

1. Authenticate. Keys are scoped to the bearer API key (its tenant and its id), so the
   middleware asks `services.tenants.authenticate` itself (in the event loop, like the
   routes' own authentication: a key is nearly always known to the process already).
   No valid API key: the request passes through untouched and the route answers `401`
   as it would without the header.
2. Authorise. The route the request is for names the scope it needs (its
   `require(scope)` dependency, read with `auth.required_scope`). A request no route
   takes, or from a key whose scope is too low, passes through untouched, before the
   header is even looked at: the route answers `404`, `405` or `403` exactly as it would
   without the header, whether or not the idempotency key was ever used. So a response
   is only ever replayed to a key that may make the request, and nothing tells a key
   whether some other key used an idempotency key.
3. Check the header: exactly one, 1 to 255 visible ASCII characters. Otherwise `400`
   problem `/problems/invalid-idempotency-key` naming the header.
4. Read the whole body into a spool (memory up to `MAX_BODY`, a temporary file beyond,
   so a 100 MiB suppression import is not held in memory; the outer body limits cap the
   size per path, and answer `413` themselves when a chunked body passes the cap). The
   fingerprint is the SHA-256 of method, raw path, query string and the body's SHA-256,
   computed as the body arrives.
5. Look the key up. A kept response with the same fingerprint is replayed: its status,
   `Content-Type` and body byte for byte, plus `Idempotency-Replayed: true`; the route
   does not run, so nothing is written again. A kept response with another fingerprint:
   `422` problem `/problems/idempotency-key-reused`.
6. Claim the key in this process (`IdempotencyService.claim`); if a request with it is
   still running: `409` problem `/problems/idempotency-key-in-use`. Having claimed it,
   look it up once more (the first request may have finished between 5 and 6).
7. Run the application with the spooled body fed back in chunks, and capture its response
   (status, headers, body) instead of sending it. Below 500 it is stored (sealed under
   the caller's API key secret), then sent; a 5xx is sent and not stored, so a retry
   runs again. An exception from the application propagates (the outermost guard answers
   `500`) and nothing is stored. The key is released in every case.

The response is stored before it is sent, so a client that has heard an answer can rely
on a retry being replayed. Should storing fail, the request's own write has happened
anyway; the response is still sent (a retry would run the use case again, which for
consent changes records a `repeated` event) and the failure is logged, by its type only.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import Final

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optledger.api.completions import LoopCompletion
from optledger.api.guard import describe
from optledger.api.rest.auth import required_scope
from optledger.api.rest.errors import (
    IDEMPOTENCY_KEY_IN_USE,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_IDEMPOTENCY_KEY,
    PROBLEM_MEDIA_TYPE,
    Kind,
)
from optledger.domain.errors import AuthenticationFailed
from optledger.services import Services
from optledger.services.idempotency import StoredResponse, fingerprint, is_valid_key
from optledger.services.results import Principal

__all__ = ["HEADER", "MAX_BODY", "READ_ONLY_POSTS", "REPLAYED_HEADER", "IdempotencyMiddleware"]

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotency-Replayed"
READ_ONLY_POSTS: Final = frozenset({"/v1/checks/list"})
"""POSTs that change nothing and whose answer is a stream too long to keep (a list check):
like a GET, they take no Idempotency-Key; one sent is ignored and a retry is answered
afresh (decision 0025)."""
MAX_BODY: Final = 1024 * 1024
"""Bodies up to this size are spooled in memory, larger ones (imports) on disk."""
_FEED_CHUNK: Final = 64 * 1024


_HEADER_NAME: Final = HEADER.lower().encode("latin-1")
_REPLAYED: Final = (REPLAYED_HEADER.lower().encode("latin-1"), b"true")
_BUFFERED_EXTENSIONS: Final = frozenset({"http.response.pathsend", "http.response.zerocopy"})
"""Response extensions the capture cannot buffer; hidden from the wrapped application."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Caller:
    """The authenticated sender of a request: its principal and its API key's secret
    (which seals and opens the responses kept for it)."""

    principal: Principal
    secret: str


class IdempotencyMiddleware:
    """Replays the first response to a repeated `Idempotency-Key` (see the module doc).

    Add it with `app.add_middleware(IdempotencyMiddleware, services=services,
    router=app.router)`; `router` holds the routes whose scopes it checks.
    """

    def __init__(self, app: ASGIApp, *, services: Services, router: Router) -> None:
        self.app = app
        self._services = services
        self._router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _applies(scope):
            await self.app(scope, receive, send)
            return
        keys: list[bytes] = [value for name, value in scope["headers"] if name == _HEADER_NAME]
        if not keys:
            await self.app(scope, receive, send)
            return
        caller = await self._caller(scope)
        if caller is None or not self._may_make(caller.principal, scope):
            await self.app(scope, receive, send)
            return
        key = _valid_key(keys)
        if key is None:
            await _send_problem(
                send,
                kind=INVALID_IDEMPOTENCY_KEY,
                detail=f"{HEADER}: must be sent once, as 1 to 255 visible ASCII characters",
                errors=[{"field": HEADER, "reason": "must be 1 to 255 visible ASCII characters"}],
            )
            return
        body = await _spool(receive)
        if body is None:
            return  # the client disconnected before sending its whole body
        with body.file:
            request_fingerprint = fingerprint(
                method=scope["method"],
                path=scope.get("raw_path") or scope["path"].encode("utf-8"),
                query=scope.get("query_string", b""),
                body_sha256=body.sha256,
            )
            await self._handle(
                scope, receive, send, caller=caller, key=key, request=request_fingerprint, body=body
            )

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        caller: _Caller,
        key: str,
        request: str,
        body: "_Spooled",
    ) -> None:
        idempotency = self._services.idempotency
        principal = caller.principal
        stored = idempotency.find(principal=principal, credential=caller.secret, key=key)
        if stored is not None:
            await _answer_from(stored, request, send)
            return
        if not idempotency.claim(principal=principal, key=key):
            await _send_in_use(send)
            return
        try:
            stored = idempotency.find(principal=principal, credential=caller.secret, key=key)
            if stored is not None:
                await _answer_from(stored, request, send)
                return
            response = await _capture(self.app, scope, body, receive)
            if response.status < 500 and response.complete:
                kept = await self._store(response, caller=caller, key=key, request=request)
                if kept is not None and kept.fingerprint == request and not response.is_(kept):
                    # Another process stored this key's first response while this one ran.
                    await _replay(kept, send)
                    return
            await response.send_to(send)
        finally:
            idempotency.release(principal=principal, key=key)

    async def _caller(self, scope: Scope) -> _Caller | None:
        """Who sent the request, by its bearer API key; None if it has no valid one."""
        secret = _bearer(scope)
        if secret is None:
            return None
        try:
            principal = self._services.tenants.authenticate(secret=secret)
        except AuthenticationFailed:
            return None
        return _Caller(principal=principal, secret=secret)

    def _may_make(self, principal: Principal, scope: Scope) -> bool:
        """Whether some route takes this request and the caller's key has the scope it
        needs (a route that names no scope needs none)."""
        route = _route_for(self._router.routes, scope)
        if route is None:
            return False
        needed = required_scope(route)
        return needed is None or principal.scope.allows(needed)

    async def _store(
        self, response: "_Captured", *, caller: _Caller, key: str, request: str
    ) -> StoredResponse | None:
        try:
            kept: LoopCompletion[StoredResponse] = LoopCompletion()
            self._services.idempotency.submit_store(
                principal=caller.principal,
                credential=caller.secret,
                key=key,
                fingerprint=request,
                status=response.status,
                content_type=response.content_type,
                body=response.body,
                completion=kept,
            )
            return await kept
        except Exception as exc:  # the response is sent all the same
            _log.error(
                "the response to an idempotent request could not be stored: %s", describe(exc)
            )
            return None


def _route_for(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that takes this request (its path and its method), as the router will
    pick it: the first that matches; None if none does."""
    path: str = scope["path"]
    method: str = scope["method"]
    for context in iter_route_contexts(routes):
        methods = context.methods
        if methods is None or method not in methods:
            continue
        if context.path_regex.match(path) is not None:
            return context.original_route
    return None


def _applies(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path: str = scope["path"]
    return (path == "/v1" or path.startswith("/v1/")) and path not in READ_ONLY_POSTS


def _valid_key(values: list[bytes]) -> str | None:
    if len(values) != 1:
        return None
    key = values[0].decode("latin-1")
    return key if is_valid_key(key) else None


def _bearer(scope: Scope) -> str | None:
    values: list[bytes] = [value for name, value in scope["headers"] if name == b"authorization"]
    if len(values) != 1:
        return None
    scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@dataclass(frozen=True, slots=True)
class _Spooled:
    """A request body kept in memory up to `MAX_BODY` and on disk beyond, with its SHA-256.

    The body must be whole before its fingerprint is known; spooling keeps a 100 MiB
    suppression import out of memory while it waits. The outer body limits cap its size.
    """

    file: "SpooledTemporaryFile[bytes]"
    sha256: bytes


async def _spool(receive: Receive) -> _Spooled | None:
    """Read the whole body; None if the client disconnects first. An exception from
    `receive` (the body limit's) propagates, the spool closed."""
    # Closed by the caller, which holds it in `with body.file` while the request runs.
    spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=MAX_BODY)  # noqa: SIM115
    digest = hashlib.sha256()
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                spool.close()
                return None
            chunk: bytes = message.get("body", b"")
            digest.update(chunk)
            spool.write(chunk)
            if not message.get("more_body", False):
                spool.seek(0)
                return _Spooled(file=spool, sha256=digest.digest())
    except BaseException:
        spool.close()
        raise


def _feeding(body: _Spooled, receive: Receive) -> Receive:
    """A `receive` that hands the application the spooled body in chunks, then defers to
    `receive` (for the disconnect message)."""
    done = False

    async def feed() -> Message:
        nonlocal done
        if done:
            return await receive()
        chunk = body.file.read(_FEED_CHUNK)
        done = len(chunk) < _FEED_CHUNK
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return feed


class _Captured:
    """The response an application sent, held back."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.complete = False

    @property
    def status(self) -> int:
        assert self.start is not None
        status: int = self.start["status"]
        return status

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def content_type(self) -> str | None:
        assert self.start is not None
        for name, value in self.start.get("headers", ()):
            if bytes(name).lower() == b"content-type":
                return bytes(value).decode("latin-1")
        return None

    def is_(self, stored: StoredResponse) -> bool:
        """Whether `stored` is this very response (status, content type and body)."""
        return (stored.status, stored.content_type, stored.body) == (
            self.status,
            self.content_type,
            self.body,
        )

    async def send_to(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


async def _capture(app: ASGIApp, scope: Scope, body: _Spooled, receive: Receive) -> _Captured:
    """Run `app` on the spooled body and hold its response back."""
    captured = _Captured()
    extensions = scope.get("extensions") or {}
    if _BUFFERED_EXTENSIONS & extensions.keys():
        scope = {
            **scope,
            "extensions": {k: v for k, v in extensions.items() if k not in _BUFFERED_EXTENSIONS},
        }
    request = _feeding(body, receive)

    async def hold(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured.start = message
        elif message["type"] == "http.response.body" and not captured.complete:
            captured.chunks.append(bytes(message.get("body", b"")))
            captured.complete = not message.get("more_body", False)

    await app(scope, request, hold)
    if captured.start is None:
        raise RuntimeError("the application returned without starting a response")
    return captured


async def _answer_from(stored: StoredResponse, request: str, send: Send) -> None:
    if stored.fingerprint == request:
        await _replay(stored, send)
        return
    await _send_problem(
        send,
        kind=IDEMPOTENCY_KEY_REUSED,
        detail=(
            f"this {HEADER} was used within the last 24 hours for a different request "
            "(method, path, query or body); use a new key for a new request"
        ),
    )


async def _replay(stored: StoredResponse, send: Send) -> None:
    headers = [(b"content-length", str(len(stored.body)).encode("latin-1"))]
    if stored.content_type is not None:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    headers.append(_REPLAYED)
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


async def _send_in_use(send: Send) -> None:
    await _send_problem(
        send,
        kind=IDEMPOTENCY_KEY_IN_USE,
        detail=(
            f"a request with this {HEADER} is still being processed; "
            "retry once it has completed to get its response"
        ),
        extra_headers=[(b"retry-after", b"1")],
    )


async def _send_problem(
    send: Send,
    *,
    kind: Kind,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An RFC 9457 problem: `{"type", "title", "status", "detail"}` (+ `errors`)."""
    problem: dict[str, object] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if errors is not None:
        problem["errors"] = errors
    body = json.dumps(problem, separators=(",", ":")).encode("utf-8")
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": kind.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
