"""Unsubscribe links and the List-Unsubscribe headers that carry them.

The token in a link is opaque: a keyring (a port, implemented with authenticated
encryption) seals `LinkClaims` into it and opens them again. The address is never in the
link in clear.
"""

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ONE_CLICK_POST", "LinkClaims", "ListUnsubscribeHeaders", "list_unsubscribe_headers"]

ONE_CLICK_POST = "List-Unsubscribe=One-Click"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    tenant_id: int
    address_id: int
    topic_id: int | None
    """None: the link offers to leave every topic."""
    message_id: int | None
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class ListUnsubscribeHeaders:
    list_unsubscribe: str
    list_unsubscribe_post: str


def unsubscribe_url(*, public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/u/{token}"


def list_unsubscribe_headers(*, url: str) -> ListUnsubscribeHeaders:
    """The RFC 2369 and RFC 8058 header values for a one-click link.

    RFC 2369 wants each URI in angle brackets (Gmail shows no button otherwise); RFC 8058
    wants exactly one key/value pair in List-Unsubscribe-Post.
    """
    if any(ch in url for ch in "<>, \r\n"):
        raise ValueError("an unsubscribe URL must not contain '<', '>', ',', spaces or newlines")
    return ListUnsubscribeHeaders(list_unsubscribe=f"<{url}>", list_unsubscribe_post=ONE_CLICK_POST)
