from datetime import timedelta

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, InvalidInput, NotFound
from optledger.domain.model import Action, Outcome, Provenance, RequestState, SubscriptionState
from optledger.domain.policy import Reason
from optledger.services.contacts import AddressView, HistoryQuery, MessageView, RequestSummary
from optledger.services.messages import MessageSpec
from optledger.services.targets import AddressTarget, ContactTarget
from tests.unit.conftest import API

EMAIL = Channel.EMAIL
PAGE = Provenance(
    via="page",
    actor="person",
    device="mobile",
    entrypoint="footer",
    tags=("spring",),
    context={"form": "prefs"},
    request_id="req-1",
    idempotency_key="idem-1",
    locale="fr-CA",
    ip="203.0.113.9",
    user_agent="Mozilla/5.0",
)


@pytest.fixture
def person(services, tenant_id, clock):
    for channel, address in ((EMAIL, "a@example.com"), (Channel.SMS, "+14155550100")):
        services.subscriptions.subscribe(
            tenant_id=tenant_id,
            channel=channel,
            address=address,
            topic="news",
            provenance=API,
            contact="u1",
        )
    clock.advance(timedelta(hours=1))
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(EMAIL, "a@example.com"),
        topics=["news"],
        provenance=PAGE,
    )


def test_history_pages_with_a_cursor_and_keeps_every_field(services, tenant_id, person, clock):
    first = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(contact="u1", limit=2)
    )
    assert [(e.id, e.action, e.channel) for e in first.events] == [
        (1, Action.SUBSCRIBE, EMAIL),
        (2, Action.SUBSCRIBE, Channel.SMS),
    ]
    assert first.next_cursor == 2
    second = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(contact="u1", after=2, limit=2)
    )
    (event,) = second.events
    assert second.next_cursor is None
    assert (event.address, event.topic, event.state, event.outcome) == (
        "a@example.com",
        "news",
        SubscriptionState.UNSUBSCRIBED,
        Outcome.CHANGED,
    )
    assert (
        event.via,
        event.actor,
        event.device,
        event.entrypoint,
        event.tags,
        dict(event.context),
    ) == (
        "page",
        "person",
        "mobile",
        "footer",
        ("spring",),
        {"form": "prefs"},
    )
    assert (event.request_id, event.idempotency_key, event.locale, event.ip, event.user_agent) == (
        "req-1",
        "idem-1",
        "fr-CA",
        "203.0.113.9",
        "Mozilla/5.0",
    )
    assert event.occurred_at == clock.now()


def test_history_filters(services, tenant_id, person, clock):
    by_via = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(contact="u1", via="page")
    )
    assert [e.id for e in by_via.events] == [3]
    by_action = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(contact="u1", action=Action.SUBSCRIBE)
    )
    assert [e.id for e in by_action.events] == [1, 2]
    by_time = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(contact="u1", since=clock.now())
    )
    assert [e.id for e in by_time.events] == [3]
    by_address = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(channel=Channel.SMS, address="(415) 555-0100")
    )
    assert [e.id for e in by_address.events] == [2]


def test_history_needs_exactly_one_subject_and_a_sane_limit(services, tenant_id):
    with pytest.raises(InvalidInput) as caught:
        services.contacts.history(tenant_id=tenant_id, query=HistoryQuery())
    assert caught.value.errors == (
        FieldError("contact", "give either a contact or an address, not both"),
    )
    with pytest.raises(InvalidInput) as caught:
        services.contacts.history(tenant_id=tenant_id, query=HistoryQuery(contact="u1", limit=0))
    assert caught.value.errors == (FieldError("limit", "must be between 1 and 1000"),)


def test_export_holds_everything_about_the_person(services, tenant_id, person, clock):
    services.messages.register_messages(
        tenant_id=tenant_id,
        messages=[
            MessageSpec(Channel.SMS, "+14155550100", "news", campaign="c1", message_uid="m1")
        ],
    )
    services.requests.request_unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1", Channel.SMS), topics=None, provenance=API
    )
    export = services.contacts.export_contact(tenant_id=tenant_id, external_id="u1")
    assert export.external_id == "u1"
    assert export.addresses == (
        AddressView(EMAIL, "a@example.com", suppressed=False),
        AddressView(Channel.SMS, "+14155550100", suppressed=True),
    )
    assert [(s.address, s.topic, s.state) for s in export.subscriptions] == [
        ("a@example.com", "news", SubscriptionState.UNSUBSCRIBED),
        ("+14155550100", "news", SubscriptionState.SUBSCRIBED),
    ]
    assert export.messages == (
        MessageView("m1", Channel.SMS, "+14155550100", "news", "c1", clock.now()),
    )
    assert export.unsubscribe_requests == (
        RequestSummary(1, RequestState.PENDING, clock.now(), clock.now() + timedelta(days=7), None),
    )
    assert [e.action for e in export.events] == [
        Action.SUBSCRIBE,
        Action.SUBSCRIBE,
        Action.UNSUBSCRIBE,
        Action.REQUEST_UNSUBSCRIBE,
        Action.SUPPRESS,
    ]


def test_erase_forgets_the_person_but_never_contacts_them_again(
    services, tenant_id, person, transactions
):
    assert (
        services.contacts.erase_contact(tenant_id=tenant_id, external_id="u1", provenance=API) == 2
    )
    store = transactions.store
    assert store.addresses == {}
    assert store.subscriptions == {}
    contact = store.contacts[1]
    assert (contact.external_id, contact.erased_at is not None) == (None, True)
    for event in store.events.values():
        assert event.address_id is None
        assert (event.provenance.ip, event.provenance.user_agent, event.provenance.actor) == (
            None,
            None,
            None,
        )
    assert {(s.channel, s.address_id, s.reason) for s in store.suppressions.values()} == {
        (EMAIL, None, "erased"),
        (Channel.SMS, None, "erased"),
    }
    (result,) = services.checks.check(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, addresses=["A@example.com"]
    )
    assert (result.allowed, result.reason) == (False, Reason.SUPPRESSED)
    with pytest.raises(NotFound):
        services.contacts.export_contact(tenant_id=tenant_id, external_id="u1")
    assert services.contacts.verify_ledger(tenant_id=tenant_id).consistent
    page = services.suppressions.export_page(tenant_id=tenant_id)
    assert [row.address for row in page.rows] == [None, None]


def test_verify_ledger_finds_a_tampered_state(services, tenant_id, person, transactions):
    report = services.contacts.verify_ledger(tenant_id=tenant_id)
    assert (report.events, report.differences) == (3, ())
    key = next(iter(transactions.store.subscriptions))
    del transactions.store.subscriptions[key]
    report = services.contacts.verify_ledger(tenant_id=tenant_id)
    assert not report.consistent
    assert len(report.differences) == 1
    assert report.differences[0].startswith("subscription (")
    assert report.differences[0].endswith(", 1): ledger says unsubscribed, stored None")
