"""The wire shapes of the REST API: what requests carry and what responses hold.

Request models refuse unknown fields and state every limit, so the OpenAPI document
says what is accepted; the services still check every rule that needs the tenant's data.
Response models are built from the services' result objects with their `of` methods.
"""

from datetime import datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StringConstraints

from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput
from optledger.domain.links import ListUnsubscribeHeaders
from optledger.domain.model import (
    Action,
    ApiKey,
    Category,
    ConsentMode,
    Outcome,
    RequestState,
    Scope,
    SubscriptionState,
    Topic,
)
from optledger.domain.policy import Reason
from optledger.services.checks import MAX_CHECK_BATCH
from optledger.services.contacts import (
    AddressView,
    ContactExport,
    EventView,
    MessageView,
    RequestSummary,
    SubscriptionView,
)
from optledger.services.messages import MAX_MESSAGE_BATCH, MessageSpec
from optledger.services.results import (
    Change,
    CheckResult,
    CreatedKey,
    RegisteredMessage,
    RequestView,
    SubscribeResult,
)
from optledger.services.suppressions import ImportReport
from optledger.services.targets import AddressTarget, ContactTarget, MessageTarget, Target

__all__ = [
    "MAX_ROW_ID",
    "AddressIn",
    "ApiKeyOut",
    "ApiKeyPage",
    "CancelIn",
    "ChangeOut",
    "ChangesOut",
    "CheckBatchIn",
    "CheckBatchOut",
    "CheckOut",
    "ConfirmIn",
    "ConfirmOut",
    "ContactExportOut",
    "CreateKeyIn",
    "CreateTopicIn",
    "CreatedKeyOut",
    "ErasedOut",
    "EventOut",
    "EventPage",
    "FieldProblem",
    "ImportReportOut",
    "MessageIn",
    "MessageOut",
    "MessagesIn",
    "MessagesOut",
    "Problem",
    "ProvenanceIn",
    "RequestOut",
    "ResubscribeIn",
    "SubscribeIn",
    "SubscribeOut",
    "TargetIn",
    "TopicOut",
    "TopicPage",
    "UnsubscribeIn",
    "UnsubscribeRequestIn",
]

MAX_ROW_ID: Final = 2**31 - 1
"""The largest id of an API key or an unsubscribe request: they are 32-bit integers on
PostgreSQL, so a larger id in a path is refused (422) before it reaches the database."""

Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TopicKey = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", max_length=100)
]
RawAddress = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MessageUid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", max_length=100)]
Locale = Annotated[
    str,
    StringConstraints(
        pattern=r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$", max_length=20
    ),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ContextValue = Annotated[str, StringConstraints(max_length=1000)]

# The values the examples share, so that they tell one story: Ann, user-42, the topic
# `news`, one newsletter message, on 5 January 2026.
_EMAIL: Final = "ann@example.com"
_PHONE: Final = "+14155550100"
_CONTACT: Final = "user-42"
_TOPIC: Final = "news"
_MESSAGE_UID: Final = "5f1c0a9e2b7d4c3a8e6f1d20"
_CAMPAIGN: Final = "autumn-sale"
_AT: Final = "2026-01-05T09:30:00Z"
_LATER: Final = "2026-01-12T09:30:00Z"
_UNSUBSCRIBE_URL: Final = "https://optout.example.com/u/AQEAAAAqAAAAAQAAAAdWmYtn3xKcQw"
_CURSOR: Final = "MTA0Mg"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


# Problems (RFC 9457) ---------------------------------------------------------------------


class FieldProblem(_Out):
    """One invalid field of the request and what is wrong with it."""

    field: str = Field(examples=["topics[0]", "messages[2].address", "line 3: email"])
    """Where the problem is: `messages[2].address`, `topics[0]`, `line 3: email`."""
    reason: str = Field(examples=["unknown topic"])
    """What is wrong, without the value that was refused."""


class Problem(_Out):
    """An error, as `application/problem+json` (RFC 9457)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/invalid-input",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "The input is invalid.",
                    "errors": [{"field": "topics[0]", "reason": "unknown topic"}],
                },
                {
                    "type": "/problems/forbidden",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "this needs a key with scope admin; this key has write",
                },
            ]
        }
    )

    type: str = Field(examples=["/problems/invalid-input"])
    """The kind of problem, stable across releases: `/problems/invalid-input`,
    `/problems/not-found`, ... (`about:blank` for a plain HTTP status such as `405`)."""
    title: str = Field(examples=["Invalid input"])
    """A short summary of the kind, the same for every problem of that type."""
    status: int = Field(examples=[422])
    """The HTTP status code of the response."""
    detail: str | None = Field(default=None, examples=["The input is invalid."])
    """What went wrong this time; absent on `/problems/internal`."""
    errors: list[FieldProblem] | None = Field(
        default=None, examples=[[{"field": "topics[0]", "reason": "unknown topic"}]]
    )
    """Each invalid field (`/problems/invalid-input` only)."""
    error_id: str | None = Field(default=None, examples=["e3b0c44298fc1c14"])
    """On a 500 only: the id the error is logged with, to quote when reporting it."""


# Provenance and targets ------------------------------------------------------------------


class ProvenanceIn(_In):
    """Where a consent change comes from, as far as the caller knows it. Recorded on the
    consent events the request writes."""

    actor: Label | None = Field(default=None, examples=["crm:agent-7"])
    """Who made the change: a person or system on the caller's side."""
    device: Label | None = Field(default=None, examples=["iPhone 15, iOS 19"])
    """The device the person used, if known."""
    entrypoint: Label | None = Field(default=None, examples=["account-settings"])
    """Where in the caller's product the change was made."""
    tags: list[Tag] = Field(default_factory=list, max_length=20, examples=[["support-call"]])
    """Free labels to find the events by later."""
    context: dict[ContextKey, ContextValue] = Field(
        default_factory=dict, max_length=20, examples=[{"ticket": "SUP-1234"}]
    )
    """Free string pairs kept with the events."""
    locale: Locale | None = Field(default=None, examples=["fr-CA"])
    """The person's language (BCP 47); with a `contact`, also stored as the contact's
    language for the hosted pages."""


class AddressIn(_In):
    """One address on one channel."""

    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel the address is on."""
    address: RawAddress = Field(examples=[_EMAIL])
    """As the caller has it; optledger normalises it (email lower-cased, phone numbers in
    E.164)."""


class TargetIn(ProvenanceIn):
    """Exactly one of `address`, `contact` (with an optional `channel`) or `message_uid`."""

    address: AddressIn | None = Field(
        default=None, examples=[{"channel": "email", "address": _EMAIL}]
    )
    """Act on this one address."""
    contact: ExternalId | None = Field(default=None, examples=[_CONTACT])
    """Act on every address of this contact (the tenant's own id for the person)."""
    channel: Channel | None = Field(default=None, examples=[Channel.SMS])
    """With `contact` only: act on the contact's addresses on this channel alone."""
    message_uid: MessageUid | None = Field(default=None, examples=[_MESSAGE_UID])
    """Act on the address this registered message went to, and attribute the change to
    the message (its uid and campaign are recorded on the event)."""
    topics: list[TopicKey] | None = Field(
        default=None, min_length=1, max_length=100, examples=[[_TOPIC]]
    )
    """The topics to act on; omitted or null: every topic (a suppression)."""

    def target(self) -> Target:
        """The service's target; InvalidInput unless exactly one kind is given."""
        given = [self.address is not None, self.contact is not None, self.message_uid is not None]
        if given.count(True) != 1:
            raise InvalidInput.of("target", "give exactly one of address, contact, message_uid")
        if self.channel is not None and self.contact is None:
            raise InvalidInput.of("channel", "is only allowed with contact")
        if self.address is not None:
            return AddressTarget(channel=self.address.channel, address=self.address.address)
        if self.contact is not None:
            return ContactTarget(external_id=self.contact, channel=self.channel)
        assert self.message_uid is not None
        return MessageTarget(message_uid=self.message_uid)


_TARGET_EXAMPLES: Final[list[JsonValue]] = [
    {"address": {"channel": "email", "address": _EMAIL}, "topics": [_TOPIC]},
    {"contact": _CONTACT, "channel": "sms", "actor": "crm:agent-7", "tags": ["support-call"]},
    {"message_uid": _MESSAGE_UID},
]


class UnsubscribeIn(TargetIn):
    """Who leaves what: a target and, optionally, the topics."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [*_TARGET_EXAMPLES, {"contact": _CONTACT, "notify": True}]}
    )

    notify: StrictBool = Field(default=False, examples=[True])
    """Queue one confirmation notice per address whose consent this changed."""


class ResubscribeIn(TargetIn):
    """Who comes back to what: a target and, optionally, the topics."""

    model_config = ConfigDict(json_schema_extra={"examples": _TARGET_EXAMPLES})


class UnsubscribeRequestIn(TargetIn):
    """Who asks to leave what: a target and, optionally, the topics."""

    model_config = ConfigDict(json_schema_extra={"examples": _TARGET_EXAMPLES})


class CancelIn(ProvenanceIn):
    """Where the cancellation comes from (every field optional)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"actor": "crm:agent-7", "tags": ["changed-mind"]}]}
    )


# Topics and keys -------------------------------------------------------------------------


class CreateTopicIn(_In):
    """A new topic and its consent rules."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": _TOPIC, "name": "News and offers", "channels": ["email", "sms"]},
                {
                    "key": "order-receipts",
                    "name": "Order receipts",
                    "category": "transactional",
                    "consent_mode": "opt_out",
                },
                {"key": "weekly-digest", "name": "Weekly digest", "double_opt_in": True},
            ]
        }
    )

    key: TopicKey = Field(examples=[_TOPIC])
    """The topic's id in its tenant, used in every other call; cannot change later."""
    name: Label = Field(examples=["News and offers"])
    """The name people see on the hosted pages."""
    category: Category = Field(default=Category.MARKETING, examples=[Category.MARKETING])
    """`marketing` topics are blocked by a suppression; `transactional` ones are not."""
    consent_mode: ConsentMode = Field(default=ConsentMode.OPT_IN, examples=[ConsentMode.OPT_IN])
    """Whether people get the topic only after subscribing (`opt_in`) or until they
    unsubscribe (`opt_out`)."""
    double_opt_in: StrictBool = Field(default=False, examples=[False])
    """A subscription stays `pending` until its confirmation token comes back."""
    channels: list[Channel] = Field(
        default=[Channel.EMAIL],
        min_length=1,
        max_length=5,
        examples=[[Channel.EMAIL, Channel.SMS]],
    )
    """The channels the topic goes out on; checks on other channels answer
    `channel_not_enabled`."""
    unsubscribable: StrictBool | None = Field(default=None, examples=[True])
    """Defaults to true for marketing topics and to false for transactional ones."""


class TopicOut(_Out):
    """A topic and its consent rules."""

    key: str = Field(examples=[_TOPIC])
    """The topic's id in its tenant."""
    name: str = Field(examples=["News and offers"])
    """The name people see on the hosted pages."""
    category: Category = Field(examples=[Category.MARKETING])
    """`marketing` topics are blocked by a suppression; `transactional` ones are not."""
    consent_mode: ConsentMode = Field(examples=[ConsentMode.OPT_IN])
    """Whether people get the topic only after subscribing, or until they unsubscribe."""
    double_opt_in: bool = Field(examples=[False])
    """Whether a subscription waits for its confirmation token."""
    channels: list[Channel] = Field(examples=[[Channel.EMAIL, Channel.SMS]])
    """The channels the topic goes out on, sorted."""
    unsubscribable: bool = Field(examples=[True])
    """Whether a person may leave it; always true for marketing topics."""
    created_at: datetime = Field(examples=[_AT])
    """When the topic was created (UTC)."""

    @classmethod
    def of(cls, topic: Topic) -> Self:
        return cls(
            key=topic.key,
            name=topic.name,
            category=topic.category,
            consent_mode=topic.consent_mode,
            double_opt_in=topic.double_opt_in,
            channels=sorted(topic.channels),
            unsubscribable=topic.unsubscribable,
            created_at=topic.created_at,
        )


class TopicPage(_Out):
    """One page of the tenant's topics, ordered by key."""

    items: list[TopicOut]
    """The topics of this page."""
    next_cursor: str | None = Field(examples=[_CURSOR, None])
    """The `after` of the next page; null on the last page."""


class CreateKeyIn(_In):
    """A new API key: its name and what it may do."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "checkout service", "scope": "check"}]}
    )

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        examples=["checkout service"]
    )
    """What the key is for, to tell keys apart."""
    scope: Scope = Field(examples=[Scope.CHECK])
    """What the key may do: `check` < `write` < `admin`, each allowing the ones before."""


class ApiKeyOut(_Out):
    """An API key, without its secret."""

    id: int = Field(examples=[7])
    """The key's id, for `DELETE /v1/api-keys/{key_id}`."""
    name: str = Field(examples=["checkout service"])
    """What the key is for."""
    prefix: str = Field(examples=["olk_R2x9Tq5w"])
    """The first characters of the secret, to tell keys apart."""
    scope: Scope = Field(examples=[Scope.CHECK])
    """What the key may do."""
    created_at: datetime = Field(examples=[_AT])
    """When the key was created (UTC)."""
    revoked_at: datetime | None = Field(examples=[None, _LATER])
    """When the key was revoked; null while it works."""

    @classmethod
    def of(cls, key: ApiKey) -> Self:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scope=key.scope,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyPage(_Out):
    """One page of the tenant's API keys, oldest first."""

    items: list[ApiKeyOut]
    """The keys of this page."""
    next_cursor: str | None = Field(examples=[_CURSOR, None])
    """The `after` of the next page; null on the last page."""


class CreatedKeyOut(_Out):
    """A new API key and, this once, its secret."""

    key: ApiKeyOut
    """The key, as the list shows it."""
    secret: str = Field(examples=["olk_R2x9Tq5wYb3LmN8pKd4sVh7cXe1fGj6aZu0oIi2yWr"])
    """Shown this once; only its keyed hash is kept. Send it as `Authorization: Bearer
    <secret>`."""

    @classmethod
    def of(cls, created: CreatedKey) -> Self:
        return cls(key=ApiKeyOut.of(created.key), secret=created.secret)


# Consent changes -------------------------------------------------------------------------


class ChangeOut(_Out):
    """One consent event a call wrote, and the state it left."""

    event_id: int = Field(examples=[1042])
    """The id of the consent event in the ledger."""
    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel of the address."""
    address: str = Field(examples=[_EMAIL])
    """The normalised address."""
    topic: str | None = Field(examples=[_TOPIC, None])
    """None for an action on every topic (a suppression)."""
    action: Action = Field(examples=[Action.UNSUBSCRIBE])
    """What was done."""
    outcome: Outcome = Field(examples=[Outcome.CHANGED])
    """`changed`, or `repeated` when the state already was what was asked for."""
    state: SubscriptionState | None = Field(examples=[SubscriptionState.UNSUBSCRIBED, None])
    """The subscription's state afterwards; null for an action on every topic."""

    @classmethod
    def of(cls, change: Change) -> Self:
        return cls(
            event_id=change.event_id,
            channel=change.channel,
            address=change.address,
            topic=change.topic,
            action=change.action,
            outcome=change.outcome,
            state=change.state,
        )


class ChangesOut(_Out):
    """Every consent event the call wrote, one per address and topic it touched."""

    changes: list[ChangeOut]
    """The changes, in the order they were made."""

    @classmethod
    def of(cls, changes: tuple[Change, ...]) -> Self:
        return cls(changes=[ChangeOut.of(c) for c in changes])


class SubscribeIn(ProvenanceIn):
    """One address to subscribe to one topic."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"channel": "email", "address": _EMAIL, "topic": _TOPIC, "contact": _CONTACT},
                {"channel": "sms", "address": _PHONE, "topic": _TOPIC, "locale": "en-US"},
            ]
        }
    )

    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel the address is on."""
    address: RawAddress = Field(examples=[_EMAIL])
    """As the caller has it; optledger normalises it."""
    topic: TopicKey = Field(examples=[_TOPIC])
    """The key of the topic to subscribe to."""
    contact: ExternalId | None = Field(default=None, examples=[_CONTACT])
    """The contact (the tenant's user id) the address belongs to; created on first use."""


class SubscribeOut(_Out):
    """The subscription's change and, for a double opt-in topic, its token."""

    change: ChangeOut
    """The consent event written (`pending` for a double opt-in topic)."""
    confirmation_token: str | None = Field(
        examples=[None, "Wc3mB0v4Xz8qK2rT6yN1pL5sD9fH7jA4gE0uI3oR8tY"]
    )
    """Set when the topic needs double opt-in: send it to the person, and `POST
    /v1/subscriptions/confirm` it when it comes back."""

    @classmethod
    def of(cls, result: SubscribeResult) -> Self:
        return cls(change=ChangeOut.of(result.change), confirmation_token=result.confirmation_token)


class ConfirmIn(ProvenanceIn):
    """The confirmation token of a double opt-in, as it came back."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "Wc3mB0v4Xz8qK2rT6yN1pL5sD9fH7jA4gE0uI3oR8tY"}]}
    )

    token: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        examples=["Wc3mB0v4Xz8qK2rT6yN1pL5sD9fH7jA4gE0uI3oR8tY"]
    )
    """The `confirmation_token` the subscribe call returned."""


class ConfirmOut(_Out):
    """The confirmed subscription."""

    change: ChangeOut
    """The consent event written; `repeated` when it was confirmed already."""


class RequestOut(_Out):
    """An unsubscribe request and its state."""

    id: int = Field(examples=[31])
    """The request's id, for `GET` and `cancel`."""
    state: RequestState = Field(examples=[RequestState.PENDING])
    """`pending` until `effective_at`, then `completed`; or `cancelled`."""
    created_at: datetime = Field(examples=[_AT])
    """When the request was made (UTC)."""
    effective_at: datetime = Field(examples=[_LATER])
    """Until then the request can be cancelled."""
    closed_at: datetime | None = Field(examples=[None])
    """When it was completed or cancelled; null while pending."""
    topics: list[str] = Field(examples=[[_TOPIC], []])
    """Empty: the request covers every topic."""
    changes: list[ChangeOut]
    """The changes this call made."""

    @classmethod
    def of(cls, view: RequestView) -> Self:
        return cls(
            id=view.id,
            state=view.state,
            created_at=view.created_at,
            effective_at=view.effective_at,
            closed_at=view.closed_at,
            topics=list(view.topics),
            changes=[ChangeOut.of(c) for c in view.changes],
        )


# Checks and messages ---------------------------------------------------------------------


class CheckOut(_Out):
    """The decision for one address: may a message about the topic go to it?"""

    input: str = Field(examples=["Ann@Example.com"])
    """The address as it was asked about."""
    address: str | None = Field(examples=[_EMAIL])
    """The normalised address; null when the input is not a valid address."""
    allowed: bool = Field(examples=[False])
    """Whether the message may be sent."""
    reason: Reason = Field(examples=[Reason.UNSUBSCRIBED])
    """Why: the rule that decided."""

    @classmethod
    def of(cls, result: CheckResult) -> Self:
        return cls(
            input=result.input, address=result.address, allowed=result.allowed, reason=result.reason
        )


class CheckBatchIn(_In):
    """Up to 10,000 addresses on one channel, to check for one topic."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"topic": _TOPIC, "channel": "email", "addresses": [_EMAIL, "bob@example.com"]}
            ]
        }
    )

    topic: TopicKey = Field(examples=[_TOPIC])
    """The key of the topic the message is about."""
    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel the message goes out on."""
    addresses: list[RawAddress] = Field(
        min_length=1, max_length=MAX_CHECK_BATCH, examples=[[_EMAIL, "bob@example.com"]]
    )
    """The addresses, as the caller has them; the results keep their order."""


class CheckBatchOut(_Out):
    """The decision for each address, in the order asked."""

    results: list[CheckOut]
    """One decision per address asked about."""


class MessageIn(_In):
    """One message the tenant is about to send."""

    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel the message goes out on."""
    address: RawAddress = Field(examples=[_EMAIL])
    """The recipient, as the caller has it."""
    topic: TopicKey = Field(examples=[_TOPIC])
    """The key of the topic the message is about."""
    campaign: Label | None = Field(default=None, examples=[_CAMPAIGN])
    """The campaign, recorded on any opt-out made through the message."""
    message_uid: MessageUid | None = Field(default=None, examples=[_MESSAGE_UID])
    """Your own id for the message; generated when omitted."""

    def spec(self) -> MessageSpec:
        return MessageSpec(
            channel=self.channel,
            address=self.address,
            topic=self.topic,
            campaign=self.campaign,
            message_uid=self.message_uid,
        )


class MessagesIn(_In):
    """Up to 1,000 messages to register, all or none."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {
                            "channel": "email",
                            "address": _EMAIL,
                            "topic": _TOPIC,
                            "campaign": _CAMPAIGN,
                            "message_uid": _MESSAGE_UID,
                        }
                    ]
                }
            ]
        }
    )

    messages: list[MessageIn] = Field(
        min_length=1,
        max_length=MAX_MESSAGE_BATCH,
        examples=[[{"channel": "email", "address": _EMAIL, "topic": _TOPIC}]],
    )
    """The messages to register."""


class HeadersOut(_Out):
    """The header values to put on the message, under these names."""

    list_unsubscribe: str = Field(
        serialization_alias="List-Unsubscribe", examples=[f"<{_UNSUBSCRIBE_URL}>"]
    )
    """The `List-Unsubscribe` header (RFC 2369): the one-click URL."""
    list_unsubscribe_post: Literal["List-Unsubscribe=One-Click"] = Field(
        serialization_alias="List-Unsubscribe-Post", examples=["List-Unsubscribe=One-Click"]
    )
    """The `List-Unsubscribe-Post` header (RFC 8058), which makes the URL one-click."""

    @classmethod
    def of(cls, headers: ListUnsubscribeHeaders) -> Self:
        return cls(
            list_unsubscribe=headers.list_unsubscribe,
            list_unsubscribe_post="List-Unsubscribe=One-Click",
        )


class MessageOut(_Out):
    """A registered message, with its unsubscribe link and headers."""

    message_uid: str = Field(examples=[_MESSAGE_UID])
    """The message's id: yours, or the one generated."""
    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel the message goes out on."""
    address: str = Field(examples=[_EMAIL])
    """The normalised recipient."""
    topic: str = Field(examples=[_TOPIC])
    """The key of the topic the message is about."""
    campaign: str | None = Field(examples=[_CAMPAIGN])
    """The campaign, if one was given."""
    unsubscribe_url: str = Field(examples=[_UNSUBSCRIBE_URL])
    """The link for the message's body: the landing page, where the person can leave."""
    headers: HeadersOut | None
    """The RFC 8058 one-click headers; null unless the message is an email about a topic
    the person may leave (a transactional topic that cannot be left gets none)."""

    @classmethod
    def of(cls, message: RegisteredMessage) -> Self:
        return cls(
            message_uid=message.message_uid,
            channel=message.channel,
            address=message.address,
            topic=message.topic,
            campaign=message.campaign,
            unsubscribe_url=message.unsubscribe_url,
            headers=None if message.headers is None else HeadersOut.of(message.headers),
        )


class MessagesOut(_Out):
    """The registered messages, in the order given."""

    messages: list[MessageOut]
    """One per message of the request."""


# Contacts --------------------------------------------------------------------------------


class EventOut(_Out):
    """One immutable consent event of the ledger."""

    id: int = Field(examples=[1042])
    """The event's id; ids grow with time."""
    occurred_at: datetime = Field(examples=[_AT])
    """When the event was recorded (UTC)."""
    action: Action = Field(examples=[Action.UNSUBSCRIBE])
    """What was done."""
    outcome: Outcome = Field(examples=[Outcome.CHANGED])
    """`changed`, or `repeated` when the state already was what was asked for."""
    channel: Channel | None = Field(examples=[Channel.EMAIL])
    """The address's channel; null for a contact-wide event."""
    address: str | None = Field(examples=[_EMAIL])
    """In clear while the address is known; null once erased or for contact-wide events."""
    topic: str | None = Field(examples=[_TOPIC])
    """The topic's key; null for an action on every topic."""
    state: SubscriptionState | None = Field(examples=[SubscriptionState.UNSUBSCRIBED])
    """The subscription's state after the event; null for an action on every topic."""
    via: str = Field(examples=["api", "one_click", "landing_page", "import"])
    """The door the change came through: `api`, `one_click`, `landing_page`,
    `preference_centre`, `import`, `cli`, `scheduler`, ..."""
    actor: str | None = Field(examples=["crm:agent-7"])
    """Who made the change, as the caller said."""
    device: str | None = Field(examples=[None])
    """The device, as the caller said."""
    entrypoint: str | None = Field(examples=["account-settings"])
    """Where in the caller's product, as the caller said."""
    message_uid: str | None = Field(examples=[_MESSAGE_UID])
    """The message the change is attributed to."""
    campaign: str | None = Field(examples=[_CAMPAIGN])
    """That message's campaign."""
    unsubscribe_request_id: int | None = Field(examples=[None])
    """The unsubscribe request the event belongs to."""
    tags: list[str] = Field(examples=[["support-call"]])
    """The caller's labels."""
    context: dict[str, str] = Field(examples=[{"ticket": "SUP-1234"}])
    """The caller's string pairs."""
    request_id: str | None = Field(examples=["req-8f14e45f"])
    """The request's `X-Request-Id`."""
    idempotency_key: str | None = Field(examples=["b6f2c1d0-unsubscribe-42"])
    """The request's `Idempotency-Key`."""
    locale: str | None = Field(examples=["fr-CA"])
    """The person's language, as the caller or the page said."""
    ip: str | None = Field(examples=["203.0.113.7"])
    """The client's IP address, as the door saw it."""
    user_agent: str | None = Field(examples=["checkout-service/2.3"])
    """The client's `User-Agent` (its first 500 characters)."""

    @classmethod
    def of(cls, event: EventView) -> Self:
        return cls(
            id=event.id,
            occurred_at=event.occurred_at,
            action=event.action,
            outcome=event.outcome,
            channel=event.channel,
            address=event.address,
            topic=event.topic,
            state=event.state,
            via=event.via,
            actor=event.actor,
            device=event.device,
            entrypoint=event.entrypoint,
            message_uid=event.message_uid,
            campaign=event.campaign,
            unsubscribe_request_id=event.unsubscribe_request_id,
            tags=list(event.tags),
            context=dict(event.context),
            request_id=event.request_id,
            idempotency_key=event.idempotency_key,
            locale=event.locale,
            ip=event.ip,
            user_agent=event.user_agent,
        )


class EventPage(_Out):
    """One page of consent events, oldest first."""

    items: list[EventOut]
    """The events of this page."""
    next_cursor: str | None = Field(examples=[_CURSOR, None])
    """The `after` of the next page; null on the last page."""


class AddressOut(_Out):
    """One address of a contact."""

    channel: Channel = Field(examples=[Channel.EMAIL])
    """The address's channel."""
    address: str = Field(examples=[_EMAIL])
    """The normalised address."""
    suppressed: bool = Field(examples=[False])
    """Whether the address has stopped every marketing topic on its channel."""

    @classmethod
    def of(cls, view: AddressView) -> Self:
        return cls(channel=view.channel, address=view.address, suppressed=view.suppressed)


class SubscriptionOut(_Out):
    """The current state of one address on one topic."""

    channel: Channel = Field(examples=[Channel.EMAIL])
    """The address's channel."""
    address: str = Field(examples=[_EMAIL])
    """The normalised address."""
    topic: str = Field(examples=[_TOPIC])
    """The topic's key."""
    state: SubscriptionState = Field(examples=[SubscriptionState.SUBSCRIBED])
    """The subscription's state."""
    updated_at: datetime = Field(examples=[_AT])
    """When the state last changed (UTC)."""

    @classmethod
    def of(cls, view: SubscriptionView) -> Self:
        return cls(
            channel=view.channel,
            address=view.address,
            topic=view.topic,
            state=view.state,
            updated_at=view.updated_at,
        )


class ContactMessageOut(_Out):
    """A message registered for one of the contact's addresses."""

    message_uid: str = Field(examples=[_MESSAGE_UID])
    """The message's id."""
    channel: Channel = Field(examples=[Channel.EMAIL])
    """The channel it went out on."""
    address: str = Field(examples=[_EMAIL])
    """The recipient."""
    topic: str = Field(examples=[_TOPIC])
    """The topic's key."""
    campaign: str | None = Field(examples=[_CAMPAIGN])
    """The campaign, if one was given."""
    created_at: datetime = Field(examples=[_AT])
    """When it was registered (UTC)."""

    @classmethod
    def of(cls, view: MessageView) -> Self:
        return cls(
            message_uid=view.message_uid,
            channel=view.channel,
            address=view.address,
            topic=view.topic,
            campaign=view.campaign,
            created_at=view.created_at,
        )


class RequestSummaryOut(_Out):
    """One unsubscribe request of the contact."""

    id: int = Field(examples=[31])
    """The request's id."""
    state: RequestState = Field(examples=[RequestState.COMPLETED])
    """`pending`, `cancelled` or `completed`."""
    created_at: datetime = Field(examples=[_AT])
    """When it was made (UTC)."""
    effective_at: datetime = Field(examples=[_LATER])
    """When it completes (or completed)."""
    closed_at: datetime | None = Field(examples=[_LATER])
    """When it was completed or cancelled; null while pending."""

    @classmethod
    def of(cls, view: RequestSummary) -> Self:
        return cls(
            id=view.id,
            state=view.state,
            created_at=view.created_at,
            effective_at=view.effective_at,
            closed_at=view.closed_at,
        )


class ContactExportOut(_Out):
    """Everything optledger holds about one person (GDPR Art. 15 and 20)."""

    external_id: str = Field(examples=[_CONTACT])
    """The tenant's own id for the person."""
    locale: str | None = Field(examples=["fr-CA"])
    """The person's language, if known."""
    created_at: datetime = Field(examples=[_AT])
    """When the contact was first seen (UTC)."""
    addresses: list[AddressOut]
    """The person's addresses."""
    subscriptions: list[SubscriptionOut]
    """Their current subscriptions, every state."""
    messages: list[ContactMessageOut]
    """The messages registered for them."""
    unsubscribe_requests: list[RequestSummaryOut]
    """Their unsubscribe requests."""
    events: list[EventOut]
    """Every consent event of their addresses, oldest first."""

    @classmethod
    def of(cls, export: ContactExport) -> Self:
        return cls(
            external_id=export.external_id,
            locale=export.locale,
            created_at=export.created_at,
            addresses=[AddressOut.of(a) for a in export.addresses],
            subscriptions=[SubscriptionOut.of(s) for s in export.subscriptions],
            messages=[ContactMessageOut.of(m) for m in export.messages],
            unsubscribe_requests=[RequestSummaryOut.of(r) for r in export.unsubscribe_requests],
            events=[EventOut.of(e) for e in export.events],
        )


class ErasedOut(_Out):
    """What an erasure removed."""

    erased_addresses: int = Field(examples=[2])
    """How many addresses were erased; each stays suppressed by its keyed hash."""


# Suppressions ----------------------------------------------------------------------------


class RowErrorOut(_Out):
    """One bad row of an import, and why."""

    line: int = Field(examples=[3])
    """The bad row's (first) line in the file, counted from 1 as a text editor does (the
    CSV header is line 1)."""
    field: str = Field(examples=["email"])
    """The column (CSV) or key (NDJSON) at fault, `row` for the row as a whole."""
    reason: str = Field(examples=["is not a valid email address"])
    """What is wrong, without the value."""


class ImportReportOut(_Out):
    """What an import read and wrote."""

    rows: int = Field(examples=[1000])
    """Data rows read (not counting a CSV header), good and bad."""
    changed: int = Field(examples=[997])
    """Rows that suppressed an address (or unsubscribed it from a topic)."""
    repeated: int = Field(examples=[1])
    """Rows whose address already was suppressed; recorded as `repeated`."""
    skipped: int = Field(examples=[2])
    """Bad rows, not imported (with `skip_invalid`)."""
    errors: list[RowErrorOut]
    """The first 1,000 bad rows (with `skip_invalid`), and why."""
    resumed: int = Field(examples=[0])
    """Rows an earlier, unfinished attempt at the same import had written; this one went
    on after them (0 for a fresh import)."""

    @classmethod
    def of(cls, report: ImportReport) -> Self:
        return cls(
            rows=report.rows,
            changed=report.changed,
            repeated=report.repeated,
            skipped=report.skipped,
            errors=[
                RowErrorOut(line=e.line, field=e.field, reason=e.reason) for e in report.errors
            ],
            resumed=report.resumed,
        )


def problem_schemas() -> dict[str, Any]:
    """The JSON schemas of `Problem` and `FieldProblem`, for the OpenAPI components."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs")
    return {**definitions, "Problem": schema}
