from datetime import timedelta

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, NotFound
from optledger.domain.model import Action, Outcome, RequestState, SubscriptionState
from optledger.domain.policy import Reason
from optledger.services.targets import AddressTarget, ContactTarget
from tests.unit.conftest import API

EMAIL = Channel.EMAIL


def allowed(services, tenant_id, topic, address):
    (result,) = services.checks.check(
        tenant_id=tenant_id, topic=topic, channel=EMAIL, addresses=[address]
    )
    return result.allowed, result.reason


@pytest.fixture
def subscribed(services, tenant_id):
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="a@example.com",
        topic="news",
        provenance=API,
        contact="u1",
    )


def test_marketing_stops_at_once_while_the_request_is_pending(
    services, tenant_id, subscribed, clock
):
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=None, provenance=API
    )
    assert (view.state, view.created_at, view.effective_at, view.topics) == (
        RequestState.PENDING,
        clock.now(),
        clock.now() + timedelta(days=7),
        (),
    )
    assert [(c.action, c.outcome) for c in view.changes] == [(Action.SUPPRESS, Outcome.CHANGED)]
    assert allowed(services, tenant_id, "news", "a@example.com") == (False, Reason.SUPPRESSED)


def test_cancel_reverts_exactly_what_the_request_changed(
    services, tenant_id, subscribed, transactions
):
    target = AddressTarget(channel=EMAIL, address="a@example.com")
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id, target=target, topics=["digest"], provenance=API
    )
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=target, topics=["news", "digest"], provenance=API
    )
    assert view.topics == ("news", "digest")
    assert [(c.topic, c.outcome) for c in view.changes] == [
        ("news", Outcome.CHANGED),
        ("digest", Outcome.REPEATED),
    ]
    cancelled = services.requests.cancel_request(
        tenant_id=tenant_id, request_id=view.id, provenance=API
    )
    assert cancelled.state is RequestState.CANCELLED
    assert [(c.topic, c.action, c.state) for c in cancelled.changes] == [
        ("news", Action.RESUBSCRIBE, SubscriptionState.SUBSCRIBED)
    ]
    assert allowed(services, tenant_id, "news", "a@example.com") == (True, Reason.SUBSCRIBED)
    assert allowed(services, tenant_id, "digest", "a@example.com") == (False, Reason.UNSUBSCRIBED)
    assert services.contacts.verify_ledger(tenant_id=tenant_id).differences == ()


def test_cancel_restores_the_default_when_there_was_no_subscription(services, tenant_id):
    target = AddressTarget(channel=EMAIL, address="b@example.com")
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=target, topics=["digest"], provenance=API
    )
    assert allowed(services, tenant_id, "digest", "b@example.com") == (False, Reason.UNSUBSCRIBED)
    cancelled = services.requests.cancel_request(
        tenant_id=tenant_id, request_id=view.id, provenance=API
    )
    assert [(c.topic, c.state) for c in cancelled.changes] == [("digest", None)]
    assert allowed(services, tenant_id, "digest", "b@example.com") == (True, Reason.OPT_OUT_DEFAULT)


def test_a_change_made_since_is_not_reverted(services, tenant_id, subscribed):
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=None, provenance=API
    )
    services.subscriptions.resubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=None, provenance=API
    )
    cancelled = services.requests.cancel_request(
        tenant_id=tenant_id, request_id=view.id, provenance=API
    )
    assert cancelled.changes == ()


def test_due_requests_complete_and_can_no_longer_be_cancelled(
    services, tenant_id, subscribed, clock
):
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=None, provenance=API
    )
    clock.advance(timedelta(days=6))
    assert services.requests.complete_due_requests() == 0
    clock.advance(timedelta(days=1))
    assert services.requests.complete_due_requests() == 1
    done = services.requests.get_request(tenant_id=tenant_id, request_id=view.id)
    assert (done.state, done.closed_at) == (RequestState.COMPLETED, clock.now())
    with pytest.raises(Conflict, match="no longer pending"):
        services.requests.cancel_request(tenant_id=tenant_id, request_id=view.id, provenance=API)
    assert allowed(services, tenant_id, "news", "a@example.com") == (False, Reason.SUPPRESSED)
    assert services.contacts.verify_ledger(tenant_id=tenant_id).consistent


def test_another_tenants_request_is_not_found(services, tenant_id, subscribed):
    view = services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=None, provenance=API
    )
    other = services.tenants.create_tenant(name="other").tenant
    with pytest.raises(NotFound, match="unsubscribe request '1' was not found"):
        services.requests.get_request(tenant_id=other.id, request_id=view.id)
