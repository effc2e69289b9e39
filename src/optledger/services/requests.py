"""Unsubscribe requests: leave now, with a grace period in which the person can take it back.

Suppression is never delayed: the request applies its unsubscribes at once (so no legal
deadline is at risk), stays `pending` for the tenant's grace period, and can be
cancelled until then, which reverts exactly the changes it made. After the grace period
a scheduler completes it.
"""

from collections.abc import Sequence
from datetime import datetime

from optledger.domain.errors import Conflict, NotFound
from optledger.domain.ledger import TOPIC_ACTIONS
from optledger.domain.model import (
    Action,
    Address,
    ConsentEvent,
    OutboxItem,
    Outcome,
    Provenance,
    RequestState,
    SubscriptionState,
    UnsubscribeRequest,
)
from optledger.domain.ports import EventFilter, UnitOfWork
from optledger.services.context import (
    Attribution,
    ResolvedTarget,
    ServiceContext,
    prepare_target,
    require_topics,
    resolve_target,
    set_suppressed,
    set_topic_state,
)
from optledger.services.results import Change, RequestView
from optledger.services.subscriptions import unsubscribe_resolved
from optledger.services.targets import ContactTarget, Target
from optledger.services.validation import check_provenance

__all__ = ["RequestService"]


class RequestService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def request_unsubscribe(
        self,
        *,
        tenant_id: int,
        target: Target,
        topics: Sequence[str] | None,
        provenance: Provenance,
    ) -> RequestView:
        """Unsubscribe the target now from `topics` (None: from everything) and open a
        request that can be cancelled until the tenant's grace period has passed."""
        check_provenance(provenance)
        tenant = self._ctx.tenant(tenant_id)
        prepared = prepare_target(self._ctx, tenant=tenant, target=target)

        def work(uow: UnitOfWork) -> RequestView:
            now = self._ctx.clock.now()
            chosen = None if topics is None else require_topics(uow, tenant_id, topics)
            contact_id = self._contact_id(uow, tenant_id=tenant_id, target=target)
            resolved = resolve_target(uow, self._ctx, tenant=tenant, target=prepared)
            request = uow.requests.add(
                tenant_id=tenant_id,
                contact_id=contact_id,
                address_id=None if contact_id else resolved.addresses[0].id,
                topic_ids=[t.id for t in chosen or ()],
                created_at=now,
                effective_at=now + tenant.grace_period,
            )
            _record_request_event(
                uow,
                request=request,
                action=Action.REQUEST_UNSUBSCRIBE,
                at=now,
                provenance=provenance,
            )
            changes = unsubscribe_resolved(
                uow,
                at=now,
                resolved=_attributed(resolved, request.id),
                topics=chosen,
                strict_channels=contact_id is None,
                provenance=provenance,
            )
            return _view(uow, request, changes)

        return self._ctx.transactions.write(work)

    def get_request(self, *, tenant_id: int, request_id: int) -> RequestView:
        def work(uow: UnitOfWork) -> RequestView:
            return _view(uow, _require_request(uow, tenant_id, request_id), [])

        return self._ctx.transactions.read(work)

    def cancel_request(
        self, *, tenant_id: int, request_id: int, provenance: Provenance
    ) -> RequestView:
        """Take a pending request back, reverting each change it made that still stands.

        Only possible before the request's effective time; afterwards it is a Conflict.
        """
        check_provenance(provenance)

        def work(uow: UnitOfWork) -> RequestView:
            now = self._ctx.clock.now()
            request = _require_request(uow, tenant_id, request_id)
            if request.state is not RequestState.PENDING or now >= request.effective_at:
                raise Conflict("the unsubscribe request is no longer pending")
            changes = [
                change
                for event in uow.events.of_request(request.id)
                if event.outcome is Outcome.CHANGED
                and (change := _revert(uow, event=event, at=now, provenance=provenance)) is not None
            ]
            uow.requests.close(request.id, state=RequestState.CANCELLED, at=now)
            _record_request_event(
                uow, request=request, action=Action.CANCEL_REQUEST, at=now, provenance=provenance
            )
            return _view(uow, _require_request(uow, tenant_id, request_id), changes)

        return self._ctx.transactions.write(work)

    def complete_due_requests(self, *, limit: int = 500) -> int:
        """Complete the pending requests whose grace period is over; returns how many."""

        def work(uow: UnitOfWork) -> int:
            now = self._ctx.clock.now()
            due = uow.requests.due(at=now, limit=limit)
            for request in due:
                uow.requests.close(request.id, state=RequestState.COMPLETED, at=now)
                _record_request_event(
                    uow,
                    request=request,
                    action=Action.COMPLETE_REQUEST,
                    at=now,
                    provenance=Provenance(via="scheduler"),
                )
            return len(due)

        return self._ctx.transactions.write(work)

    @staticmethod
    def _contact_id(uow: UnitOfWork, *, tenant_id: int, target: Target) -> int | None:
        if not isinstance(target, ContactTarget):
            return None
        contact = uow.contacts.by_external_id(tenant_id, target.external_id)
        if contact is None:
            raise NotFound(kind="contact", key=target.external_id)
        return contact.id


def _attributed(resolved: ResolvedTarget, request_id: int) -> ResolvedTarget:
    attribution = Attribution(
        message_uid=resolved.attribution.message_uid,
        campaign=resolved.attribution.campaign,
        unsubscribe_request_id=request_id,
    )
    return ResolvedTarget(
        addresses=resolved.addresses,
        attribution=attribution,
        message_topic=resolved.message_topic,
    )


def _require_request(uow: UnitOfWork, tenant_id: int, request_id: int) -> UnsubscribeRequest:
    request = uow.requests.get(tenant_id, request_id)
    if request is None:
        raise NotFound(kind="unsubscribe request", key=str(request_id))
    return request


def _record_request_event(
    uow: UnitOfWork,
    *,
    request: UnsubscribeRequest,
    action: Action,
    at: datetime,
    provenance: Provenance,
) -> None:
    event_id = uow.events.add(
        ConsentEvent(
            tenant_id=request.tenant_id,
            occurred_at=at,
            action=action,
            outcome=Outcome.CHANGED,
            channel=None,
            address_hash=None,
            address_id=request.address_id,
            contact_id=request.contact_id,
            topic_id=None,
            state=None,
            provenance=provenance,
            unsubscribe_request_id=request.id,
        )
    )
    uow.outbox.add(
        OutboxItem(
            tenant_id=request.tenant_id,
            kind="consent.changed",
            payload={"event_id": event_id},
            created_at=at,
        )
    )


def _revert(
    uow: UnitOfWork, *, event: ConsentEvent, at: datetime, provenance: Provenance
) -> Change | None:
    """Undo one change of a request if it still stands; None when there is nothing to undo."""
    if event.address_id is None or event.address_hash is None:
        return None
    address = uow.addresses.get(event.tenant_id, event.address_id)
    if address is None:
        return None
    attribution = Attribution(unsubscribe_request_id=event.unsubscribe_request_id)
    if event.action is Action.SUPPRESS:
        if uow.suppressions.get(address.tenant_id, address.channel, address.address_hash) is None:
            return None
        return set_suppressed(
            uow,
            at=at,
            address=address,
            suppressed=False,
            reason="request cancelled",
            provenance=provenance,
            attribution=attribution,
        )
    if event.action is not Action.UNSUBSCRIBE or event.topic_id is None:
        return None
    current = uow.subscriptions.get(address.id, event.topic_id)
    topic = uow.topics.get(event.tenant_id, event.topic_id)
    if topic is None or current is None or current.state is not SubscriptionState.UNSUBSCRIBED:
        return None
    return set_topic_state(
        uow,
        at=at,
        action=Action.RESUBSCRIBE,
        address=address,
        topic=topic,
        state=_state_before(uow, event=event, address=address),
        provenance=provenance,
        attribution=attribution,
    )


def _state_before(
    uow: UnitOfWork, *, event: ConsentEvent, address: Address
) -> SubscriptionState | None:
    """The state (address, topic) had just before `event`, read back from the ledger."""
    history = uow.events.query(
        event.tenant_id,
        where=EventFilter(address_hash=address.address_hash),
        after_id=0,
        limit=event.id,
    )
    earlier = [
        e.state
        for e in history
        if e.id < event.id and e.topic_id == event.topic_id and e.action in TOPIC_ACTIONS
    ]
    return earlier[-1] if earlier else None


def _view(uow: UnitOfWork, request: UnsubscribeRequest, changes: list[Change]) -> RequestView:
    keys = []
    for topic_id in request.topic_ids:
        topic = uow.topics.get(request.tenant_id, topic_id)
        if topic is not None:
            keys.append(topic.key)
    return RequestView(
        id=request.id,
        state=request.state,
        created_at=request.created_at,
        effective_at=request.effective_at,
        closed_at=request.closed_at,
        topics=tuple(keys),
        changes=tuple(changes),
    )
