from datetime import UTC, datetime

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, InvalidInput, Unavailable
from optledger.domain.model import Provenance
from optledger.domain.policy import Reason
from optledger.services import Services, suppressions
from optledger.services.suppressions import ImportReport, RowError
from tests.builders import service_context
from tests.fakes import MemorySpools

IMPORT = Provenance(via="import", actor="cli")


def run(services, tenant_id, text, *, skip_invalid=False, observer=None):
    return services.suppressions.import_csv(
        tenant_id=tenant_id,
        chunks=[text.encode()],
        skip_invalid=skip_invalid,
        provenance=IMPORT,
        observer=observer,
    )


def report(rows, *, changed=0, repeated=0, skipped=0, errors=(), resumed=0) -> ImportReport:
    return ImportReport(
        rows=rows,
        changed=changed,
        repeated=repeated,
        skipped=skipped,
        errors=tuple(errors),
        resumed=resumed,
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
    assert run(services, tenant_id, text) == report(4, changed=3, repeated=1)
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
    "email,old@example.com,,1970-01-01T00:00:00Z\n"
    "email,later@example.com,,2026-01-06T09:31:00Z\n"
    "email,ok@example.com,,2026-01-06T09:30:00Z\n"
)
BAD_ROWS = (
    RowError(3, "address", "is not a valid email address: an email address must have an @-sign"),
    RowError(4, "channel", "is not a known channel"),
    RowError(5, "topic", "is not a topic of this tenant"),
    RowError(6, "timestamp", "is not an ISO 8601 date or time"),
    RowError(7, "row", "has 2 fields, the header has 4"),
    RowError(8, "timestamp", "must be after 1970-01-01T00:00:00Z"),
    RowError(9, "timestamp", "must not be more than a day in the future"),
)


def test_the_first_bad_row_stops_the_import_and_nothing_is_written(
    services, tenant_id, transactions
):
    commits = transactions.commits
    with pytest.raises(InvalidInput) as caught:
        run(services, tenant_id, BAD)
    assert caught.value.errors == (
        FieldError(
            "line 3: address", "is not a valid email address: an email address must have an @-sign"
        ),
    )
    assert transactions.commits == commits
    assert transactions.store.suppressions == {}
    assert transactions.store.events == {}


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(services, tenant_id):
    assert run(services, tenant_id, BAD, skip_invalid=True) == report(
        9, changed=2, skipped=7, errors=BAD_ROWS
    )


def test_skip_invalid_lists_at_most_the_cap_and_counts_every_bad_row(
    services, tenant_id, monkeypatch
):
    monkeypatch.setattr(suppressions, "MAX_LISTED_ERRORS", 3)
    text = "email\n" + "bad\n" * 10 + "good@example.com\n"
    reason = "is not a valid email address: an email address must have an @-sign"
    assert run(services, tenant_id, text, skip_invalid=True) == report(
        11, changed=1, skipped=10, errors=[RowError(n, "email", reason) for n in (2, 3, 4)]
    )


def test_a_header_without_an_address_column_is_refused(services, tenant_id):
    with pytest.raises(InvalidInput) as caught:
        run(services, tenant_id, "name,reason\nann,x\n", skip_invalid=True)
    assert caught.value.errors == (
        FieldError(
            "line 1: header", "needs an 'email' or 'phone' column, or 'channel' and 'address'"
        ),
    )


def test_a_file_of_only_bad_rows_writes_nothing(services, tenant_id, transactions):
    commits = transactions.commits
    assert run(services, tenant_id, "email\nbad\n", skip_invalid=True) == report(
        1,
        skipped=1,
        errors=[
            RowError(
                2, "email", "is not a valid email address: an email address must have an @-sign"
            )
        ],
    )
    assert transactions.commits == commits
    assert transactions.store.import_runs == {}


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
        chunks=[text.encode()],
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
    assert run_ndjson(services, tenant_id, text) == report(3, changed=3)
    page = services.suppressions.export_page(tenant_id=tenant_id)
    assert sorted((r.channel, r.address, r.reason) for r in page.rows) == [
        (Channel.EMAIL, "ann@example.com", "bounced"),
        (Channel.SMS, "+14155550100", "imported"),
    ]


def test_bad_ndjson_lines_stop_the_import_or_are_skipped(services, tenant_id):
    text = (
        '{"email": "good@example.com"}\n'
        "nope\n"
        "[]\n"
        '{"email": 1}\n'
        '{"fax": "1"}\n'
        '{"reason": "x"}\n'
        '{"email": "x@example.com", "topic": "nope"}\n'
        '{"email": "y@example.com", "timestamp": "2999-01-01T00:00:00Z"}\n'
    )
    expected = (
        RowError(2, "row", "is not valid JSON"),
        RowError(3, "row", "is not a JSON object"),
        RowError(4, "email", "must be a string or null"),
        RowError(5, "fax", "is not a known field"),
        RowError(6, "row", "needs 'email' or 'phone', or 'channel' and 'address'"),
        RowError(7, "topic", "is not a topic of this tenant"),
        RowError(8, "timestamp", "must not be more than a day in the future"),
    )
    with pytest.raises(InvalidInput) as caught:
        run_ndjson(services, tenant_id, text)
    assert caught.value.errors == (FieldError("line 2: row", "is not valid JSON"),)
    assert services.suppressions.export_page(tenant_id=tenant_id).rows == ()
    assert run_ndjson(services, tenant_id, text, skip_invalid=True) == report(
        8, changed=1, skipped=7, errors=expected
    )


class Progress:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def writing(self, *, written: int, total: int) -> None:
        self.calls.append((written, total))


def many(count: int, *, start: int = 0) -> str:
    return "email\n" + "".join(f"u{n}@example.com\n" for n in range(start, start + count))


@pytest.fixture
def batches_of_100(monkeypatch):
    """Every batch 100 rows, however fast the writes are."""
    monkeypatch.setattr(suppressions, "FIRST_BATCH_ROWS", 100)
    monkeypatch.setattr(suppressions, "MAX_BATCH_ROWS", 100)


def test_rows_are_written_in_batches_each_one_transaction(
    services, tenant_id, transactions, batches_of_100
):
    progress = Progress()
    commits = transactions.commits

    result = run(services, tenant_id, many(250), observer=progress)

    assert result == report(250, changed=250)
    assert progress.calls == [(0, 250), (100, 250), (200, 250), (250, 250)]
    assert transactions.commits - commits == 4  # the run, then three batches
    (run_row,) = transactions.store.import_runs.values()
    assert (run_row.rows, run_row.applied, run_row.changed, run_row.repeated) == (250, 250, 250, 0)
    assert run_row.finished_at is not None


@pytest.mark.parametrize(
    ("size", "rows", "seconds", "expected"),
    [
        (100, 100, 0.01, 250),  # fast: halfway to the 400 rows that would take 40 ms
        (400, 400, 0.08, 300),  # slow: halfway to 200
        (100, 60, 0.5, 100),  # a short last batch says nothing
        (4_000, 4_000, 0.001, 5_000),  # never above MAX_BATCH_ROWS
        (2, 2, 10.0, 1),  # never below one row
    ],
)
def test_batches_are_sized_to_last_about_the_target(size, rows, seconds, expected):
    assert suppressions._next_batch_size(size, rows=rows, seconds=seconds) == expected


class FailingWrites:
    """The transactions, except that writes fail as Unavailable from the `fail_at`-th on."""

    def __init__(self, inner, fail_at: int) -> None:
        self._inner = inner
        self._writes = 0
        self._fail_at = fail_at

    def write(self, work):
        self._writes += 1
        if self._writes >= self._fail_at:
            raise Unavailable
        return self._inner.write(work)

    def read(self, work):
        return self._inner.read(work)


@pytest.fixture
def failing(transactions, clock, hasher):
    """`failing(n)`: services on the same store whose n-th write and later ones fail."""

    def build(fail_at: int) -> Services:
        return Services.build(
            service_context(
                transactions=FailingWrites(transactions, fail_at),
                clock=clock,
                hasher=hasher,
                spools=MemorySpools(),
            )
        )

    return build


def exported_addresses(services, tenant_id) -> set[str]:
    page = services.suppressions.export_page(tenant_id=tenant_id, limit=10_000)
    return {row.address for row in page.rows}


@pytest.fixture(
    params=[(20_000, 32), (150, 32), (40, 3)], ids=["one-window", "many-windows", "merged-runs"]
)
def windows(request, monkeypatch):
    """One sorted run, seven, or 25 of which every three are merged into one (and every
    three of those again)."""
    window, runs = request.param
    monkeypatch.setattr(suppressions, "SORT_WINDOW", window)
    monkeypatch.setattr(suppressions, "MAX_RUNS", runs)


@pytest.mark.usefixtures("batches_of_100", "windows")
def test_a_failed_import_keeps_its_batches_and_a_rerun_resumes_after_them(
    services, tenant_id, transactions, failing
):
    with pytest.raises(Unavailable):
        run(failing(4), tenant_id, many(1_000))  # the run, two batches, then a failure
    written = services.contacts.verify_ledger(tenant_id=tenant_id)
    (run_row,) = transactions.store.import_runs.values()
    assert (written.events, written.differences) == (200, ())
    assert (run_row.applied, run_row.finished_at) == (200, None)

    progress = Progress()
    again = run(services, tenant_id, many(1_000), observer=progress)

    assert again == report(1_000, changed=1_000, resumed=200)
    assert progress.calls[:2] == [(200, 1_000), (300, 1_000)]
    verified = services.contacts.verify_ledger(tenant_id=tenant_id)
    assert (verified.events, verified.differences) == (1_000, ())
    # 1,000 events and every address suppressed: each row was written exactly once.
    assert exported_addresses(services, tenant_id) == {f"u{n}@example.com" for n in range(1_000)}
    assert len(transactions.store.import_runs) == 1


@pytest.mark.usefixtures("batches_of_100", "windows")
def test_rows_are_written_in_hash_order_over_the_whole_import(services, tenant_id, transactions):
    run(services, tenant_id, many(1_000))

    events = sorted(transactions.store.events.values(), key=lambda e: e.id)
    hashes = [e.address_hash for e in events]
    assert len(set(hashes)) == 1_000
    assert hashes == sorted(hashes)


@pytest.mark.parametrize("runs", [32, 2])
def test_rows_of_one_address_keep_their_file_order(services, tenant_id, monkeypatch, runs):
    monkeypatch.setattr(suppressions, "SORT_WINDOW", 4)
    monkeypatch.setattr(suppressions, "MAX_RUNS", runs)
    text = "email,reason\n" + "".join(
        f"{name}@example.com,{reason}\n"
        for name, reason in [("b", "first"), ("a", "1"), ("b", "second"), ("c", "x")] * 3
    )

    result = run(services, tenant_id, text)

    assert result == report(12, changed=3, repeated=9)
    page = services.suppressions.export_page(tenant_id=tenant_id)
    assert sorted((r.address, r.reason) for r in page.rows) == [
        ("a@example.com", "1"),
        ("b@example.com", "first"),
        ("c@example.com", "x"),
    ]


def test_rerunning_a_finished_import_applies_it_again_as_repeats(services, tenant_id, transactions):
    run(services, tenant_id, many(10))

    again = run(services, tenant_id, many(10))

    assert again == report(10, repeated=10)
    assert services.contacts.verify_ledger(tenant_id=tenant_id).events == 20
    finished = [r.finished_at is not None for r in transactions.store.import_runs.values()]
    assert finished == [True, True]


def test_another_file_is_another_run(services, tenant_id, transactions, failing, batches_of_100):
    with pytest.raises(Unavailable):
        run(failing(3), tenant_id, many(300))

    other = run(services, tenant_id, many(300, start=1))

    assert other == report(300, changed=201, repeated=99)  # u1…u99 were written before
    assert len(transactions.store.import_runs) == 2


def test_an_attempt_overtaken_by_another_goes_on_after_its_rows(
    services, tenant_id, transactions, batches_of_100
):
    """Two attempts at one file: when the other commits a batch first, this one skips it."""
    progress = Progress()

    class Rival:
        """After this attempt's first batch, a second attempt writes the rest of the run
        (its rows counted as repeats, without events, to tell the two apart)."""

        def writing(self, *, written: int, total: int) -> None:
            progress.writing(written=written, total=total)
            if written != 100:
                return
            (run_row,) = transactions.store.import_runs.values()

            def rival_batches(uow):
                assert uow.import_runs.advance(
                    run_row.id, applied=100, to=total, finished=True, at=run_row.created_at
                )
                uow.import_runs.add_outcomes(run_row.id, changed=0, repeated=total - 100)

            transactions.write(rival_batches)

    result = run(services, tenant_id, many(250), observer=Rival())

    assert result == report(250, changed=100, repeated=150)
    assert progress.calls == [(0, 250), (100, 250), (250, 250)]
    assert services.contacts.verify_ledger(tenant_id=tenant_id).events == 100
