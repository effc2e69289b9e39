"""What every use case needs, and the few steps they all share.

The recording functions here are the only code that writes consent events, so every door
produces the same events for the same change: state row, ledger row and outbox row are
written together, inside the caller's unit of work.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from optledger.domain.channels import Channel, normalise_address
from optledger.domain.errors import InvalidInput, NotFound
from optledger.domain.model import (
    Action,
    Address,
    ConsentEvent,
    Outcome,
    Provenance,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
    Topic,
)
from optledger.domain.ports import (
    AddressToFind,
    Clock,
    LinkKeyring,
    ResponseSealer,
    Spools,
    Transactions,
    UnitOfWork,
)
from optledger.domain.secrets import KeyedHasher
from optledger.domain.suppressions import suppression_origin
from optledger.services.results import Change, ChangeResult
from optledger.services.targets import AddressTarget, ContactTarget, MessageTarget, Target
from optledger.services.validation import check_storable

__all__ = [
    "TENANT_TTL",
    "AddressKey",
    "Attribution",
    "PreparedTarget",
    "ServiceContext",
    "SuppressAddress",
]

TENANT_TTL = timedelta(seconds=10)
CHANGE_NOTICE = "consent.changed"
"""The outbox notice of every recorded change."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """The message an event is attributed to, and the request it belongs to."""

    message_uid: str | None = None
    campaign: str | None = None
    unsubscribe_request_id: int | None = None


NO_ATTRIBUTION = Attribution()


@dataclass(frozen=True, slots=True)
class AddressKey:
    """A normalised address and its keyed hash.

    Use cases compute it before they queue their write, so the single writer that commits
    every write spends its time on SQL only, not on parsing and hashing.
    """

    channel: Channel
    value: str
    address_hash: str


@dataclass(frozen=True, slots=True)
class ServiceContext:
    transactions: Transactions
    clock: Clock
    hasher: KeyedHasher
    keyring: LinkKeyring
    public_url: str
    sealer: ResponseSealer
    """Seals the responses kept for idempotency keys."""
    spools: Spools
    """Temporary storage for the rows of an import, between checking and writing them."""
    _tenants: dict[int, tuple[Tenant, datetime]] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )
    _topics: dict[tuple[int, str], Topic] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )
    _topics_by_id: dict[tuple[int, int], Topic] = dataclasses.field(
        default_factory=dict, init=False, repr=False
    )

    def tenant(self, tenant_id: int) -> Tenant:
        """The tenant, kept for TENANT_TTL: every use case needs it, and its settings
        change rarely (a change made in another process shows within TENANT_TTL)."""
        now = self.clock.now()
        kept = self._tenants.get(tenant_id)
        if kept is not None and now < kept[1]:
            return kept[0]
        tenant = self.transactions.read(lambda uow: uow.tenants.get(tenant_id))
        if tenant is None:
            raise NotFound(kind="tenant", key=str(tenant_id))
        self._tenants[tenant_id] = (tenant, now + TENANT_TTL)
        return tenant

    def topic(self, tenant_id: int, key: str) -> Topic | None:
        """The tenant's topic `key`, or None if it has none. A topic never changes once
        created, so a found one is kept for the process's life; an unknown key is asked
        again each time (it may be created at any moment)."""
        kept = self._topics.get((tenant_id, key))
        if kept is not None:
            return kept
        topic = self.transactions.read(lambda uow: uow.topics.by_key(tenant_id, key))
        if topic is not None:
            self._topics[(tenant_id, key)] = topic
        return topic

    def topic_by_id(self, uow: UnitOfWork, tenant_id: int, topic_id: int) -> Topic | None:
        """The tenant's topic `topic_id`, or None if it has none: kept from an earlier
        read like `topic`, else read in `uow`. A link names its topic by id, and every
        one-click read it again (a round trip of the writer's on PostgreSQL)."""
        kept = self._topics_by_id.get((tenant_id, topic_id))
        if kept is not None:
            return kept
        topic = uow.topics.get(tenant_id, topic_id)
        if topic is not None:
            self._topics_by_id[(tenant_id, topic_id)] = topic
        return topic

    def forget_tenant(self, tenant_id: int) -> None:
        """Drop the kept copy of a tenant whose settings this process just changed."""
        self._tenants.pop(tenant_id, None)

    def address_key(
        self, *, tenant: Tenant, channel: Channel, raw: str, field: str = "address"
    ) -> AddressKey:
        """Normalise `raw` for the tenant (InvalidInput naming `field`) and hash it."""
        value = normalise_address(
            channel=channel, raw=raw, default_region=tenant.default_region, field=field
        )
        address_hash = self.hasher.address_hash(tenant_id=tenant.id, channel=channel, value=value)
        return AddressKey(channel=channel, value=value, address_hash=address_hash)


def require_topic(uow: UnitOfWork, tenant_id: int, key: str, *, field: str = "topic") -> Topic:
    """The topic named by `key`; an unknown key is an invalid `field`, not a missing resource."""
    check_storable((field, key))
    topic = uow.topics.by_key(tenant_id, key)
    if topic is None:
        raise InvalidInput.of(field, f"there is no topic {key!r}")
    return topic


def require_topics(uow: UnitOfWork, tenant_id: int, keys: Sequence[str]) -> list[Topic]:
    """The topics named by `keys`, in order, without duplicates."""
    if not keys:
        raise InvalidInput.of("topics", "must name at least one topic (or be omitted for all)")
    topics: dict[int, Topic] = {}
    for index, key in enumerate(keys):
        topic = require_topic(uow, tenant_id, key, field=f"topics[{index}]")
        topics.setdefault(topic.id, topic)
    return list(topics.values())


def ensure_address(
    uow: UnitOfWork,
    ctx: ServiceContext,
    *,
    tenant_id: int,
    key: AddressKey,
    contact_id: int | None = None,
    field: str = "address",
) -> Address:
    """The stored address for `key`, created (and attached to the contact) if need be.

    Another process may add the same address between the look-up and the insert (on
    PostgreSQL; SQLite lets one writer in at a time): `find_or_add` then returns the
    address it added. On PostgreSQL the look-up and the insert are one statement (one
    round trip of the writer's, decision 0029).
    """
    address = uow.addresses.find_or_add(
        tenant_id=tenant_id,
        channel=key.channel,
        value=key.value,
        address_hash=key.address_hash,
        contact_id=contact_id,
        created_at=ctx.clock.now(),
    )
    if contact_id is not None and address.contact_id != contact_id:
        if address.contact_id is not None:
            raise InvalidInput.of(field, "already belongs to another contact")
        uow.addresses.attach(address.id, contact_id=contact_id)
        return replace(address, contact_id=contact_id)
    return address


def consent_event(
    *,
    tenant_id: int,
    at: datetime,
    action: Action,
    outcome: Outcome,
    address: Address,
    topic: Topic | None,
    state: SubscriptionState | None,
    provenance: Provenance,
    attribution: Attribution,
) -> ConsentEvent:
    return ConsentEvent(
        tenant_id=tenant_id,
        occurred_at=at,
        action=action,
        outcome=outcome,
        channel=address.channel,
        address_hash=address.address_hash,
        address_id=address.id,
        contact_id=address.contact_id,
        topic_id=topic.id if topic else None,
        state=state,
        provenance=provenance,
        unsubscribe_request_id=attribution.unsubscribe_request_id,
        message_uid=attribution.message_uid,
        campaign=attribution.campaign,
    )


def record(
    uow: UnitOfWork,
    *,
    event: ConsentEvent,
    address: Address,
    topic: Topic | None,
) -> Change:
    """Append the event, queue its outbox notice when it changed something, and describe it."""
    notice = notice_of(event)
    if notice is not None:
        event_id = uow.events.add_with_notice(event, kind=notice)
    else:
        event_id = uow.events.add(event)
    return change_of(event, event_id=event_id, address=address, topic=topic)


def notice_of(event: ConsentEvent) -> str | None:
    """The kind of the outbox notice `record` queues for the event: one for a change."""
    return CHANGE_NOTICE if event.outcome is Outcome.CHANGED else None


def change_of(
    event: ConsentEvent, *, event_id: int, address: Address, topic: Topic | None
) -> Change:
    """What `record` returns for the event recorded as `event_id`."""
    return Change(
        event_id=event_id,
        channel=address.channel,
        address=address.value,
        topic=topic.key if topic else None,
        action=event.action,
        outcome=event.outcome,
        state=event.state,
    )


def set_topic_state(
    uow: UnitOfWork,
    *,
    at: datetime,
    action: Action,
    address: Address,
    topic: Topic,
    state: SubscriptionState | None,
    provenance: Provenance,
    attribution: Attribution = NO_ATTRIBUTION,
) -> Change:
    """Move (address, topic) to `state` (None: back to the topic's default) and record it."""
    event = topic_state_event(
        uow.subscriptions.get(address.id, topic.id),
        at=at,
        action=action,
        address=address,
        topic=topic,
        state=state,
        provenance=provenance,
        attribution=attribution,
    )
    if event.outcome is Outcome.CHANGED:
        if state is None:
            uow.subscriptions.remove(address.id, topic.id)
        else:
            uow.subscriptions.put(
                Subscription(address_id=address.id, topic_id=topic.id, state=state, updated_at=at)
            )
    return record(uow, event=event, address=address, topic=topic)


def topic_state_event(
    current: Subscription | None,
    *,
    at: datetime,
    action: Action,
    address: Address,
    topic: Topic,
    state: SubscriptionState | None,
    provenance: Provenance,
    attribution: Attribution = NO_ATTRIBUTION,
) -> ConsentEvent:
    """The event of moving (address, topic) from its `current` row to `state`: `repeated`
    when it is in that state already, else `changed` (the row is then written)."""
    current_state = current.state if current else None
    return consent_event(
        tenant_id=topic.tenant_id,
        at=at,
        action=action,
        outcome=Outcome.REPEATED if current_state == state else Outcome.CHANGED,
        address=address,
        topic=topic,
        state=state,
        provenance=provenance,
        attribution=attribution,
    )


def set_suppressed(
    uow: UnitOfWork,
    *,
    at: datetime,
    address: Address,
    suppressed: bool,
    reason: str,
    provenance: Provenance,
    attribution: Attribution = NO_ATTRIBUTION,
    suppressed_since: datetime | None = None,
) -> Change:
    """Suppress the address on its channel (or lift that) and record it.

    Suppressing an address that is suppressed already changes nothing (`repeated`), with
    one exception: when the person made the existing suppression and this one is not the
    person's (a complaint, a bounce, the operator's), it takes this reason, so the link in
    a message can no longer lift it (see `optledger.domain.suppressions`).
    """
    if suppressed:
        changed = uow.suppressions.add(
            suppression_of(address, reason=reason, since=suppressed_since or at)
        )
        if not changed:
            keep_the_stronger_origin(uow, address=address, reason=reason)
    else:
        changed = uow.suppressions.remove(address.tenant_id, address.channel, address.address_hash)
    event = suppression_event(
        at=at,
        address=address,
        suppressed=suppressed,
        changed=changed,
        provenance=provenance,
        attribution=attribution,
    )
    return record(uow, event=event, address=address, topic=None)


def suppression_of(address: Address, *, reason: str, since: datetime) -> Suppression:
    """The suppression `set_suppressed` adds for the address."""
    return Suppression(
        tenant_id=address.tenant_id,
        channel=address.channel,
        address_hash=address.address_hash,
        address_id=address.id,
        reason=reason,
        created_at=since,
    )


def suppression_event(
    *,
    at: datetime,
    address: Address,
    suppressed: bool,
    changed: bool,
    provenance: Provenance,
    attribution: Attribution,
) -> ConsentEvent:
    """The event `set_suppressed` records."""
    return consent_event(
        tenant_id=address.tenant_id,
        at=at,
        action=Action.SUPPRESS if suppressed else Action.UNSUPPRESS,
        outcome=Outcome.CHANGED if changed else Outcome.REPEATED,
        address=address,
        topic=None,
        state=None,
        provenance=provenance,
        attribution=attribution,
    )


def keep_the_stronger_origin(uow: UnitOfWork, *, address: Address, reason: str) -> None:
    """After a suppression of `reason` found the address suppressed already: a reason
    that is not the person's replaces one that is."""
    if suppression_origin(reason).by_person:
        return
    existing = uow.suppressions.get(address.tenant_id, address.channel, address.address_hash)
    if existing is not None and suppression_origin(existing.reason).by_person:
        uow.suppressions.set_reason(
            address.tenant_id, address.channel, address.address_hash, reason=reason
        )


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    addresses: tuple[Address, ...]
    attribution: Attribution
    message_topic: Topic | None = None
    """For a message target: the topic the message was about."""


PreparedTarget = AddressKey | ContactTarget | MessageTarget
"""A target whose address, if it names one, is already normalised and hashed."""


def prepare_target(ctx: ServiceContext, *, tenant: Tenant, target: Target) -> PreparedTarget:
    """The target with its address normalised and hashed; InvalidInput for an address,
    contact (`contact`) or message uid (`message_uid`) that cannot be used."""
    if isinstance(target, AddressTarget):
        return ctx.address_key(tenant=tenant, channel=target.channel, raw=target.address)
    if isinstance(target, ContactTarget):
        check_storable(("contact", target.external_id))
    else:
        check_storable(("message_uid", target.message_uid))
    return target


def resolve_target(
    uow: UnitOfWork,
    ctx: ServiceContext,
    *,
    tenant: Tenant,
    target: PreparedTarget,
    unsubscribe_request_id: int | None = None,
) -> ResolvedTarget:
    """The addresses a change applies to.

    An address the tenant has never seen is created, because an opt-out from a stranger
    must still be recorded and honoured. A contact or message must exist.
    """
    if isinstance(target, AddressKey):
        address = ensure_address(uow, ctx, tenant_id=tenant.id, key=target)
        return ResolvedTarget(
            addresses=(address,),
            attribution=Attribution(unsubscribe_request_id=unsubscribe_request_id),
        )
    if isinstance(target, ContactTarget):
        contact = uow.contacts.by_external_id(tenant.id, target.external_id)
        if contact is None:
            raise NotFound(kind="contact", key=target.external_id)
        addresses = tuple(
            a
            for a in uow.addresses.of_contact(tenant.id, contact.id)
            if target.channel is None or a.channel is target.channel
        )
        return ResolvedTarget(
            addresses=addresses,
            attribution=Attribution(unsubscribe_request_id=unsubscribe_request_id),
        )
    message = uow.messages.by_uid(tenant.id, target.message_uid)
    if message is None:
        raise NotFound(kind="message", key=target.message_uid)
    message_address = uow.addresses.get(tenant.id, message.address_id)
    topic = uow.topics.get(tenant.id, message.topic_id)
    if message_address is None or topic is None:
        raise NotFound(kind="message", key=target.message_uid)
    return ResolvedTarget(
        addresses=(message_address,),
        attribution=Attribution(
            message_uid=message.message_uid,
            campaign=message.campaign,
            unsubscribe_request_id=unsubscribe_request_id,
        ),
        message_topic=topic,
    )


@dataclass(frozen=True, slots=True, eq=False)
class SuppressAddress:
    """The work of suppressing one address given by its key (found, or added without a
    contact): an unsubscribe from everything through an address, the hottest write.

    Run alone it is `ensure_address` and `set_suppressed`. Its `combine` runs the works of
    many of them in three statements in all on PostgreSQL, where each statement is a round
    trip of the one writer's, and in a few on SQLite, where the writer's Python per
    statement is spent holding the write lock (decision 0035): every address found or
    added, every suppression added, every event with its outbox notice. That leaves
    exactly what they would leave run one after another in that order, because each
    statement is written in their order (ids, outbox rows) and no two of the works run
    together touch the same address: a work naming an address already named by an
    earlier one starts the next group, which runs after the first has written everything
    (decision 0032).
    """

    ctx: ServiceContext
    tenant_id: int
    key: AddressKey
    reason: str
    provenance: Provenance

    def __call__(self, uow: UnitOfWork) -> ChangeResult:
        now = self.ctx.clock.now()
        address = ensure_address(uow, self.ctx, tenant_id=self.tenant_id, key=self.key)
        change = set_suppressed(
            uow,
            at=now,
            address=address,
            suppressed=True,
            reason=self.reason,
            provenance=self.provenance,
        )
        return ChangeResult(changes=(change,))

    @staticmethod
    def combine(uow: UnitOfWork, works: Sequence[object]) -> list[object]:
        """Run `works` (each a `SuppressAddress`) as if one after another, in groups of
        works on different addresses."""
        suppress = [work for work in works if isinstance(work, SuppressAddress)]
        if len(suppress) != len(works):
            raise TypeError("SuppressAddress.combine runs SuppressAddress works only")
        results: list[object] = []
        group: list[SuppressAddress] = []
        named: set[tuple[int, Channel, str]] = set()
        for work in suppress:
            address = (work.tenant_id, work.key.channel, work.key.address_hash)
            if address in named:
                results += _suppress_each(uow, group)
                group, named = [], set()
            group.append(work)
            named.add(address)
        results += _suppress_each(uow, group)
        return results


def _suppress_each(uow: UnitOfWork, works: Sequence[SuppressAddress]) -> list[ChangeResult]:
    """`SuppressAddress` of each of `works`, which name different addresses, in three
    statements. The clock is read as each would read it, in the same order."""
    times = [(work.ctx.clock.now(), work.ctx.clock.now()) for work in works]
    addresses = uow.addresses.find_or_add_each(
        [
            AddressToFind(
                tenant_id=work.tenant_id,
                channel=work.key.channel,
                value=work.key.value,
                address_hash=work.key.address_hash,
                created_at=created_at,
            )
            for work, (_, created_at) in zip(works, times, strict=True)
        ]
    )
    added = uow.suppressions.add_each(
        [
            suppression_of(address, reason=work.reason, since=now)
            for work, address, (now, _) in zip(works, addresses, times, strict=True)
        ]
    )
    for work, address, was_added in zip(works, addresses, added, strict=True):
        if not was_added:
            keep_the_stronger_origin(uow, address=address, reason=work.reason)
    events = [
        suppression_event(
            at=now,
            address=address,
            suppressed=True,
            changed=was_added,
            provenance=work.provenance,
            attribution=NO_ATTRIBUTION,
        )
        for work, address, was_added, (now, _) in zip(works, addresses, added, times, strict=True)
    ]
    ids = uow.events.add_each(events, [notice_of(event) for event in events])
    return [
        ChangeResult(changes=(change_of(event, event_id=event_id, address=address, topic=None),))
        for event, event_id, address in zip(events, ids, addresses, strict=True)
    ]
