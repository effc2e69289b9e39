from datetime import UTC, datetime

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import Provenance
from optledger.domain.policy import Reason
from optledger.services.suppressions import ImportReport, RowError

IMPORT = Provenance(via="import", actor="cli")


def run(services, tenant_id, text, *, skip_invalid=False):
    return services.suppressions.import_csv(
        tenant_id=tenant_id,
        lines=text.splitlines(keepends=True),
        skip_invalid=skip_invalid,
        provenance=IMPORT,
    )


def test_imports_emails_phones_topics_reasons_and_timestamps(services, tenant_id, transactions):
    text = (
        "\ufeffemail;phone;topic;reason;timestamp\n"
        "Ann@Example.com;;;bounced;2024-03-01T10:00:00\n"
        ";(415) 555-0100;;;\n"
        "bob@example.com;;digest;;\n"
        "ann@example.com;;;;\n"
        "\n"
    )
    assert run(services, tenant_id, text) == ImportReport(rows=4, changed=3, repeated=1, errors=())
    page = services.suppressions.export_page(tenant_id=tenant_id)
    assert sorted((r.channel, r.address, r.reason, r.created_at) for r in page.rows) == [
        (Channel.EMAIL, "ann@example.com", "bounced", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (Channel.SMS, "+14155550100", "imported", transactions.store.events[2].occurred_at),
    ]
    (bob,) = services.checks.check(
        tenant_id=tenant_id, topic="digest", channel=Channel.EMAIL, addresses=["bob@example.com"]
    )
    assert bob.reason is Reason.UNSUBSCRIBED
    assert {e.provenance.via for e in transactions.store.events.values()} == {"import"}


BAD = (
    "channel,address,topic,timestamp\n"
    "email,good@example.com,,\n"
    "email,not-an-email,,\n"
    "fax,123,,\n"
    "email,x@example.com,nope,\n"
    "email,y@example.com,,yesterday\n"
    "email,z@example.com\n"
)


def test_bad_rows_are_all_reported_and_nothing_is_imported(services, tenant_id, transactions):
    with pytest.raises(InvalidInput) as caught:
        run(services, tenant_id, BAD)
    assert [e.field for e in caught.value.errors] == [
        "line 3: address",
        "line 4: channel",
        "line 5: topic",
        "line 6: timestamp",
        "line 7: row",
    ]
    assert caught.value.errors[2] == FieldError("line 5: topic", "there is no topic 'nope'")
    assert caught.value.errors[4] == FieldError("line 7: row", "has 2 fields, the header has 4")
    assert transactions.store.suppressions == {}
    assert transactions.store.events == {}


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(services, tenant_id):
    report = run(services, tenant_id, BAD, skip_invalid=True)
    assert (report.rows, report.changed, report.repeated) == (6, 1, 0)
    assert report.errors[1] == RowError(4, "channel", "is not a known channel")


def test_a_header_without_an_address_column_is_refused(services, tenant_id):
    with pytest.raises(InvalidInput) as caught:
        run(services, tenant_id, "name,reason\nann,x\n")
    assert caught.value.errors == (
        FieldError(
            "line 1: header", "needs an 'email' or 'phone' column, or 'channel' and 'address'"
        ),
    )


def test_export_pages_with_a_cursor(services, tenant_id):
    rows = "".join(f"user{i}@example.com\n" for i in range(5))
    run(services, tenant_id, "email\n" + rows)
    first = services.suppressions.export_page(tenant_id=tenant_id, limit=3)
    second = services.suppressions.export_page(
        tenant_id=tenant_id, after=first.next_cursor, limit=3
    )
    assert (len(first.rows), len(second.rows), second.next_cursor) == (3, 2, None)
    exported = {r.address for r in first.rows + second.rows}
    assert exported == {f"user{i}@example.com" for i in range(5)}


def run_ndjson(services, tenant_id, text, *, skip_invalid=False):
    return services.suppressions.import_ndjson(
        tenant_id=tenant_id,
        lines=text.splitlines(keepends=True),
        skip_invalid=skip_invalid,
        provenance=IMPORT,
    )


def test_ndjson_imports_the_same_fields_as_csv(services, tenant_id):
    text = (
        '{"email": "Ann@Example.com", "reason": "bounced", "timestamp": "2024-03-01T10:00:00"}\n'
        "\n"
        '{"phone": "(415) 555-0100", "topic": null}\n'
        '{"channel": "email", "address": "bob@example.com", "topic": "digest"}\n'
    )
    assert run_ndjson(services, tenant_id, text) == ImportReport(
        rows=3, changed=3, repeated=0, errors=()
    )
    page = services.suppressions.export_page(tenant_id=tenant_id)
    assert sorted((r.channel, r.address, r.reason) for r in page.rows) == [
        (Channel.EMAIL, "ann@example.com", "bounced"),
        (Channel.SMS, "+14155550100", "imported"),
    ]


def test_bad_ndjson_lines_are_reported_or_skipped(services, tenant_id):
    text = (
        '{"email": "good@example.com"}\n'
        "nope\n"
        "[]\n"
        '{"email": 1}\n'
        '{"fax": "1"}\n'
        '{"reason": "x"}\n'
        '{"email": "x@example.com", "topic": "nope"}\n'
    )
    expected = (
        RowError(2, "row", "is not valid JSON"),
        RowError(3, "row", "is not a JSON object"),
        RowError(4, "email", "must be a string or null"),
        RowError(5, "fax", "is not a known field"),
        RowError(6, "row", "needs 'email' or 'phone', or 'channel' and 'address'"),
        RowError(7, "topic", "there is no topic 'nope'"),
    )
    with pytest.raises(InvalidInput) as caught:
        run_ndjson(services, tenant_id, text)
    assert caught.value.errors == tuple(
        FieldError(f"line {e.line}: {e.field}", e.reason) for e in expected
    )
    assert services.suppressions.export_page(tenant_id=tenant_id).rows == ()
    report = run_ndjson(services, tenant_id, text, skip_invalid=True)
    assert report == ImportReport(rows=7, changed=1, repeated=0, errors=expected)
