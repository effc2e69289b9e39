from datetime import timedelta

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, Forbidden, InvalidInput, InvalidLinkToken, NotFound
from optledger.domain.model import Action, Outcome, Provenance, SubscriptionState
from optledger.domain.policy import Reason
from optledger.services.messages import MessageSpec
from optledger.services.results import Change
from optledger.services.targets import AddressTarget, ContactTarget, MessageTarget
from tests.unit.conftest import API

S = SubscriptionState
EMAIL = Channel.EMAIL


def decision(services, tenant_id, topic, address, channel=EMAIL):
    (result,) = services.checks.check(
        tenant_id=tenant_id, topic=topic, channel=channel, addresses=[address]
    )
    return result.allowed, result.reason


class TestSubscribe:
    def test_single_opt_in_subscribes_at_once(self, services, tenant_id, transactions):
        result = services.subscriptions.subscribe(
            tenant_id=tenant_id,
            channel=EMAIL,
            address="Ann@Example.com",
            topic="news",
            provenance=API,
            contact="user-1",
        )
        assert result.confirmation_token is None
        assert result.change == Change(
            event_id=1,
            channel=EMAIL,
            address="ann@example.com",
            topic="news",
            action=Action.SUBSCRIBE,
            outcome=Outcome.CHANGED,
            state=S.SUBSCRIBED,
        )
        assert decision(services, tenant_id, "news", "ann@example.com") == (True, Reason.SUBSCRIBED)
        (event,) = transactions.store.events.values()
        assert event.contact_id == transactions.store.contacts[1].id
        assert [o.kind for o in transactions.store.outbox] == ["consent.changed"]

    def test_subscribing_twice_is_repeated(self, services, tenant_id):
        for _ in range(2):
            result = services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=EMAIL,
                address="a@example.com",
                topic="news",
                provenance=API,
            )
        assert result.change.outcome is Outcome.REPEATED

    def test_double_opt_in_waits_for_the_token(self, services, tenant_id, transactions):
        result = services.subscriptions.subscribe(
            tenant_id=tenant_id, channel=EMAIL, address="a@example.com", topic="vip", provenance=API
        )
        assert result.change.state is S.PENDING
        assert decision(services, tenant_id, "vip", "a@example.com") == (
            False,
            Reason.PENDING_CONFIRMATION,
        )
        assert transactions.store.outbox[-1].kind == "confirmation.requested"
        assert transactions.store.outbox[-1].payload["token"] == result.confirmation_token
        confirmed = services.subscriptions.confirm(
            token=result.confirmation_token, provenance=Provenance(via="page")
        )
        assert (confirmed.action, confirmed.outcome, confirmed.state) == (
            Action.CONFIRM,
            Outcome.CHANGED,
            S.SUBSCRIBED,
        )
        assert decision(services, tenant_id, "vip", "a@example.com") == (True, Reason.SUBSCRIBED)
        again = services.subscriptions.confirm(token=result.confirmation_token, provenance=API)
        assert again.outcome is Outcome.REPEATED

    def test_unknown_and_expired_confirmation_tokens_look_the_same(
        self, services, tenant_id, clock
    ):
        result = services.subscriptions.subscribe(
            tenant_id=tenant_id, channel=EMAIL, address="a@example.com", topic="vip", provenance=API
        )
        with pytest.raises(InvalidLinkToken):
            services.subscriptions.confirm(token="nope", provenance=API)
        clock.advance(timedelta(days=7))
        with pytest.raises(InvalidLinkToken):
            services.subscriptions.confirm(token=result.confirmation_token, provenance=API)

    def test_bad_input_names_the_field_and_writes_nothing(self, services, tenant_id, transactions):
        events_before = len(transactions.store.events)
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.subscribe(
                tenant_id=tenant_id, channel=EMAIL, address="nope", topic="news", provenance=API
            )
        assert caught.value.errors[0].field == "address"
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=EMAIL,
                address="a@example.com",
                topic="x",
                provenance=API,
            )
        assert caught.value.errors == (FieldError("topic", "there is no topic 'x'"),)
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=Channel.SMS,
                address="+14155550100",
                topic="digest",
                provenance=API,
            )
        assert caught.value.errors == (FieldError("channel", "topic 'digest' is not sent on sms"),)
        assert len(transactions.store.events) == events_before
        assert transactions.store.addresses == {}

    def test_an_address_cannot_move_between_contacts(self, services, tenant_id):
        services.subscriptions.subscribe(
            tenant_id=tenant_id,
            channel=EMAIL,
            address="a@example.com",
            topic="news",
            provenance=API,
            contact="one",
        )
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=EMAIL,
                address="a@example.com",
                topic="news",
                provenance=API,
                contact="two",
            )
        assert caught.value.errors == (FieldError("address", "already belongs to another contact"),)


class TestUnsubscribe:
    def test_from_one_topic_then_again_is_repeated(self, services, tenant_id):
        target = AddressTarget(channel=EMAIL, address="A@example.com")
        first = services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=target, topics=["digest"], provenance=API
        )
        second = services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=target, topics=["digest"], provenance=API
        )
        assert [(c.topic, c.outcome, c.state) for c in first.changes + second.changes] == [
            ("digest", Outcome.CHANGED, S.UNSUBSCRIBED),
            ("digest", Outcome.REPEATED, S.UNSUBSCRIBED),
        ]
        assert decision(services, tenant_id, "digest", "a@example.com") == (
            False,
            Reason.UNSUBSCRIBED,
        )

    def test_from_everything_suppresses_marketing_but_not_transactional(self, services, tenant_id):
        result = services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(channel=EMAIL, address="a@example.com"),
            topics=None,
            provenance=API,
        )
        assert [(c.action, c.topic, c.outcome) for c in result.changes] == [
            (Action.SUPPRESS, None, Outcome.CHANGED)
        ]
        assert decision(services, tenant_id, "digest", "a@example.com") == (
            False,
            Reason.SUPPRESSED,
        )
        assert decision(services, tenant_id, "receipts", "a@example.com") == (
            True,
            Reason.TRANSACTIONAL,
        )

    def test_several_topics_at_once(self, services, tenant_id):
        result = services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(channel=EMAIL, address="a@example.com"),
            topics=["news", "digest", "news"],
            provenance=API,
        )
        assert [c.topic for c in result.changes] == ["news", "digest"]

    def test_a_contact_on_every_channel_or_one(self, services, tenant_id):
        for channel, address in ((EMAIL, "a@example.com"), (Channel.SMS, "+14155550100")):
            services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=channel,
                address=address,
                topic="news",
                provenance=API,
                contact="u1",
            )
        sms_only = services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=ContactTarget("u1", Channel.SMS),
            topics=None,
            provenance=API,
        )
        assert [(c.channel, c.address) for c in sms_only.changes] == [(Channel.SMS, "+14155550100")]
        everything = services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=ContactTarget("u1"),
            topics=["news", "digest"],
            provenance=API,
        )
        assert [(c.channel, c.topic) for c in everything.changes] == [
            (EMAIL, "news"),
            (EMAIL, "digest"),
            (Channel.SMS, "news"),
        ]

    def test_attributed_to_a_message(self, services, tenant_id, transactions):
        (message,) = services.messages.register_messages(
            tenant_id=tenant_id,
            messages=[
                MessageSpec(
                    channel=EMAIL, address="a@example.com", topic="digest", campaign="spring"
                )
            ],
        )
        result = services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=MessageTarget(message.message_uid),
            topics=["digest"],
            provenance=API,
        )
        event = transactions.store.events[result.changes[0].event_id]
        assert (event.message_uid, event.campaign) == (message.message_uid, "spring")

    def test_unknown_contact_or_message_is_not_found(self, services, tenant_id):
        with pytest.raises(NotFound, match="contact 'ghost' was not found"):
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id, target=ContactTarget("ghost"), topics=None, provenance=API
            )
        with pytest.raises(NotFound, match="message 'm1' was not found"):
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id, target=MessageTarget("m1"), topics=None, provenance=API
            )

    def test_a_transactional_topic_that_forbids_leaving(self, services, tenant_id, transactions):
        with pytest.raises(Forbidden, match="topic 'receipts' cannot be unsubscribed from"):
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(channel=EMAIL, address="a@example.com"),
                topics=["digest", "receipts"],
                provenance=API,
            )
        assert transactions.store.events == {}

    def test_topics_not_sent_on_the_channel(self, services, tenant_id):
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(channel=Channel.SMS, address="+14155550100"),
                topics=["digest"],
                provenance=API,
            )
        assert caught.value.errors == (FieldError("topics", "none of these topics is sent on sms"),)

    def test_empty_topic_list_is_a_mistake(self, services, tenant_id):
        with pytest.raises(InvalidInput) as caught:
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(channel=EMAIL, address="a@example.com"),
                topics=[],
                provenance=API,
            )
        assert caught.value.errors[0].field == "topics"

    def test_notify_queues_one_notice_per_address(self, services, tenant_id, transactions):
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(channel=EMAIL, address="a@example.com"),
            topics=["news", "digest"],
            provenance=API,
            notify=True,
        )
        kinds = [o.kind for o in transactions.store.outbox]
        assert kinds == ["consent.changed", "consent.changed", "notice.unsubscribed"]
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(channel=EMAIL, address="a@example.com"),
            topics=["news"],
            provenance=API,
            notify=True,
        )
        assert len(transactions.store.outbox) == 3


class TestResubscribe:
    def test_topic_and_suppression_are_lifted_separately(self, services, tenant_id):
        target = AddressTarget(channel=EMAIL, address="a@example.com")
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=target, topics=["news"], provenance=API
        )
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=target, topics=None, provenance=API
        )
        back = services.subscriptions.resubscribe(
            tenant_id=tenant_id, target=target, topics=["news"], provenance=API
        )
        assert [(c.action, c.state) for c in back.changes] == [(Action.RESUBSCRIBE, S.SUBSCRIBED)]
        assert decision(services, tenant_id, "news", "a@example.com") == (False, Reason.SUPPRESSED)
        lifted = services.subscriptions.resubscribe(
            tenant_id=tenant_id, target=target, topics=None, provenance=API
        )
        assert [(c.action, c.outcome) for c in lifted.changes] == [
            (Action.UNSUPPRESS, Outcome.CHANGED)
        ]
        assert decision(services, tenant_id, "news", "a@example.com") == (True, Reason.SUBSCRIBED)
