"""The services over real SQLite and PostgreSQL, through group commit."""

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import select

from optledger.domain.channels import Channel
from optledger.domain.errors import Forbidden, InvalidInput, InvalidLinkToken
from optledger.domain.model import Action, Category, ConsentMode, Outcome, Provenance
from optledger.domain.policy import Reason
from optledger.domain.secrets import KeyedHasher
from optledger.domain.suppressions import UNSUBSCRIBED
from optledger.services import Services, checks
from optledger.services.checks import MAX_CHECK_BATCH
from optledger.services.contacts import HistoryQuery
from optledger.services.context import SuppressAddress
from optledger.services.links import OneClick
from optledger.services.messages import MessageSpec
from optledger.services.targets import AddressTarget, ContactTarget
from optledger.storage import tables
from optledger.storage.cursor import plans_of
from optledger.storage.engine import make_engine
from optledger.storage.repositories import SqlUnitOfWork
from optledger.storage.transactions import SqlTransactions
from tests.builders import every_check_verdict, service_context
from tests.conftest import DATABASES, sqlite_database, truncate_all
from tests.fakes import FrozenClock
from tests.property.ledger_machine import World, machine

API = Provenance(via="api")
EMAIL = Channel.EMAIL


def build(transactions, clock=None, hasher=None) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
            clock=clock or FrozenClock(),
            hasher=hasher or KeyedHasher(b"s" * 32),
        )
    )


@pytest.fixture
def services(transactions) -> Services:
    return build(transactions)


@pytest.fixture
def tenant_id(services) -> int:
    tenant_id = services.tenants.create_tenant(name="acme").tenant.id
    services.topics.create_topic(
        tenant_id=tenant_id, key="digest", name="Digest", consent_mode=ConsentMode.OPT_OUT
    )
    return tenant_id


def test_concurrent_unsubscribes_are_each_recorded_exactly_once(services, tenant_id):
    def unsubscribe(worker: int) -> None:
        for n in range(25):
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(EMAIL, f"w{worker}-{n}@example.com"),
                topics=None,
                provenance=API,
            )

    threads = [threading.Thread(target=unsubscribe, args=(w,)) for w in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    addresses = [f"w{w}-{n}@example.com" for w in range(40) for n in range(25)]
    results = services.checks.check(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, addresses=addresses
    )
    assert {r.reason for r in results} == {Reason.SUPPRESSED}
    report = services.contacts.verify_ledger(tenant_id=tenant_id)
    assert (report.events, report.differences) == (1_000, ())


def test_a_failing_write_leaves_nothing_and_others_in_its_batch_land(services, tenant_id):
    errors: list[Exception] = []

    def write(address: str) -> None:
        try:
            services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(EMAIL, address),
                topics=["digest", "nope"],
                provenance=API,
            )
        except InvalidInput as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"a{i}@example.com",)) for i in range(20)]
    threads += [
        threading.Thread(
            target=services.subscriptions.unsubscribe,
            kwargs={
                "tenant_id": tenant_id,
                "target": AddressTarget(EMAIL, f"b{i}@example.com"),
                "topics": ["digest"],
                "provenance": API,
            },
        )
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 20
    report = services.contacts.verify_ledger(tenant_id=tenant_id)
    assert (report.events, report.differences) == (20, ())
    bad = services.checks.check(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, addresses=["a0@example.com"]
    )
    assert bad[0].reason is Reason.OPT_OUT_DEFAULT


def test_ten_thousand_addresses_in_one_check(services, tenant_id):
    text = "email\n" + "".join(f"s{i}@example.com\n" for i in range(0, 10_000, 2))
    report = services.suppressions.import_csv(
        tenant_id=tenant_id, chunks=[text.encode()], skip_invalid=False, provenance=API
    )
    assert (report.rows, report.changed) == (5_000, 5_000)
    results = services.checks.check(
        tenant_id=tenant_id,
        topic="digest",
        channel=EMAIL,
        addresses=[f"S{i}@example.com" for i in range(10_000)],
    )
    assert [r.allowed for r in results] == [i % 2 == 1 for i in range(10_000)]


def test_a_single_check_answers_as_a_batch_of_one_on_sql(services, tenant_id):
    for topic, channel, address in every_check_verdict(services, tenant_id):
        (expected,) = services.checks.check(
            tenant_id=tenant_id, topic=topic, channel=channel, addresses=[address]
        )
        got = services.checks.check_one(
            tenant_id=tenant_id, topic=topic, channel=channel, address=address
        )
        assert got == expected


def test_single_checks_answered_together_answer_as_each_alone_on_sql(services, tenant_id):
    asked = every_check_verdict(services, tenant_id)
    other = services.tenants.create_tenant(name="other").tenant.id
    services.topics.create_topic(
        tenant_id=other, key="cv-out", name="Out", consent_mode=ConsentMode.OPT_OUT
    )
    asked_of = [(tenant_id, *check) for check in asked] + [
        (other, "cv-out", EMAIL, "stop@example.com")
    ]
    prepared = [
        services.checks.prepare_one(tenant_id=tenant, topic=topic, channel=channel, address=address)
        for tenant, topic, channel, address in asked_of
    ]

    together = services.checks.check_each(prepared)

    alone = [
        services.checks.check_one(tenant_id=tenant, topic=topic, channel=channel, address=address)
        for tenant, topic, channel, address in asked_of
    ]
    assert together == alone
    assert together[-1].reason is Reason.OPT_OUT_DEFAULT  # the other tenant's own state
    assert {r.reason for r in together} == set(Reason)


@pytest.mark.parametrize("count", [2, 3, 5, 31, 32, 33, 70])
def test_single_checks_answered_together_in_any_number_answer_as_each_alone_on_sql(
    services, tenant_id, count
):
    # On PostgreSQL a batch is answered by statements of 32 queries, padded to a power of
    # two: every size around those edges answers each check as it is answered alone.
    asked = every_check_verdict(services, tenant_id)
    pick = random.Random(count)
    asked_of = [pick.choice(asked) for _ in range(count)]
    prepared = [
        services.checks.prepare_one(tenant_id=tenant_id, topic=topic, channel=channel, address=a)
        for topic, channel, a in asked_of
    ]

    together = services.checks.check_each(prepared)

    alone = [
        services.checks.check_one(tenant_id=tenant_id, topic=t, channel=c, address=a)
        for t, c, a in asked_of
    ]
    assert together == alone


def table_rows(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: len(connection.execute(select(table)).all())
            for table in tables.metadata.sorted_tables
        }


def test_warming_up_the_checks_changes_and_keeps_nothing_on_sql(services, tenant_id, engine):
    asked = every_check_verdict(services, tenant_id)
    before = [
        services.checks.check_one(tenant_id=tenant_id, topic=t, channel=c, address=a)
        for t, c, a in asked
    ]
    rows = table_rows(engine)

    services.checks.warm_up()

    assert table_rows(engine) == rows
    assert [
        services.checks.check_one(tenant_id=tenant_id, topic=t, channel=c, address=a)
        for t, c, a in asked
    ] == before


def test_warming_up_the_checks_compiles_and_prepares_each_consent_statement(engine):
    # SQLite: the one statement of a check, whatever the number. PostgreSQL: one query
    # alone and 2, 4, 8, 16, 32 answered together, each run until psycopg has prepared it
    # on the connection (its sixth run).
    postgresql = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        SqlUnitOfWork(connection).checks.warm_up()
        prepared = (
            connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
            if postgresql
            else None
        )
    assert len(plans_of(engine.dialect)) == (6 if postgresql else 1)
    assert prepared == (6 if postgresql else None)


@pytest.mark.parametrize(
    "set_limit",
    [
        pytest.param(1_000_000, id="read-whole"),
        pytest.param(3, id="states-whole"),  # the 1,000 suppressions per batch
        pytest.param(0, id="per-batch"),
    ],
)
def test_a_list_check_answers_as_the_batch_check_on_sql(
    services, tenant_id, monkeypatch, set_limit
):
    monkeypatch.setattr(checks, "LIST_BATCH", 700)  # several batches, one split mid-list
    monkeypatch.setattr(checks, "WHOLE_READ_LIMIT", set_limit)
    verdicts = every_check_verdict(services, tenant_id)
    text = "email\n" + "".join(f"s{i}@example.com\n" for i in range(0, 3_000, 3))
    services.suppressions.import_csv(
        tenant_id=tenant_id, chunks=[text.encode()], skip_invalid=False, provenance=API
    )
    generated = [f"S{i}@Example.com" if i % 7 else f"not-{i}@" for i in range(3_000)]
    for topic, channel in sorted({(topic, channel) for topic, channel, _ in verdicts}):
        asked = [address for t, c, address in verdicts if (t, c) == (topic, channel)]
        lines = [*asked, "", *generated, "   ", *asked, "bücher@bücher.de"]
        expected = [
            result
            for start in range(0, len(lines), MAX_CHECK_BATCH)
            for result in services.checks.check(
                tenant_id=tenant_id,
                topic=topic,
                channel=channel,
                addresses=[line.strip() for line in lines[start : start + MAX_CHECK_BATCH]],
            )
        ]
        got = list(
            services.checks.check_list(
                tenant_id=tenant_id, topic=topic, channel=channel, lines=lines
            )
        )
        numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
        assert [r.line for r in got] == numbers
        assert [(r.input, r.address, r.allowed, r.reason) for r in got] == [
            (r.input, r.address, r.allowed, r.reason) for r in expected if r.input
        ]
    (blocked,) = services.checks.check_list(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, lines=["s3@example.com"]
    )
    assert (blocked.line, blocked.reason) == (1, Reason.SUPPRESSED)


def test_a_long_list_finds_erased_addresses_by_hash_and_the_rest_by_value_on_sql(
    services, tenant_id, monkeypatch
):
    """The whole suppressed set holds values where the addresses are kept and hashes where
    they were erased; a long list is answered from both exactly."""
    monkeypatch.setattr(checks, "LIST_BATCH", 3)
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="ann@example.com",
        topic="digest",
        provenance=API,
        contact="u1",
    )
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(EMAIL, "bob@example.com"),
        topics=None,
        provenance=API,
    )
    services.contacts.erase_contact(tenant_id=tenant_id, external_id="u1", provenance=API)
    lines = ["x@example.com", "", "y@example.com", "Ann@Example.com", "BOB@example.com", "z@"]

    got = list(
        services.checks.check_list(tenant_id=tenant_id, topic="digest", channel=EMAIL, lines=lines)
    )

    assert [(r.line, r.input, r.address, r.allowed, r.reason) for r in got] == [
        (1, "x@example.com", "x@example.com", True, Reason.OPT_OUT_DEFAULT),
        (3, "y@example.com", "y@example.com", True, Reason.OPT_OUT_DEFAULT),
        (4, "Ann@Example.com", "ann@example.com", False, Reason.SUPPRESSED),
        (5, "BOB@example.com", "bob@example.com", False, Reason.SUPPRESSED),
        (6, "z@", None, False, Reason.INVALID_ADDRESS),
    ]


def test_erase_and_history_on_sql(services, tenant_id):
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="ann@example.com",
        topic="digest",
        provenance=API,
        contact="u1",
    )
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id, target=ContactTarget("u1"), topics=["digest"], provenance=API
    )
    page = services.contacts.history(tenant_id=tenant_id, query=HistoryQuery(contact="u1"))
    assert [(e.action, e.outcome, e.address) for e in page.events] == [
        (Action.SUBSCRIBE, Outcome.CHANGED, "ann@example.com"),
        (Action.UNSUBSCRIBE, Outcome.CHANGED, "ann@example.com"),
    ]
    assert (
        services.contacts.erase_contact(tenant_id=tenant_id, external_id="u1", provenance=API) == 1
    )
    (result,) = services.checks.check(
        tenant_id=tenant_id, topic="digest", channel=EMAIL, addresses=["ann@example.com"]
    )
    assert result.reason is Reason.SUPPRESSED
    by_address = services.contacts.history(
        tenant_id=tenant_id, query=HistoryQuery(channel=EMAIL, address="ann@example.com")
    )
    assert [(e.action, e.address) for e in by_address.events] == [
        (Action.SUBSCRIBE, None),
        (Action.UNSUBSCRIBE, None),
        (Action.SUPPRESS, None),
        (Action.ERASE, None),
    ]
    assert services.contacts.verify_ledger(tenant_id=tenant_id).consistent


@pytest.fixture(params=DATABASES)
def worlds(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """A factory of fresh worlds (services on an empty database) for each example."""
    opened: list[SqlTransactions] = []
    counter = iter(range(1_000_000))

    def fresh_url() -> str:
        if request.param == "sqlite":
            return sqlite_database(tmp_path / f"machine-{next(counter)}.db")
        url, cleaner = request.getfixturevalue("postgres_session_database")
        truncate_all(cleaner)
        return url

    def make_world() -> World:
        engine = make_engine(fresh_url())
        transactions = SqlTransactions(engine)
        opened.append(transactions)
        clock, hasher = FrozenClock(), KeyedHasher(b"p" * 32)

        def close() -> None:
            transactions.close()
            engine.dispose()

        return World(build(transactions, clock, hasher), transactions, clock, hasher, close)

    yield make_world
    for transactions in opened:
        transactions.close()


def test_replaying_the_ledger_yields_the_stored_state_on_sql(worlds):
    run_state_machine_as_test(
        machine(worlds),
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def _ledger_of(engine, tenant_id: int) -> tuple[list, list, list]:
    """The tenant's addresses, events and outbox notices in id order, named by what they
    are rather than by their ids (which differ between tenants)."""
    with engine.connect() as connection:
        addresses = connection.execute(
            select(tables.addresses.c.id, tables.addresses.c.value)
            .where(tables.addresses.c.tenant_id == tenant_id)
            .order_by(tables.addresses.c.id)
        ).all()
        value_of = {row.id: row.value for row in addresses}
        events = connection.execute(
            select(tables.consent_events)
            .where(tables.consent_events.c.tenant_id == tenant_id)
            .order_by(tables.consent_events.c.id)
        ).all()
        rank_of = {row.id: rank for rank, row in enumerate(events)}
        notices = connection.execute(
            select(tables.outbox.c.kind, tables.outbox.c.payload, tables.outbox.c.run_at)
            .where(tables.outbox.c.tenant_id == tenant_id)
            .order_by(tables.outbox.c.id)
        ).all()
        suppressed = connection.execute(
            select(tables.suppressions.c.address_id, tables.suppressions.c.reason)
            .where(tables.suppressions.c.tenant_id == tenant_id)
            .order_by(tables.suppressions.c.address_id)
        ).all()
    return (
        [row.value for row in addresses],
        [
            (value_of.get(row.address_id), row.action, row.outcome, row.via, row.occurred_at)
            for row in events
        ],
        [
            (kind, rank_of[json.loads(payload)["event_id"]], run_at)
            for kind, payload, run_at in notices
        ]
        + [(value_of[row.address_id], row.reason) for row in suppressed],
    )


class TickingClock:
    """A clock one millisecond later at every reading, from `start` again on `reset()`:
    the order in which works read it shows in the rows."""

    start = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

    def __init__(self) -> None:
        self.at = self.start

    def now(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at

    def reset(self) -> None:
        self.at = self.start


def test_unsubscribes_run_together_leave_what_they_leave_one_by_one(engine, transactions):
    clock = TickingClock()
    ctx = service_context(transactions=transactions, clock=clock)
    services = Services.build(ctx)
    tenants = [services.tenants.create_tenant(name=name).tenant.id for name in ("one", "two")]
    wanted = [
        "new1@example.com",
        "old@example.com",
        "gone@example.com",
        "new2@example.com",
        "NEW1@example.com",  # the first address again: the works after it run after it
        "new3@example.com",
        "gone@example.com",
        "new4@example.com",
        "new4@example.com",
    ]
    results = []
    for tenant_id in tenants:
        clock.reset()
        services.topics.create_topic(
            tenant_id=tenant_id, key="digest", name="Digest", consent_mode=ConsentMode.OPT_OUT
        )
        services.subscriptions.subscribe(
            tenant_id=tenant_id,
            channel=EMAIL,
            address="old@example.com",
            topic="digest",
            provenance=API,
        )
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(EMAIL, "gone@example.com"),
            topics=None,
            provenance=API,
        )
        tenant = ctx.tenant(tenant_id)
        works = [
            SuppressAddress(
                ctx=ctx,
                tenant_id=tenant_id,
                key=ctx.address_key(tenant=tenant, channel=EMAIL, raw=address),
                reason=UNSUBSCRIBED,
                provenance=API,
            )
            for address in wanted
        ]
        if tenant_id == tenants[0]:
            results.append(transactions.write(partial(SuppressAddress.combine, works=works)))
        else:
            results.append([transactions.write(work) for work in works])

    together, one_by_one = results
    assert [result.changes[0].event_id for result in together] == sorted(
        result.changes[0].event_id for result in together
    )

    def described(result):
        (change,) = result.changes
        return (change.channel, change.address, change.topic, change.action, change.outcome)

    assert [described(r) for r in together] == [described(r) for r in one_by_one]
    assert [described(r)[4] for r in together] == [
        Outcome.CHANGED,
        Outcome.CHANGED,
        Outcome.REPEATED,
        Outcome.CHANGED,
        Outcome.REPEATED,
        Outcome.CHANGED,
        Outcome.REPEATED,
        Outcome.CHANGED,
        Outcome.REPEATED,
    ]
    assert _ledger_of(engine, tenants[0]) == _ledger_of(engine, tenants[1])
    for tenant_id in tenants:
        report = services.contacts.verify_ledger(tenant_id=tenant_id)
        assert report.differences == ()


def test_one_clicks_run_together_leave_what_they_leave_one_by_one(engine, transactions):
    clock = TickingClock()
    ctx = service_context(transactions=transactions, clock=clock)
    services = Services.build(ctx)
    tenants = [services.tenants.create_tenant(name=name).tenant.id for name in ("one", "two")]
    click = Provenance(via="one_click", user_agent="Mailbox/1.0")
    # (address, whether the link names the topic or every topic)
    wanted = [
        ("new1@example.com", True),
        ("old@example.com", True),
        ("left@example.com", True),  # left the topic already: repeated
        ("new2@example.com", False),
        ("new1@example.com", True),  # the first address again: the works after it run after it
        ("gone@example.com", False),  # suppressed already: repeated
        ("new3@example.com", False),
        ("new3@example.com", False),
        ("new4@example.com", True),
    ]
    results, subscriptions = [], []
    for tenant_id in tenants:
        clock.reset()
        services.topics.create_topic(
            tenant_id=tenant_id, key="news", name="News", consent_mode=ConsentMode.OPT_OUT
        )
        services.subscriptions.subscribe(
            tenant_id=tenant_id,
            channel=EMAIL,
            address="old@example.com",
            topic="news",
            provenance=API,
        )
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(EMAIL, "gone@example.com"),
            topics=None,
            provenance=API,
        )
        registered = services.messages.register_messages(
            tenant_id=tenant_id,
            messages=[
                MessageSpec(EMAIL, address, "news", message_uid=f"m-{n}")
                for n, (address, _) in enumerate(wanted)
            ],
        )
        claims = [ctx.keyring.open(r.unsubscribe_url.rsplit("/", 1)[1]) for r in registered]
        left = claims[[address for address, _ in wanted].index("left@example.com")]
        services.links.one_click(token=ctx.keyring.seal(left), provenance=click)
        tenant = ctx.tenant(tenant_id)
        works = [
            OneClick(
                service=services.links,
                claims=link if about_topic else replace(link, topic_id=None, message_id=None),
                tenant=tenant,
                provenance=click,
            )
            for link, (_, about_topic) in zip(claims, wanted, strict=True)
        ]
        if tenant_id == tenants[0]:
            results.append(transactions.write(partial(OneClick.combine, works=works)))
        else:
            results.append([transactions.write(work) for work in works])
        with engine.connect() as connection:
            subscriptions.append(
                connection.execute(
                    select(
                        tables.addresses.c.value,
                        tables.subscriptions.c.state,
                        tables.subscriptions.c.updated_at,
                    )
                    .join_from(
                        tables.subscriptions,
                        tables.addresses,
                        tables.subscriptions.c.address_id == tables.addresses.c.id,
                    )
                    .where(tables.addresses.c.tenant_id == tenant_id)
                    .order_by(tables.addresses.c.value)
                ).all()
            )

    together, one_by_one = results
    assert [change.event_id for change in together] == sorted(c.event_id for c in together)

    def described(change):
        return (change.channel, change.address, change.topic, change.action, change.outcome)

    assert [described(c) for c in together] == [described(c) for c in one_by_one]
    assert [(c.topic, c.action, c.outcome) for c in together] == [
        ("news", Action.UNSUBSCRIBE, Outcome.CHANGED),
        ("news", Action.UNSUBSCRIBE, Outcome.CHANGED),
        ("news", Action.UNSUBSCRIBE, Outcome.REPEATED),
        (None, Action.SUPPRESS, Outcome.CHANGED),
        ("news", Action.UNSUBSCRIBE, Outcome.REPEATED),
        (None, Action.SUPPRESS, Outcome.REPEATED),
        (None, Action.SUPPRESS, Outcome.CHANGED),
        (None, Action.SUPPRESS, Outcome.REPEATED),
        ("news", Action.UNSUBSCRIBE, Outcome.CHANGED),
    ]
    assert _ledger_of(engine, tenants[0]) == _ledger_of(engine, tenants[1])
    assert subscriptions[0] == subscriptions[1]
    assert len(subscriptions[0]) == 4
    for tenant_id in tenants:
        report = services.contacts.verify_ledger(tenant_id=tenant_id)
        assert report.differences == ()


def test_one_clicks_run_together_raise_for_a_link_that_cannot_be_used(transactions):
    ctx = service_context(transactions=transactions)
    services = Services.build(ctx)
    tenant_id = services.tenants.create_tenant(name="acme").tenant.id
    services.topics.create_topic(tenant_id=tenant_id, key="news", name="News")
    services.topics.create_topic(
        tenant_id=tenant_id, key="receipts", name="Receipts", category=Category.TRANSACTIONAL
    )
    registered = services.messages.register_messages(
        tenant_id=tenant_id,
        messages=[
            MessageSpec(EMAIL, "ann@example.com", "news", message_uid="n-1"),
            MessageSpec(EMAIL, "bob@example.com", "receipts", message_uid="r-1"),
        ],
    )
    tenant = ctx.tenant(tenant_id)
    news, receipt = (ctx.keyring.open(r.unsubscribe_url.rsplit("/", 1)[1]) for r in registered)
    click = Provenance(via="one_click")

    def works(*claims):
        return [
            OneClick(service=services.links, claims=c, tenant=tenant, provenance=click)
            for c in claims
        ]

    with pytest.raises(Forbidden):
        ctx.transactions.write(partial(OneClick.combine, works=works(news, receipt)))
    with pytest.raises(InvalidLinkToken):
        ctx.transactions.write(
            partial(OneClick.combine, works=works(news, replace(news, address_id=10**9)))
        )
    assert [
        c.outcome for c in ctx.transactions.write(partial(OneClick.combine, works=works(news)))
    ] == [Outcome.CHANGED]
