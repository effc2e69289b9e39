"""The consent concepts as plain, immutable values.

Rows of storage map onto these explicitly; services pass them around and return them.
Identifiers are integers assigned by storage; the ones people see are tenant names,
topic keys, contact external ids and message uids.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from optledger.domain.channels import Channel

__all__ = [
    "DEFAULT_LINK_LIFETIME",
    "DEFAULT_UNDO_PERIOD",
    "Action",
    "Address",
    "ApiKey",
    "Category",
    "Confirmation",
    "ConsentEvent",
    "ConsentMode",
    "Contact",
    "Message",
    "OutboxItem",
    "Outcome",
    "PageSettings",
    "Provenance",
    "RequestState",
    "Scope",
    "Subscription",
    "SubscriptionState",
    "Suppression",
    "Tenant",
    "Topic",
    "UnsubscribeRequest",
]


class Scope(StrEnum):
    """What an API key may do. `admin` implies `write`, which implies `check`."""

    ADMIN = "admin"
    WRITE = "write"
    CHECK = "check"

    def allows(self, needed: "Scope") -> bool:
        order = (Scope.CHECK, Scope.WRITE, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


class Category(StrEnum):
    """What a topic is for: `marketing` (blocked by a suppression, always leavable) or
    `transactional` (receipts, security notices: sent despite a suppression)."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class ConsentMode(StrEnum):
    """How a topic treats an address with no subscription: `opt_in` (nobody gets the
    topic until they subscribe) or `opt_out` (everybody until they unsubscribe)."""

    OPT_IN = "opt_in"
    """Nobody gets the topic until they subscribe."""
    OPT_OUT = "opt_out"
    """Everybody gets the topic until they unsubscribe."""


class SubscriptionState(StrEnum):
    """The state of one address on one topic: `subscribed`, `unsubscribed`, or `pending`
    (a double opt-in waiting for its confirmation)."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"


class RequestState(StrEnum):
    """An unsubscribe request is `pending` until its effective time, then `completed`;
    or `cancelled` if it was taken back before."""

    PENDING = "pending"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Action(StrEnum):
    """What a consent event did: `subscribe`, `confirm` (a double opt-in), `unsubscribe`,
    `resubscribe`, `suppress` / `unsuppress` (stop / allow every marketing topic on an
    address), `request_unsubscribe`, `cancel_request`, `complete_request`, `erase`."""

    SUBSCRIBE = "subscribe"
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    RESUBSCRIBE = "resubscribe"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    REQUEST_UNSUBSCRIBE = "request_unsubscribe"
    CANCEL_REQUEST = "cancel_request"
    COMPLETE_REQUEST = "complete_request"
    ERASE = "erase"


class Outcome(StrEnum):
    """Whether an event `changed` the state, or was `repeated`: valid, but the state
    already was what it asked for (repeating an opt-out is never an error)."""

    CHANGED = "changed"
    REPEATED = "repeated"
    """The request was valid but the state already was what it asked for."""


DEFAULT_UNDO_PERIOD = timedelta(days=30)
DEFAULT_LINK_LIFETIME = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class PageSettings:
    """How a tenant's hosted pages look and how long their links and undo buttons work."""

    display_name: str | None = None
    """The name people see; the tenant's name when None."""
    accent_color: str | None = None
    """`#rrggbb`, for buttons and toggles."""
    logo: bytes | None = None
    logo_type: str | None = None
    """The logo's media type: image/png, image/jpeg or image/gif."""
    undo_period: timedelta = DEFAULT_UNDO_PERIOD
    """How long after an opt-out the person may undo it from its confirmation page."""
    link_lifetime: timedelta = DEFAULT_LINK_LIFETIME
    """How long an unsubscribe link works after its message was registered."""


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    name: str
    default_region: str
    default_locale: str
    grace_period: timedelta
    """How long an unsubscribe request stays cancellable before it completes."""
    created_at: datetime
    pages: PageSettings = PageSettings()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant_id: int
    name: str
    prefix: str
    """The first characters of the secret, shown so people can tell keys apart."""
    key_hash: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    tenant_id: int
    key: str
    name: str
    category: Category
    consent_mode: ConsentMode
    double_opt_in: bool
    channels: frozenset[Channel]
    unsubscribable: bool
    """Whether a person may leave it; always true for marketing topics."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    tenant_id: int
    external_id: str | None
    """The tenant's own id for the person; None once the contact is erased."""
    locale: str | None
    created_at: datetime
    erased_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Address:
    id: int
    tenant_id: int
    channel: Channel
    value: str
    address_hash: str
    contact_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    address_id: int
    topic_id: int
    state: SubscriptionState
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Suppression:
    """ "Stop everything" on one address: blocks every marketing topic on its channel.

    Keyed by the address's keyed hash, so it outlives the erasure of the address.
    """

    tenant_id: int
    channel: Channel
    address_hash: str
    address_id: int | None
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    tenant_id: int
    message_uid: str
    address_id: int
    topic_id: int
    campaign: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    """A request to leave that completes after the tenant's grace period.

    While it is pending, marketing to the addresses it covers stops; it can be cancelled
    until `effective_at`, then it completes and becomes an ordinary unsubscribe.
    """

    id: int
    tenant_id: int
    contact_id: int | None
    address_id: int | None
    topic_ids: tuple[int, ...]
    """Empty means every topic: the request suppresses the addresses when it completes."""
    state: RequestState
    created_at: datetime
    effective_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A double opt-in waiting for its token to come back."""

    token_hash: str
    tenant_id: int
    address_id: int
    topic_id: int
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a change came from: the door, who asked, and what the door knows of the request."""

    via: str
    actor: str | None = None
    device: str | None = None
    entrypoint: str | None = None
    tags: tuple[str, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    idempotency_key: str | None = None
    locale: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One immutable row of the consent ledger.

    `state` is the subscription state the event leaves behind for topic-level actions, so
    the ledger reads on its own and current state can be rebuilt from it.
    """

    tenant_id: int
    occurred_at: datetime
    action: Action
    outcome: Outcome
    channel: Channel | None
    address_hash: str | None
    address_id: int | None
    contact_id: int | None
    topic_id: int | None
    """None means every topic (a suppression or a whole-contact action)."""
    state: SubscriptionState | None
    provenance: Provenance
    unsubscribe_request_id: int | None = None
    message_uid: str | None = None
    campaign: str | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A side effect to carry out after commit (a notice, a webhook, a broker event)."""

    tenant_id: int
    kind: str
    payload: Mapping[str, object]
    created_at: datetime
