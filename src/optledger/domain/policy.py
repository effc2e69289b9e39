"""The may-send decision: one pure function, the same for every door."""

from dataclasses import dataclass
from enum import StrEnum

from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, SubscriptionState, Topic

__all__ = ["Decision", "Reason", "decide"]


class Reason(StrEnum):
    """Why a message may or may not be sent. Allowed: `subscribed`, `opt_out_default`
    (an opt-out topic the address never left), `transactional`. Refused: `unsubscribed`
    (from this topic), `suppressed` (stopped every marketing topic), `not_subscribed` (an
    opt-in topic), `pending_confirmation` (double opt-in not confirmed), `unknown_topic`,
    `channel_not_enabled` (the topic does not go out on this channel), `invalid_address`."""

    SUBSCRIBED = "subscribed"
    OPT_OUT_DEFAULT = "opt_out_default"
    TRANSACTIONAL = "transactional"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    NOT_SUBSCRIBED = "not_subscribed"
    PENDING_CONFIRMATION = "pending_confirmation"
    UNKNOWN_TOPIC = "unknown_topic"
    CHANNEL_NOT_ENABLED = "channel_not_enabled"
    INVALID_ADDRESS = "invalid_address"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason


def decide(
    *,
    topic: Topic | None,
    channel: Channel,
    state: SubscriptionState | None,
    suppressed: bool,
) -> Decision:
    """May a message about `topic` go to an address on `channel`?

    `state` is the address's subscription to the topic (None when it has none) and
    `suppressed` whether the address has "stopped everything" on its channel. An explicit
    unsubscribe from a topic always wins; a suppression blocks marketing only.
    """
    if topic is None:
        return Decision(allowed=False, reason=Reason.UNKNOWN_TOPIC)
    if channel not in topic.channels:
        return Decision(allowed=False, reason=Reason.CHANNEL_NOT_ENABLED)
    if state is SubscriptionState.UNSUBSCRIBED:
        return Decision(allowed=False, reason=Reason.UNSUBSCRIBED)
    if topic.category is Category.TRANSACTIONAL:
        return Decision(allowed=True, reason=Reason.TRANSACTIONAL)
    if suppressed:
        return Decision(allowed=False, reason=Reason.SUPPRESSED)
    if state is SubscriptionState.SUBSCRIBED:
        return Decision(allowed=True, reason=Reason.SUBSCRIBED)
    if state is SubscriptionState.PENDING:
        return Decision(allowed=False, reason=Reason.PENDING_CONFIRMATION)
    if topic.consent_mode is ConsentMode.OPT_OUT:
        return Decision(allowed=True, reason=Reason.OPT_OUT_DEFAULT)
    return Decision(allowed=False, reason=Reason.NOT_SUBSCRIBED)
