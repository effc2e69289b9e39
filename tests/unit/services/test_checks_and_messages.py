import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, FieldError, InvalidInput
from optledger.domain.links import ListUnsubscribeHeaders
from optledger.domain.model import ConsentMode
from optledger.domain.policy import Reason
from optledger.services import checks, list_checks
from optledger.services.list_checks import ListCheckChunk
from optledger.services.messages import MessageSpec
from optledger.services.results import CheckResult, LineCheckResult, RegisteredMessage
from optledger.services.targets import AddressTarget
from tests.builders import PUBLIC_URL, every_check_verdict
from tests.unit.conftest import API

EMAIL = Channel.EMAIL


def test_batch_check_answers_every_line_in_order(services, tenant_id):
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(EMAIL, "gone@example.com"),
        topics=None,
        provenance=API,
    )
    results = services.checks.check(
        tenant_id=tenant_id,
        topic="digest",
        channel=EMAIL,
        addresses=["fresh@example.com", "GONE@example.com", "not-an-address"],
    )
    assert results == [
        CheckResult("fresh@example.com", "fresh@example.com", True, Reason.OPT_OUT_DEFAULT),
        CheckResult("GONE@example.com", "gone@example.com", False, Reason.SUPPRESSED),
        CheckResult("not-an-address", None, False, Reason.INVALID_ADDRESS),
    ]


def test_unknown_topic_is_a_verdict_not_an_error(services, tenant_id):
    assert services.checks.check(
        tenant_id=tenant_id, topic="nope", channel=EMAIL, addresses=["a@example.com"]
    ) == [CheckResult("a@example.com", "a@example.com", False, Reason.UNKNOWN_TOPIC)]


def test_batches_are_limited(services, tenant_id):
    with pytest.raises(InvalidInput) as caught:
        services.checks.check(
            tenant_id=tenant_id, topic="digest", channel=EMAIL, addresses=["a"] * 10_001
        )
    assert caught.value.errors == (FieldError("addresses", "must hold at most 10000 addresses"),)


def test_registering_messages_gives_links_and_headers(services, tenant_id):
    (message,) = services.messages.register_messages(
        tenant_id=tenant_id,
        messages=[
            MessageSpec(EMAIL, "Ann@Example.com", "digest", campaign="spring", message_uid="m-1")
        ],
    )
    url = f"{PUBLIC_URL}/u/t1.1.2.1.1767605400"
    assert message == RegisteredMessage(
        message_uid="m-1",
        channel=EMAIL,
        address="ann@example.com",
        topic="digest",
        campaign="spring",
        unsubscribe_url=url,
        headers=ListUnsubscribeHeaders(f"<{url}>", "List-Unsubscribe=One-Click"),
    )


def test_generated_uids_and_safe_retries(services, tenant_id):
    spec = MessageSpec(EMAIL, "a@example.com", "digest")
    (first,) = services.messages.register_messages(tenant_id=tenant_id, messages=[spec])
    assert len(first.message_uid) == 24
    again = MessageSpec(EMAIL, "a@example.com", "digest", message_uid=first.message_uid)
    assert services.messages.register_messages(tenant_id=tenant_id, messages=[again]) == [first]
    moved = MessageSpec(EMAIL, "b@example.com", "digest", message_uid=first.message_uid)
    with pytest.raises(Conflict, match=r"messages\[0\].message_uid: already registered"):
        services.messages.register_messages(tenant_id=tenant_id, messages=[moved])


def test_a_bad_batch_reports_every_problem_and_writes_nothing(services, tenant_id, transactions):
    with pytest.raises(InvalidInput) as caught:
        services.messages.register_messages(
            tenant_id=tenant_id,
            messages=[
                MessageSpec(EMAIL, "ok@example.com", "digest"),
                MessageSpec(EMAIL, "bad", "nope"),
                MessageSpec(Channel.SMS, "+14155550100", "digest", message_uid="has space"),
            ],
        )
    assert [e.field for e in caught.value.errors] == [
        "messages[1].topic",
        "messages[1].address",
        "messages[2].channel",
        "messages[2].message_uid",
    ]
    assert transactions.store.messages == {}
    assert transactions.store.addresses == {}


def test_a_single_check_answers_as_a_batch_of_one(services, tenant_id):
    asked = every_check_verdict(services, tenant_id)
    reasons = set()
    for topic, channel, address in asked:
        (expected,) = services.checks.check(
            tenant_id=tenant_id, topic=topic, channel=channel, addresses=[address]
        )
        got = services.checks.check_one(
            tenant_id=tenant_id, topic=topic, channel=channel, address=address
        )
        assert got == expected
        reasons.add(got.reason)
    assert reasons == set(Reason)


def test_a_topic_created_after_a_check_of_it_is_found(services, tenant_id):
    def check() -> Reason:
        return services.checks.check_one(
            tenant_id=tenant_id, topic="later", channel=EMAIL, address="a@example.com"
        ).reason

    assert check() is Reason.UNKNOWN_TOPIC
    services.topics.create_topic(
        tenant_id=tenant_id, key="later", name="Later", consent_mode=ConsentMode.OPT_OUT
    )
    assert check() is Reason.OPT_OUT_DEFAULT


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_a_long_list_is_answered_in_order_however_many_pieces_run_at_once(
    services, tenant_id, monkeypatch, parallel
):
    """Pieces answered side by side come back in list order, and a line that is not UTF-8
    is raised only after every piece before it was answered."""
    monkeypatch.setattr(checks, "LIST_BATCH", 2)
    monkeypatch.setattr(checks, "PARALLEL", parallel)
    monkeypatch.setattr(list_checks, "PIECE_BYTES", 40)
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(EMAIL, "u7@example.com"),
        topics=None,
        provenance=API,
    )
    lines = [f"U{n}@example.com\n".encode() for n in range(60)]
    chunks = [b"".join(lines), b"\xff@example.com\n"]

    answered = services.checks.check_list_chunks(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, chunks=chunks, encode=list_results
    )
    got: list[LineCheckResult] = []
    with pytest.raises(InvalidInput) as raised:
        got.extend(result for results in answered for result in results)

    assert [e.field for e in raised.value.errors] == ["line 61"]
    assert [(r.line, r.address) for r in got] == [(n + 1, f"u{n}@example.com") for n in range(60)]
    assert [r.line for r in got if not r.allowed] == [8]


def list_results(chunk: ListCheckChunk) -> list[LineCheckResult]:
    return list(chunk.results())
