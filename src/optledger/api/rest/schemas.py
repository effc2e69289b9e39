"""The wire shapes of the REST API: what requests carry and what responses hold.

Request models refuse unknown fields and state every limit, so the OpenAPI document
says what is accepted; the services still check every rule that needs the tenant's data.
Response models are built from the services' result objects with their `of` methods.
"""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

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


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Problems (RFC 9457) ---------------------------------------------------------------------


class FieldProblem(_Out):
    field: str
    """Where the problem is: `messages[2].address`, `topics[0]`, `line 3: email`."""
    reason: str


class Problem(_Out):
    """An error, as `application/problem+json`."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None
    error_id: str | None = None
    """On a 500 only: the id the error is logged with, to quote when reporting it."""


# Provenance and targets ------------------------------------------------------------------


class ProvenanceIn(_In):
    """Where a consent change comes from, as far as the caller knows it."""

    actor: Label | None = None
    device: Label | None = None
    entrypoint: Label | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    context: dict[ContextKey, ContextValue] = Field(default_factory=dict, max_length=20)
    locale: Locale | None = None


class AddressIn(_In):
    channel: Channel
    address: RawAddress


class TargetIn(ProvenanceIn):
    """Exactly one of `address`, `contact` (with an optional `channel`) or `message_uid`."""

    address: AddressIn | None = None
    contact: ExternalId | None = None
    channel: Channel | None = None
    message_uid: MessageUid | None = None
    topics: list[TopicKey] | None = Field(default=None, min_length=1, max_length=100)
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


class UnsubscribeIn(TargetIn):
    notify: StrictBool = False
    """Queue one confirmation notice per address whose consent this changed."""


class ResubscribeIn(TargetIn):
    pass


class UnsubscribeRequestIn(TargetIn):
    pass


class CancelIn(ProvenanceIn):
    pass


# Topics and keys -------------------------------------------------------------------------


class CreateTopicIn(_In):
    key: TopicKey
    name: Label
    category: Category = Category.MARKETING
    consent_mode: ConsentMode = ConsentMode.OPT_IN
    double_opt_in: StrictBool = False
    channels: list[Channel] = Field(default=[Channel.EMAIL], min_length=1, max_length=5)
    unsubscribable: StrictBool | None = None
    """Defaults to true for marketing topics and to false for transactional ones."""


class TopicOut(_Out):
    key: str
    name: str
    category: Category
    consent_mode: ConsentMode
    double_opt_in: bool
    channels: list[Channel]
    unsubscribable: bool
    created_at: datetime

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
    items: list[TopicOut]
    next_cursor: str | None


class CreateKeyIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scope: Scope


class ApiKeyOut(_Out):
    id: int
    name: str
    prefix: str
    """The first characters of the secret, to tell keys apart."""
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None

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
    items: list[ApiKeyOut]
    next_cursor: str | None


class CreatedKeyOut(_Out):
    key: ApiKeyOut
    secret: str
    """Shown this once; only its keyed hash is kept."""

    @classmethod
    def of(cls, created: CreatedKey) -> Self:
        return cls(key=ApiKeyOut.of(created.key), secret=created.secret)


# Consent changes -------------------------------------------------------------------------


class ChangeOut(_Out):
    event_id: int
    channel: Channel
    address: str
    topic: str | None
    """None for an action on every topic (a suppression)."""
    action: Action
    outcome: Outcome
    state: SubscriptionState | None

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
    changes: list[ChangeOut]

    @classmethod
    def of(cls, changes: tuple[Change, ...]) -> Self:
        return cls(changes=[ChangeOut.of(c) for c in changes])


class SubscribeIn(ProvenanceIn):
    channel: Channel
    address: RawAddress
    topic: TopicKey
    contact: ExternalId | None = None
    """The contact (the tenant's user id) the address belongs to; created on first use."""


class SubscribeOut(_Out):
    change: ChangeOut
    confirmation_token: str | None
    """Set when the topic needs double opt-in."""

    @classmethod
    def of(cls, result: SubscribeResult) -> Self:
        return cls(change=ChangeOut.of(result.change), confirmation_token=result.confirmation_token)


class ConfirmIn(ProvenanceIn):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ConfirmOut(_Out):
    change: ChangeOut


class RequestOut(_Out):
    id: int
    state: RequestState
    created_at: datetime
    effective_at: datetime
    """Until then the request can be cancelled."""
    closed_at: datetime | None
    topics: list[str]
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
    input: str
    address: str | None
    """The normalised address; null when the input is not a valid address."""
    allowed: bool
    reason: Reason

    @classmethod
    def of(cls, result: CheckResult) -> Self:
        return cls(
            input=result.input, address=result.address, allowed=result.allowed, reason=result.reason
        )


class CheckBatchIn(_In):
    topic: TopicKey
    channel: Channel
    addresses: list[RawAddress] = Field(min_length=1, max_length=MAX_CHECK_BATCH)


class CheckBatchOut(_Out):
    results: list[CheckOut]


class MessageIn(_In):
    channel: Channel
    address: RawAddress
    topic: TopicKey
    campaign: Label | None = None
    message_uid: MessageUid | None = None
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
    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_MESSAGE_BATCH)


class HeadersOut(_Out):
    """The header values to put on the message, under these names."""

    list_unsubscribe: str = Field(serialization_alias="List-Unsubscribe")
    list_unsubscribe_post: Literal["List-Unsubscribe=One-Click"] = Field(
        serialization_alias="List-Unsubscribe-Post"
    )

    @classmethod
    def of(cls, headers: ListUnsubscribeHeaders) -> Self:
        return cls(
            list_unsubscribe=headers.list_unsubscribe,
            list_unsubscribe_post="List-Unsubscribe=One-Click",
        )


class MessageOut(_Out):
    message_uid: str
    channel: Channel
    address: str
    topic: str
    campaign: str | None
    unsubscribe_url: str
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
    messages: list[MessageOut]


# Contacts --------------------------------------------------------------------------------


class EventOut(_Out):
    id: int
    occurred_at: datetime
    action: Action
    outcome: Outcome
    channel: Channel | None
    address: str | None
    """In clear while the address is known; null once erased or for contact-wide events."""
    topic: str | None
    state: SubscriptionState | None
    via: str
    actor: str | None
    device: str | None
    entrypoint: str | None
    message_uid: str | None
    campaign: str | None
    unsubscribe_request_id: int | None
    tags: list[str]
    context: dict[str, str]
    request_id: str | None
    idempotency_key: str | None
    locale: str | None
    ip: str | None
    user_agent: str | None

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
    items: list[EventOut]
    next_cursor: str | None


class AddressOut(_Out):
    channel: Channel
    address: str
    suppressed: bool

    @classmethod
    def of(cls, view: AddressView) -> Self:
        return cls(channel=view.channel, address=view.address, suppressed=view.suppressed)


class SubscriptionOut(_Out):
    channel: Channel
    address: str
    topic: str
    state: SubscriptionState
    updated_at: datetime

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
    message_uid: str
    channel: Channel
    address: str
    topic: str
    campaign: str | None
    created_at: datetime

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
    id: int
    state: RequestState
    created_at: datetime
    effective_at: datetime
    closed_at: datetime | None

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

    external_id: str
    locale: str | None
    created_at: datetime
    addresses: list[AddressOut]
    subscriptions: list[SubscriptionOut]
    messages: list[ContactMessageOut]
    unsubscribe_requests: list[RequestSummaryOut]
    events: list[EventOut]

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
    erased_addresses: int
    """How many addresses were erased; each stays suppressed by its keyed hash."""


# Suppressions ----------------------------------------------------------------------------


class RowErrorOut(_Out):
    line: int
    """The bad row's (first) line in the file, counted from 1 as a text editor does."""
    field: str
    """The field at fault, `row` for the row as a whole."""
    reason: str


class ImportReportOut(_Out):
    rows: int
    """Data rows read (not counting a CSV header), good and bad."""
    changed: int
    repeated: int
    skipped: int
    """Bad rows, not imported (with `skip_invalid`)."""
    errors: list[RowErrorOut]
    """The first 1,000 bad rows (with `skip_invalid`), and why."""
    resumed: int
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
