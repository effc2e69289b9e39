"""The rate-limit primitives: token buckets, concurrency slots, client keys."""

import pytest

from optledger.api.throttle import ConcurrencyLimit, TokenBuckets, client_key, retry_after
from optledger.config import RateLimit
from tests.fakes import SteppedSeconds


@pytest.fixture
def seconds() -> SteppedSeconds:
    return SteppedSeconds()


def test_a_bucket_allows_its_count_at_once_then_says_when_the_next_token_comes(seconds):
    buckets = TokenBuckets(RateLimit(20, 60), clock=seconds)

    assert [buckets.take("a") for _ in range(20)] == [0.0] * 20
    assert buckets.take("a") == pytest.approx(3.0)
    assert buckets.wait("a") == pytest.approx(3.0)
    seconds.advance(1)
    assert buckets.take("a") == pytest.approx(2.0)
    seconds.advance(2)
    assert buckets.wait("a") == 0.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(3.0)


def test_a_refused_take_takes_nothing(seconds):
    buckets = TokenBuckets(RateLimit(2, 10), clock=seconds)
    buckets.take("a")
    buckets.take("a")

    for _ in range(100):
        assert buckets.take("a") == pytest.approx(5.0)
    seconds.advance(5)
    assert buckets.take("a") == 0.0


def test_an_empty_bucket_refills_to_its_count_and_no_more(seconds):
    buckets = TokenBuckets(RateLimit(3, 3), clock=seconds)
    for _ in range(3):
        buckets.take("a")

    seconds.advance(3600)

    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_keys_have_their_own_buckets_and_a_new_key_a_full_one(seconds):
    buckets = TokenBuckets(RateLimit(1, 60), clock=seconds)

    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(60.0)
    assert buckets.wait("b") == 0.0
    assert buckets.take("b") == 0.0


def test_a_costly_take_needs_that_many_tokens(seconds):
    buckets = TokenBuckets(RateLimit(10, 10), clock=seconds)

    assert buckets.take("a", cost=8) == 0.0
    assert buckets.take("a", cost=3) == pytest.approx(1.0)
    assert buckets.take("a", cost=2) == 0.0


def test_the_table_forgets_the_least_recently_used_key_when_full(seconds):
    buckets = TokenBuckets(RateLimit(1, 60), capacity=2, clock=seconds)
    buckets.take("a")
    buckets.take("b")
    buckets.take("a")  # refused, but "a" was the oldest: now "b" is

    buckets.take("c")

    assert buckets.wait("a") == pytest.approx(60.0)
    assert buckets.wait("b") == 0.0, "forgotten: a full bucket again"
    assert buckets.wait("c") == pytest.approx(60.0)


def test_a_slot_is_held_for_the_block_and_given_back_after_it():
    limit: ConcurrencyLimit[str] = ConcurrencyLimit(2)

    with limit.slot("k") as first, limit.slot("k") as second, limit.slot("k") as third:
        assert (first, second, third) == (True, True, False)
        with limit.slot("other") as elsewhere:
            assert elsewhere
    with limit.slot("k") as again:
        assert again


def test_a_slot_is_given_back_when_the_block_raises():
    limit: ConcurrencyLimit[str] = ConcurrencyLimit(1)

    with pytest.raises(RuntimeError), limit.slot("k"):
        raise RuntimeError("the route failed")

    with limit.slot("k") as entered:
        assert entered


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("testclient", "testclient"),
        (None, ""),
    ],
)
def test_client_keys_group_an_ipv6_subscriber_by_its_64(host, key):
    assert client_key(host) == key


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (2.4, "3"), (60.0, "60")])
def test_retry_after_is_whole_seconds_rounded_up(wait, header):
    assert retry_after(wait) == header
