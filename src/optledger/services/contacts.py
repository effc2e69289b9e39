"""A person's consent history, the export of everything about them, and their erasure."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput, NotFound
from optledger.domain.ledger import project
from optledger.domain.model import (
    Action,
    Address,
    ConsentEvent,
    Contact,
    OutboxItem,
    Outcome,
    Provenance,
    RequestState,
    SubscriptionState,
    Tenant,
)
from optledger.domain.ports import EventFilter, UnitOfWork
from optledger.services.context import ServiceContext, record, set_suppressed
from optledger.services.validation import check_provenance, check_storable

__all__ = [
    "AddressView",
    "ContactExport",
    "ContactService",
    "EventView",
    "HistoryPage",
    "HistoryQuery",
    "LedgerReport",
    "MessageView",
    "RequestSummary",
    "SubscriptionView",
]

MAX_HISTORY_PAGE = 1_000
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Whose history: a contact (by external id) or one address; and which events."""

    contact: str | None = None
    channel: Channel | None = None
    address: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    via: str | None = None
    action: Action | None = None
    after: int = 0
    """Cursor: the id of the last event of the previous page."""
    limit: int = 100


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    occurred_at: datetime
    action: Action
    outcome: Outcome
    channel: Channel | None
    address: str | None
    """In clear while the address is known; None once erased or for contact-wide events."""
    topic: str | None
    state: SubscriptionState | None
    via: str
    actor: str | None
    device: str | None
    entrypoint: str | None
    message_uid: str | None
    campaign: str | None
    unsubscribe_request_id: int | None
    tags: tuple[str, ...]
    context: Mapping[str, str]
    request_id: str | None
    idempotency_key: str | None
    locale: str | None
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    events: tuple[EventView, ...]
    next_cursor: int | None
    """Pass as `after` for the next page; None when this page is the last."""


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    channel: Channel
    address: str
    topic: str
    state: SubscriptionState
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AddressView:
    channel: Channel
    address: str
    suppressed: bool
    """Whether the person stopped everything on this address."""


@dataclass(frozen=True, slots=True)
class MessageView:
    message_uid: str
    channel: Channel
    address: str
    topic: str
    campaign: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RequestSummary:
    id: int
    state: RequestState
    created_at: datetime
    effective_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ContactExport:
    """Everything optledger holds about one person (GDPR Art. 15 and 20)."""

    external_id: str
    locale: str | None
    created_at: datetime
    addresses: tuple[AddressView, ...]
    subscriptions: tuple[SubscriptionView, ...]
    messages: tuple[MessageView, ...]
    unsubscribe_requests: tuple[RequestSummary, ...]
    events: tuple[EventView, ...]


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """Whether the current state is exactly what the ledger's events add up to."""

    events: int
    differences: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        return not self.differences


class ContactService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def history(self, *, tenant_id: int, query: HistoryQuery) -> HistoryPage:
        """The consent events of a contact or an address, oldest first, a page at a time."""
        if not 1 <= query.limit <= MAX_HISTORY_PAGE:
            raise InvalidInput.of("limit", f"must be between 1 and {MAX_HISTORY_PAGE}")
        if (query.contact is None) == (query.address is None):
            raise InvalidInput.of("contact", "give either a contact or an address, not both")
        check_storable(("contact", query.contact), ("via", query.via))

        tenant = self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> HistoryPage:
            where, addresses = self._subject(uow, tenant=tenant, query=query)
            events = uow.events.query(
                tenant_id, where=where, after_id=query.after, limit=query.limit + 1
            )
            views = _event_views(uow, tenant_id, events[: query.limit], addresses)
            more = len(events) > query.limit
            return HistoryPage(events=views, next_cursor=views[-1].id if more else None)

        return self._ctx.transactions.read(work)

    def _subject(
        self, uow: UnitOfWork, *, tenant: Tenant, query: HistoryQuery
    ) -> tuple[EventFilter, dict[int, Address]]:
        filters = EventFilter(
            since=query.since, until=query.until, via=query.via, action=query.action
        )
        if query.contact is not None:
            contact = _require_contact(uow, tenant.id, query.contact)
            known = {a.id: a for a in uow.addresses.of_contact(tenant.id, contact.id)}
            return replace(filters, contact_id=contact.id), known
        if query.channel is None or query.address is None:
            raise InvalidInput.of("channel", "is required with an address")
        key = self._ctx.address_key(tenant=tenant, channel=query.channel, raw=query.address)
        address = uow.addresses.find(tenant.id, query.channel, key.value, key.address_hash)
        known = {address.id: address} if address else {}
        return replace(filters, address_hash=key.address_hash), known

    def export_contact(self, *, tenant_id: int, external_id: str) -> ContactExport:
        check_storable(("external_id", external_id))

        def work(uow: UnitOfWork) -> ContactExport:
            contact = _require_contact(uow, tenant_id, external_id)
            return _export(uow, tenant_id=tenant_id, contact=contact)

        return self._ctx.transactions.read(work)

    def erase_contact(self, *, tenant_id: int, external_id: str, provenance: Provenance) -> int:
        """Erase a person: remove their personal data, keep a keyed hash of each of their
        addresses as a suppression so they are never contacted again. Returns the number of
        addresses erased."""
        check_provenance(provenance)
        check_storable(("external_id", external_id))

        def work(uow: UnitOfWork) -> int:
            now = self._ctx.clock.now()
            contact = _require_contact(uow, tenant_id, external_id)
            addresses = uow.addresses.of_contact(tenant_id, contact.id)
            for address in addresses:
                set_suppressed(
                    uow,
                    at=now,
                    address=address,
                    suppressed=True,
                    reason="erased",
                    provenance=provenance,
                )
                record(
                    uow,
                    event=_erase_event(address, at=now, provenance=provenance),
                    address=address,
                    topic=None,
                )
            ids = [a.id for a in addresses]
            uow.events.scrub(tenant_id, address_ids=ids)
            uow.suppressions.detach_addresses(ids)
            uow.subscriptions.delete_of_addresses(ids)
            uow.messages.delete_of_addresses(ids)
            uow.confirmations.delete_of_addresses(ids)
            uow.addresses.delete(ids)
            uow.contacts.mark_erased(contact.id, at=now)
            uow.outbox.add(
                OutboxItem(
                    tenant_id=tenant_id,
                    kind="contact.erased",
                    payload={"contact_id": contact.id},
                    created_at=now,
                )
            )
            return len(addresses)

        return self._ctx.transactions.write(work)

    def verify_ledger(self, *, tenant_id: int) -> LedgerReport:
        """Replay the tenant's whole ledger and compare it with the stored current state."""

        self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> LedgerReport:
            events = _all_events(uow, tenant_id, where=EventFilter())
            replayed = project(events)
            differences = _differences(
                "subscription",
                replayed.subscriptions,
                uow.subscriptions.snapshot(tenant_id),
            )
            differences += _differences(
                "suppression",
                dict.fromkeys(replayed.suppressions, True),
                dict.fromkeys(uow.suppressions.snapshot(tenant_id), True),
            )
            differences += _differences(
                "unsubscribe request", replayed.requests, uow.requests.snapshot(tenant_id)
            )
            return LedgerReport(events=len(events), differences=tuple(differences))

        return self._ctx.transactions.read(work)


def _differences(kind: str, replayed: Mapping[K, V], stored: Mapping[K, V]) -> list[str]:
    """Human-readable differences; keys are hashes and ids, never personal data."""
    return [
        f"{kind} {key}: ledger says {replayed.get(key)}, stored {stored.get(key)}"
        for key in sorted(set(replayed) | set(stored), key=repr)
        if replayed.get(key) != stored.get(key)
    ]


def _all_events(uow: UnitOfWork, tenant_id: int, *, where: EventFilter) -> list[ConsentEvent]:
    """Every event matching `where`, oldest first, read a page at a time."""
    events: list[ConsentEvent] = []
    while batch := uow.events.query(
        tenant_id, where=where, after_id=events[-1].id if events else 0, limit=10_000
    ):
        events.extend(batch)
    return events


def _require_contact(uow: UnitOfWork, tenant_id: int, external_id: str) -> Contact:
    contact = uow.contacts.by_external_id(tenant_id, external_id)
    if contact is None:
        raise NotFound(kind="contact", key=external_id)
    return contact


def _erase_event(address: Address, *, at: datetime, provenance: Provenance) -> ConsentEvent:
    return ConsentEvent(
        tenant_id=address.tenant_id,
        occurred_at=at,
        action=Action.ERASE,
        outcome=Outcome.CHANGED,
        channel=address.channel,
        address_hash=address.address_hash,
        address_id=address.id,
        contact_id=address.contact_id,
        topic_id=None,
        state=None,
        provenance=provenance,
    )


def _event_views(
    uow: UnitOfWork, tenant_id: int, events: list[ConsentEvent], addresses: Mapping[int, Address]
) -> tuple[EventView, ...]:
    topic_keys = {t.id: t.key for t in uow.topics.of_tenant(tenant_id)}
    return tuple(
        EventView(
            id=e.id,
            occurred_at=e.occurred_at,
            action=e.action,
            outcome=e.outcome,
            channel=e.channel,
            address=_known_value(addresses, e.address_id),
            topic=topic_keys.get(e.topic_id) if e.topic_id is not None else None,
            state=e.state,
            via=e.provenance.via,
            actor=e.provenance.actor,
            device=e.provenance.device,
            entrypoint=e.provenance.entrypoint,
            message_uid=e.message_uid,
            campaign=e.campaign,
            unsubscribe_request_id=e.unsubscribe_request_id,
            tags=e.provenance.tags,
            context=e.provenance.context,
            request_id=e.provenance.request_id,
            idempotency_key=e.provenance.idempotency_key,
            locale=e.provenance.locale,
            ip=e.provenance.ip,
            user_agent=e.provenance.user_agent,
        )
        for e in events
    )


def _known_value(addresses: Mapping[int, Address], address_id: int | None) -> str | None:
    known = addresses.get(address_id) if address_id is not None else None
    return known.value if known else None


def _export(uow: UnitOfWork, *, tenant_id: int, contact: Contact) -> ContactExport:
    addresses = uow.addresses.of_contact(tenant_id, contact.id)
    by_id = {a.id: a for a in addresses}
    topic_keys = {t.id: t.key for t in uow.topics.of_tenant(tenant_id)}
    subscriptions = tuple(
        SubscriptionView(
            channel=by_id[s.address_id].channel,
            address=by_id[s.address_id].value,
            topic=topic_keys[s.topic_id],
            state=s.state,
            updated_at=s.updated_at,
        )
        for s in uow.subscriptions.of_addresses(list(by_id))
    )
    address_views = tuple(
        AddressView(
            channel=a.channel,
            address=a.value,
            suppressed=uow.suppressions.get(tenant_id, a.channel, a.address_hash) is not None,
        )
        for a in addresses
    )
    events = _all_events(uow, tenant_id, where=EventFilter(contact_id=contact.id))
    return ContactExport(
        external_id=contact.external_id or "",
        locale=contact.locale,
        created_at=contact.created_at,
        addresses=address_views,
        subscriptions=subscriptions,
        messages=tuple(
            MessageView(
                message_uid=m.message_uid,
                channel=by_id[m.address_id].channel,
                address=by_id[m.address_id].value,
                topic=topic_keys[m.topic_id],
                campaign=m.campaign,
                created_at=m.created_at,
            )
            for m in uow.messages.of_addresses(list(by_id))
        ),
        unsubscribe_requests=tuple(
            RequestSummary(
                id=r.id,
                state=r.state,
                created_at=r.created_at,
                effective_at=r.effective_at,
                closed_at=r.closed_at,
            )
            for r in uow.requests.of_contact(tenant_id, contact.id)
        ),
        events=_event_views(uow, tenant_id, events, by_id),
    )
