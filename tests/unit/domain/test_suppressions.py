"""Who made a suppression, from its reason: the rule every door shares."""

import pytest

from optledger.domain.suppressions import (
    BOUNCED,
    COMPLAINED,
    UNSUBSCRIBED,
    SuppressionOrigin,
    suppression_origin,
)

Origin = SuppressionOrigin


@pytest.mark.parametrize(
    ("reason", "origin"),
    [
        (UNSUBSCRIBED, Origin.PERSON),
        ("Unsubscribed", Origin.PERSON),
        (" unsubscribe ", Origin.PERSON),
        ("unsubscribes", Origin.PERSON),
        ("opt-out", Origin.PERSON),
        ("Opted out", Origin.PERSON),
        ("OPTOUT", Origin.PERSON),
        (COMPLAINED, Origin.COMPLAINT),
        ("complaint", Origin.COMPLAINT),
        ("spam_complaint", Origin.COMPLAINT),
        ("SpamComplaint", Origin.COMPLAINT),
        ("spam report", Origin.COMPLAINT),
        ("abuse", Origin.COMPLAINT),
        ("unsubscribed after a complaint", Origin.COMPLAINT),
        (BOUNCED, Origin.BOUNCE),
        ("hard_bounce", Origin.BOUNCE),
        ("HardBounce", Origin.BOUNCE),
        ("bounce", Origin.BOUNCE),
        ("invalid_email", Origin.BOUNCE),
        ("undeliverable", Origin.BOUNCE),
        ("cleaned", Origin.BOUNCE),
        ("unsubscribed, then bounced", Origin.BOUNCE),
        ("imported", Origin.OPERATOR),
        ("erased", Origin.OPERATOR),
        ("legal hold", Origin.OPERATOR),
        ("ManualSuppression", Origin.OPERATOR),
        ("unsubscribed by support", Origin.OPERATOR),
        ("", Origin.OPERATOR),
    ],
)
def test_the_origin_of_a_reason(reason: str, origin: Origin) -> None:
    assert suppression_origin(reason) is origin


def test_only_the_persons_own_suppression_is_theirs_to_lift() -> None:
    assert [o for o in SuppressionOrigin if o.by_person] == [Origin.PERSON]
