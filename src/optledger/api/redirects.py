"""Trailing-slash redirects that never trust the `Host` header.

Starlette answers a path that matches a route only with (or without) a trailing slash
with a redirect to an absolute URL it builds from the request's `Host` header, which the
client chooses: `/u/{token}/` with `Host: evil.example` redirected to
`http://evil.example/u/{token}`. `relative_slash_redirects` replaces that with the same
redirect (307, so the method and body are kept) to a relative reference, the request's
own path (as sent, still percent-encoded) and query. A path that would start with `//`
or `/\\` (a reference to another host, for a browser) is not redirected: it answers what
the router answers for a path it does not know.
"""

from typing import Final

from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send

__all__ = ["relative_slash_redirects"]

_STATUS: Final = 307


def relative_slash_redirects(router: Router) -> None:
    """Make `router` redirect between `/path/` and `/path` with a relative `Location`."""
    not_found = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        location = _other_slash_form(router, scope)
        if location is None:
            await not_found(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": _STATUS,
                "headers": [(b"location", location), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    router.default = default


def _other_slash_form(router: Router, scope: Scope) -> bytes | None:
    """The relative reference of the request's path with its trailing slash added or
    removed, if a route matches that; None otherwise."""
    if scope["type"] != "http":
        return None
    path: str = scope["path"]
    raw_path: bytes = scope.get("raw_path") or path.encode("utf-8")
    if path.endswith("/") != raw_path.endswith(b"/"):
        return None  # the slash is an encoded one (`%2F`): not a trailing slash
    if path.endswith("/"):
        other, raw_other = path.rstrip("/"), raw_path.rstrip(b"/")
    else:
        other, raw_other = path + "/", raw_path + b"/"
    root = str(scope.get("root_path", ""))
    if other in ("", root, root + "/") or raw_other.startswith((b"//", b"/\\")):
        return None
    if not raw_other.startswith(b"/"):
        return None
    candidate = {**scope, "path": other}
    if not any(route.matches(candidate)[0] is not Match.NONE for route in router.routes):
        return None
    query: bytes = scope.get("query_string", b"")
    return raw_other + b"?" + query if query else raw_other
