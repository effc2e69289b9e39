"""Wire-neutral results returned by the services; doors render them in their own format."""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from optledger.domain.channels import Channel
from optledger.domain.links import ListUnsubscribeHeaders
from optledger.domain.model import (
    Action,
    ApiKey,
    Outcome,
    RequestState,
    Scope,
    SubscriptionState,
    Tenant,
)
from optledger.domain.policy import Reason

__all__ = [
    "Change",
    "ChangeResult",
    "CheckResult",
    "CreatedKey",
    "CreatedTenant",
    "LineCheckResult",
    "Principal",
    "RegisteredMessage",
    "RequestView",
    "SubscribeResult",
]


@dataclass(frozen=True, slots=True)
class Change:
    """What one consent event did to one address."""

    event_id: int
    channel: Channel
    address: str
    topic: str | None
    """The topic key, or None for an action on every topic (a suppression)."""
    action: Action
    outcome: Outcome
    state: SubscriptionState | None


@dataclass(frozen=True, slots=True)
class ChangeResult:
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    change: Change
    confirmation_token: str | None
    """Set when the topic needs double opt-in: the token the person must send back."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    input: str
    address: str | None
    """The normalised address; None when the input is not a valid address."""
    allowed: bool
    reason: Reason


class LineCheckResult(NamedTuple):
    """The decision for one line of a list (a tuple: a list check makes millions)."""

    line: int
    """The line's number in the list, from 1 (blank lines are counted, not answered)."""
    input: str
    """The line without surrounding white space."""
    address: str | None
    """The normalised address; None when the line is not a valid address."""
    allowed: bool
    reason: Reason


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str
    """Shown once; only its keyed hash is stored."""


@dataclass(frozen=True, slots=True)
class CreatedTenant:
    tenant: Tenant
    admin_key: CreatedKey


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an API key speaks for."""

    tenant_id: int
    key_id: int
    scope: Scope


@dataclass(frozen=True, slots=True)
class RegisteredMessage:
    message_uid: str
    channel: Channel
    address: str
    topic: str
    campaign: str | None
    unsubscribe_url: str
    headers: ListUnsubscribeHeaders | None
    """None unless the message is an email about a topic the person may leave."""


@dataclass(frozen=True, slots=True)
class RequestView:
    id: int
    state: RequestState
    created_at: datetime
    effective_at: datetime
    closed_at: datetime | None
    topics: tuple[str, ...]
    """Empty: the request covers every topic."""
    changes: tuple[Change, ...]
