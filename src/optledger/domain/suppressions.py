"""Who made a suppression, read from its reason.

A suppression ("stop everything" on one address) is made by the person themselves (an
unsubscribe with no topic, through any door: a hosted page, a one-click POST, an API call
the sender makes on the person's behalf, a completed unsubscribe request), or by someone
else: a spam complaint, a bounce, or the sender's operator (an import, an erasure, a
reason we cannot attribute). Only the person may lift their own suppression through the
link in a message: a forwarded message's reader must never lift a complaint or a bounce.

The reason is free text (up to 200 characters from an import), so the rule errs one
way: a suppression is the person's own only when its reason says so in words we know;
anything else, a plain `imported` included, is not.
"""

import re
from enum import StrEnum
from typing import Final

__all__ = [
    "BOUNCED",
    "COMPLAINED",
    "UNSUBSCRIBED",
    "SuppressionOrigin",
    "suppression_origin",
]

UNSUBSCRIBED: Final = "unsubscribed"
"""The reason every door writes for a person's own "stop everything"."""
COMPLAINED: Final = "complained"
"""The reason for a spam complaint (a feedback loop, an email provider's event)."""
BOUNCED: Final = "bounced"
"""The reason for an address that cannot receive messages (a hard bounce)."""


class SuppressionOrigin(StrEnum):
    PERSON = "person"
    """The person asked to stop everything."""
    COMPLAINT = "complaint"
    """The person, or their mailbox provider for them, reported a message as spam."""
    BOUNCE = "bounce"
    """The address could not receive messages."""
    OPERATOR = "operator"
    """The sender put it there: an import with no reason we can attribute, an erasure, a
    reason of their own."""

    @property
    def by_person(self) -> bool:
        """The person made it, so the link in their message may lift it."""
        return self is SuppressionOrigin.PERSON


_PERSON_REASONS: Final = frozenset(
    {"unsubscribed", "unsubscribe", "unsubscribes", "opt_out", "opted_out", "optout"}
)
"""A person's own opt-out, as this service writes it and as other systems' exports
commonly name it (normalised as `_normalise` does)."""
_COMPLAINT_WORDS: Final = ("complain", "spam", "abuse")
_BOUNCE_WORDS: Final = ("bounce", "undeliverable", "invalid", "cleaned")
_SEPARATORS: Final = re.compile(r"[^0-9a-z]+")


def _normalise(reason: str) -> str:
    return _SEPARATORS.sub("_", reason.casefold()).strip("_")


def suppression_origin(reason: str) -> SuppressionOrigin:
    """Who made a suppression with this `reason`.

    A complaint or a bounce is recognised by a word in the reason (`complained`,
    `spam_complaint`, `SpamComplaint`, `abuse`; `bounced`, `hard_bounce`, `HardBounce`,
    `invalid_email`, `cleaned`), checked first, so `unsubscribed after a complaint` is
    a complaint. The person's own is one of a few exact reasons (`unsubscribed`,
    `unsubscribe`, `opted-out`, …, in any case and with any separators). Every other
    reason is the operator's.
    """
    normalised = _normalise(reason)
    if any(word in normalised for word in _COMPLAINT_WORDS):
        return SuppressionOrigin.COMPLAINT
    if any(word in normalised for word in _BOUNCE_WORDS):
        return SuppressionOrigin.BOUNCE
    if normalised in _PERSON_REASONS:
        return SuppressionOrigin.PERSON
    return SuppressionOrigin.OPERATOR
