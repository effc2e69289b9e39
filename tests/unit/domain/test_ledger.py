from datetime import UTC, datetime

import pytest

from optledger.domain.channels import Channel
from optledger.domain.ledger import LedgerState, project
from optledger.domain.model import (
    Action,
    ConsentEvent,
    Outcome,
    Provenance,
    RequestState,
    SubscriptionState,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(action, *, topic=None, state=None, address="h1", request=None) -> ConsentEvent:
    return ConsentEvent(
        tenant_id=1,
        occurred_at=AT,
        action=action,
        outcome=Outcome.CHANGED,
        channel=Channel.EMAIL,
        address_hash=address,
        address_id=None,
        contact_id=None,
        topic_id=topic,
        state=state,
        provenance=Provenance(via="test"),
        unsubscribe_request_id=request,
    )


def test_projection_applies_events_in_order():
    state = project(
        [
            event(Action.SUBSCRIBE, topic=1, state=SubscriptionState.PENDING),
            event(Action.CONFIRM, topic=1, state=SubscriptionState.SUBSCRIBED),
            event(Action.SUBSCRIBE, topic=2, state=SubscriptionState.SUBSCRIBED, address="h2"),
            event(Action.UNSUBSCRIBE, topic=2, state=SubscriptionState.UNSUBSCRIBED, address="h2"),
            event(Action.RESUBSCRIBE, topic=2, state=None, address="h2"),
            event(Action.SUPPRESS, address="h3"),
            event(Action.SUPPRESS, address="h4"),
            event(Action.UNSUPPRESS, address="h4"),
            event(Action.REQUEST_UNSUBSCRIBE, request=7),
            event(Action.REQUEST_UNSUBSCRIBE, request=8),
            event(Action.CANCEL_REQUEST, request=7),
            event(Action.COMPLETE_REQUEST, request=8),
        ]
    )
    assert state == LedgerState(
        subscriptions={("h1", 1): SubscriptionState.SUBSCRIBED},
        suppressions={(Channel.EMAIL, "h3")},
        requests={7: RequestState.CANCELLED, 8: RequestState.COMPLETED},
    )


def test_erase_drops_the_subscriptions_of_the_address_but_not_its_suppression():
    state = project(
        [
            event(Action.SUBSCRIBE, topic=1, state=SubscriptionState.SUBSCRIBED),
            event(Action.SUBSCRIBE, topic=1, state=SubscriptionState.SUBSCRIBED, address="h2"),
            event(Action.SUPPRESS),
            event(Action.ERASE),
        ]
    )
    assert state.subscriptions == {("h2", 1): SubscriptionState.SUBSCRIBED}
    assert state.suppressions == {(Channel.EMAIL, "h1")}


def test_malformed_events_are_reported():
    with pytest.raises(ValueError, match="a topic action needs an address and a topic"):
        project([event(Action.SUBSCRIBE, state=SubscriptionState.SUBSCRIBED)])
    with pytest.raises(ValueError, match="a request action needs the request id"):
        project([event(Action.CANCEL_REQUEST)])
