"""The hosted pages' rate limits (docs/decisions/0011-rate-limits.md).

Mail providers send RFC 8058 one-click POSTs for many people from a few addresses, so no
limit here may refuse a usable link because of where it came from. What is counted:

- per client address, requests whose link token cannot be used (the routes answer every
  such request with the same 404): beyond the address's bucket, those answer 429. A
  usable link from the same address goes on working;
- per link token, POSTs: beyond the token's bucket, its further POSTs answer 429. A
  link's first POST (its one-click opt-out) always finds a full bucket.

Tokens are counted by `hash()`, so the tables hold no token. Refusals are short text
with `Retry-After`, like the rest of the one-click door.
"""

from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from optledger.api.pages.render import plain
from optledger.api.pages.routes import Handler
from optledger.api.throttle import TokenBuckets, client_key, retry_after
from optledger.config import RequestLimits

__all__ = ["LinkThrottle"]

_UNUSABLE_LINK: Final = 404
"""What every route of a link answers when its token cannot be used (routes.py)."""


class LinkThrottle:
    """Wraps the routes of a link (`/u/{token}…`) with the limits above."""

    def __init__(self, limits: RequestLimits, *, clock: Callable[[], float]) -> None:
        self._failures: TokenBuckets[str] = TokenBuckets(limits.link_failures, clock=clock)
        self._posts: TokenBuckets[int] = TokenBuckets(limits.link_posts, clock=clock)

    def wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                wait = self._posts.take(hash(request.path_params["token"]))
                if wait:
                    return _too_many(wait)
            response = await handler(request)
            if response.status_code == _UNUSABLE_LINK:
                wait = self._failures.take(
                    client_key(request.client.host if request.client else None)
                )
                if wait:
                    return _too_many(wait)
            return response

        return endpoint


def _too_many(wait: float) -> Response:
    seconds = retry_after(wait)
    return plain(
        f"Too many requests: try again in {seconds} seconds.\n",
        status=429,
        headers={"Retry-After": seconds},
    )
