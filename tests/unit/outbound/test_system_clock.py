from datetime import UTC, datetime

from optledger.outbound.clock import SystemClock


def test_now_is_aware_utc_and_current():
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after
