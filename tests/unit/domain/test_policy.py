from datetime import UTC, datetime

import pytest

from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, SubscriptionState, Topic
from optledger.domain.policy import Decision, Reason, decide

S = SubscriptionState


def topic(category=Category.MARKETING, mode=ConsentMode.OPT_IN) -> Topic:
    return Topic(
        id=1,
        tenant_id=1,
        key="news",
        name="News",
        category=category,
        consent_mode=mode,
        double_opt_in=False,
        channels=frozenset({Channel.EMAIL}),
        unsubscribable=True,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


MARKETING_IN = topic()
MARKETING_OUT = topic(mode=ConsentMode.OPT_OUT)
TRANSACTIONAL = topic(category=Category.TRANSACTIONAL, mode=ConsentMode.OPT_OUT)


@pytest.mark.parametrize(
    ("the_topic", "state", "suppressed", "expected"),
    [
        (MARKETING_IN, None, False, Decision(allowed=False, reason=Reason.NOT_SUBSCRIBED)),
        (MARKETING_IN, S.SUBSCRIBED, False, Decision(allowed=True, reason=Reason.SUBSCRIBED)),
        (MARKETING_IN, S.PENDING, False, Decision(False, Reason.PENDING_CONFIRMATION)),
        (MARKETING_IN, S.UNSUBSCRIBED, False, Decision(False, Reason.UNSUBSCRIBED)),
        (MARKETING_IN, S.SUBSCRIBED, True, Decision(False, Reason.SUPPRESSED)),
        (MARKETING_OUT, None, False, Decision(True, Reason.OPT_OUT_DEFAULT)),
        (MARKETING_OUT, None, True, Decision(False, Reason.SUPPRESSED)),
        (MARKETING_OUT, S.UNSUBSCRIBED, True, Decision(False, Reason.UNSUBSCRIBED)),
        (TRANSACTIONAL, None, True, Decision(True, Reason.TRANSACTIONAL)),
        (TRANSACTIONAL, S.SUBSCRIBED, False, Decision(True, Reason.TRANSACTIONAL)),
        (TRANSACTIONAL, S.UNSUBSCRIBED, False, Decision(False, Reason.UNSUBSCRIBED)),
    ],
)
def test_decision_table(the_topic, state, suppressed, expected):
    assert decide(topic=the_topic, channel=Channel.EMAIL, state=state, suppressed=suppressed) == (
        expected
    )


def test_unknown_topic_and_disabled_channel_are_refused():
    assert decide(topic=None, channel=Channel.EMAIL, state=None, suppressed=False) == Decision(
        False, Reason.UNKNOWN_TOPIC
    )
    assert decide(
        topic=MARKETING_OUT, channel=Channel.SMS, state=S.SUBSCRIBED, suppressed=False
    ) == Decision(False, Reason.CHANNEL_NOT_ENABLED)
