"""Subscribe (with double opt-in), confirm, unsubscribe and resubscribe."""

import secrets
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta

from optledger.domain.channels import Channel
from optledger.domain.errors import Forbidden, InvalidInput, InvalidLinkToken
from optledger.domain.model import (
    Action,
    Address,
    Confirmation,
    OutboxItem,
    Outcome,
    Provenance,
    SubscriptionState,
    Tenant,
    Topic,
)
from optledger.domain.ports import Completion, UnitOfWork
from optledger.domain.suppressions import UNSUBSCRIBED
from optledger.services.context import (
    AddressKey,
    ResolvedTarget,
    ServiceContext,
    SuppressAddress,
    ensure_address,
    prepare_target,
    require_topic,
    require_topics,
    resolve_target,
    set_suppressed,
    set_topic_state,
)
from optledger.services.results import Change, ChangeResult, SubscribeResult
from optledger.services.targets import ContactTarget, Target
from optledger.services.validation import check_provenance, check_storable

__all__ = ["CONFIRMATION_TTL", "SubscriptionService", "unsubscribe_resolved"]

CONFIRMATION_TTL = timedelta(days=7)


class SubscriptionService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def subscribe(
        self,
        *,
        tenant_id: int,
        channel: Channel,
        address: str,
        topic: str,
        provenance: Provenance,
        contact: str | None = None,
    ) -> SubscribeResult:
        """Subscribe an address to a topic, optionally attaching it to a contact (created on
        first use, by external id).

        A double opt-in topic leaves the subscription `pending` and returns the token the
        person must confirm with; an outbox row asks for the confirmation notice.
        """

        check_provenance(provenance)
        tenant = self._ctx.tenant(tenant_id)
        key = self._ctx.address_key(tenant=tenant, channel=channel, raw=address)
        if contact is not None and not contact.strip():
            raise InvalidInput.of("contact", "must not be empty")
        check_storable(("contact", contact))

        def work(uow: UnitOfWork) -> SubscribeResult:
            the_topic = require_topic(uow, tenant_id, topic)
            if channel not in the_topic.channels:
                raise InvalidInput.of("channel", f"topic {topic!r} is not sent on {channel}")
            contact_id = _ensure_contact(
                uow, self._ctx, tenant_id=tenant_id, external_id=contact, locale=provenance.locale
            )
            the_address = ensure_address(
                uow, self._ctx, tenant_id=tenant_id, key=key, contact_id=contact_id
            )
            return self._subscribe(
                uow, tenant=tenant, address=the_address, topic=the_topic, provenance=provenance
            )

        return self._ctx.transactions.write(work)

    def _subscribe(
        self,
        uow: UnitOfWork,
        *,
        tenant: Tenant,
        address: Address,
        topic: Topic,
        provenance: Provenance,
    ) -> SubscribeResult:
        now = self._ctx.clock.now()
        current = uow.subscriptions.get(address.id, topic.id)
        needs_confirmation = topic.double_opt_in and (
            current is None or current.state is not SubscriptionState.SUBSCRIBED
        )
        state = SubscriptionState.PENDING if needs_confirmation else SubscriptionState.SUBSCRIBED
        change = set_topic_state(
            uow,
            at=now,
            action=Action.SUBSCRIBE,
            address=address,
            topic=topic,
            state=state,
            provenance=provenance,
        )
        if not needs_confirmation:
            return SubscribeResult(change=change, confirmation_token=None)
        token = secrets.token_urlsafe(32)
        uow.confirmations.add(
            Confirmation(
                token_hash=self._ctx.hasher.secret_hash(token),
                tenant_id=tenant.id,
                address_id=address.id,
                topic_id=topic.id,
                created_at=now,
                expires_at=now + CONFIRMATION_TTL,
            )
        )
        uow.outbox.add(
            OutboxItem(
                tenant_id=tenant.id,
                kind="confirmation.requested",
                payload={"token": token, "address_id": address.id, "topic_id": topic.id},
                created_at=now,
            )
        )
        return SubscribeResult(change=change, confirmation_token=token)

    def confirm(
        self, *, token: str, provenance: Provenance, tenant_id: int | None = None
    ) -> Change:
        """Complete a double opt-in. A used token confirms again harmlessly (`repeated`);
        an unknown or expired one, or with `tenant_id` another tenant's, is an
        InvalidLinkToken, whatever the reason."""
        check_provenance(provenance)
        check_storable(("token", token))

        def work(uow: UnitOfWork) -> Change:
            now = self._ctx.clock.now()
            confirmation = uow.confirmations.by_hash(self._ctx.hasher.secret_hash(token))
            if confirmation is None or confirmation.expires_at <= now:
                raise InvalidLinkToken
            if tenant_id is not None and confirmation.tenant_id != tenant_id:
                raise InvalidLinkToken
            address = uow.addresses.get(confirmation.tenant_id, confirmation.address_id)
            topic = uow.topics.get(confirmation.tenant_id, confirmation.topic_id)
            if address is None or topic is None:
                raise InvalidLinkToken
            if confirmation.confirmed_at is None:
                uow.confirmations.mark_confirmed(confirmation.token_hash, at=now)
            return set_topic_state(
                uow,
                at=now,
                action=Action.CONFIRM,
                address=address,
                topic=topic,
                state=SubscriptionState.SUBSCRIBED,
                provenance=provenance,
            )

        return self._ctx.transactions.write(work)

    def unsubscribe(
        self,
        *,
        tenant_id: int,
        target: Target,
        topics: Sequence[str] | None,
        provenance: Provenance,
        notify: bool = False,
    ) -> ChangeResult:
        """Unsubscribe the target from `topics`, or from everything on its channel(s) when
        `topics` is None (a suppression, which blocks marketing topics only).

        Repeating an unsubscribe succeeds and is recorded with outcome `repeated`. With
        `notify`, one confirmation notice per address is queued.
        """
        committed: Future[ChangeResult] = Future()
        self.submit_unsubscribe(
            tenant_id=tenant_id,
            target=target,
            topics=topics,
            provenance=provenance,
            notify=notify,
            completion=committed,
        )
        return committed.result()

    def submit_unsubscribe(
        self,
        *,
        tenant_id: int,
        target: Target,
        topics: Sequence[str] | None,
        provenance: Provenance,
        completion: Completion[ChangeResult],
        notify: bool = False,
    ) -> None:
        """`unsubscribe`, queued: invalid input raises here, and `completion` hears the
        result once the change is committed (or the use case's error)."""
        check_provenance(provenance)
        tenant = self._ctx.tenant(tenant_id)
        prepared = prepare_target(self._ctx, tenant=tenant, target=target)
        if topics is None and not notify and isinstance(prepared, AddressKey):
            suppress = SuppressAddress(
                ctx=self._ctx,
                tenant_id=tenant.id,
                key=prepared,
                reason=UNSUBSCRIBED,
                provenance=provenance,
            )
            self._ctx.transactions.submit_into(suppress, completion)
            return

        def work(uow: UnitOfWork) -> ChangeResult:
            now = self._ctx.clock.now()
            resolved = resolve_target(uow, self._ctx, tenant=tenant, target=prepared)
            chosen = None if topics is None else require_topics(uow, tenant_id, topics)
            changes = unsubscribe_resolved(
                uow,
                at=now,
                resolved=resolved,
                topics=chosen,
                strict_channels=not isinstance(target, ContactTarget),
                provenance=provenance,
            )
            if notify:
                _queue_notices(uow, at=now, addresses=resolved.addresses, changes=changes)
            return ChangeResult(changes=tuple(changes))

        self._ctx.transactions.submit_into(work, completion)

    def resubscribe(
        self,
        *,
        tenant_id: int,
        target: Target,
        topics: Sequence[str] | None,
        provenance: Provenance,
    ) -> ChangeResult:
        """Subscribe the target to `topics` again, or lift its suppression when `topics` is
        None. This is an explicit act of the person (an undo), so it needs no confirmation."""
        check_provenance(provenance)
        tenant = self._ctx.tenant(tenant_id)
        prepared = prepare_target(self._ctx, tenant=tenant, target=target)

        def work(uow: UnitOfWork) -> ChangeResult:
            now = self._ctx.clock.now()
            resolved = resolve_target(uow, self._ctx, tenant=tenant, target=prepared)
            if topics is None:
                changes = [
                    set_suppressed(
                        uow,
                        at=now,
                        address=address,
                        suppressed=False,
                        reason="resubscribed",
                        provenance=provenance,
                        attribution=resolved.attribution,
                    )
                    for address in resolved.addresses
                ]
                return ChangeResult(changes=tuple(changes))
            chosen = require_topics(uow, tenant_id, topics)
            changes = [
                set_topic_state(
                    uow,
                    at=now,
                    action=Action.RESUBSCRIBE,
                    address=address,
                    topic=topic,
                    state=SubscriptionState.SUBSCRIBED,
                    provenance=provenance,
                    attribution=resolved.attribution,
                )
                for address in resolved.addresses
                for topic in _topics_on_channel(
                    chosen, address=address, strict=not isinstance(target, ContactTarget)
                )
            ]
            return ChangeResult(changes=tuple(changes))

        return self._ctx.transactions.write(work)


def unsubscribe_resolved(
    uow: UnitOfWork,
    *,
    at: datetime,
    resolved: ResolvedTarget,
    topics: list[Topic] | None,
    strict_channels: bool,
    provenance: Provenance,
) -> list[Change]:
    """The unsubscribe step shared by direct unsubscribes and unsubscribe requests."""
    if topics is None:
        return [
            set_suppressed(
                uow,
                at=at,
                address=address,
                suppressed=True,
                reason=UNSUBSCRIBED,
                provenance=provenance,
                attribution=resolved.attribution,
            )
            for address in resolved.addresses
        ]
    for index, topic in enumerate(topics):
        if not topic.unsubscribable:
            raise Forbidden(f"topics[{index}]: topic {topic.key!r} cannot be unsubscribed from")
    return [
        set_topic_state(
            uow,
            at=at,
            action=Action.UNSUBSCRIBE,
            address=address,
            topic=topic,
            state=SubscriptionState.UNSUBSCRIBED,
            provenance=provenance,
            attribution=resolved.attribution,
        )
        for address in resolved.addresses
        for topic in _topics_on_channel(topics, address=address, strict=strict_channels)
    ]


def _topics_on_channel(topics: list[Topic], *, address: Address, strict: bool) -> list[Topic]:
    """The topics sent on the address's channel. For a single address (`strict`), naming
    only topics that are not sent on its channel is a mistake worth reporting."""
    chosen = [t for t in topics if address.channel in t.channels]
    if strict and not chosen:
        raise InvalidInput.of("topics", f"none of these topics is sent on {address.channel}")
    return chosen


def _ensure_contact(
    uow: UnitOfWork,
    ctx: ServiceContext,
    *,
    tenant_id: int,
    external_id: str | None,
    locale: str | None,
) -> int | None:
    """The contact's id, created on first use. A subscribe that says which language the
    person uses stores it as the contact's locale, which the hosted pages speak."""
    if external_id is None:
        return None
    existing = uow.contacts.by_external_id(tenant_id, external_id)
    if existing is None:
        created = uow.contacts.add(
            tenant_id=tenant_id, external_id=external_id, locale=locale, created_at=ctx.clock.now()
        )
        return created.id
    if locale is not None and existing.locale != locale:
        uow.contacts.set_locale(existing.id, locale)
    return existing.id


def _queue_notices(
    uow: UnitOfWork, *, at: datetime, addresses: Sequence[Address], changes: Sequence[Change]
) -> None:
    """One notice per address whose consent this opt-out changed: a repeated opt-out
    already had its notice, and people get at most one per opt-out."""
    changed = {(c.channel, c.address) for c in changes if c.outcome is Outcome.CHANGED}
    for address in addresses:
        if (address.channel, address.value) not in changed:
            continue
        uow.outbox.add(
            OutboxItem(
                tenant_id=address.tenant_id,
                kind="notice.unsubscribed",
                payload={"address_id": address.id},
                created_at=at,
            )
        )
