"""Every repository method, on SQLite and PostgreSQL, through `SqlTransactions`."""

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict
from optledger.domain.model import (
    Action,
    Address,
    Category,
    Confirmation,
    ConsentEvent,
    ConsentMode,
    Message,
    OutboxItem,
    Outcome,
    Provenance,
    RequestState,
    Scope,
    Subscription,
    SubscriptionState,
    Suppression,
    Tenant,
    Topic,
)
from optledger.domain.ports import (
    AddressToFind,
    EventFilter,
    ImportedEvent,
    NewSuppression,
    SuppressedSet,
    UnitOfWork,
)
from optledger.domain.secrets import KeyedHasher
from optledger.storage import tables
from optledger.storage.engine import for_writing
from optledger.storage.repositories import SqlUnitOfWork
from optledger.storage.transactions import SqlTransactions

T0 = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
HASHER = KeyedHasher(b"k" * 32)
MANY = 1_200
"""More than two IN chunks of 500."""


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add_tenant(uow: UnitOfWork, name: str = "acme") -> Tenant:
    return uow.tenants.add(
        name=name,
        default_region="GB",
        default_locale="en-GB",
        grace_period=timedelta(days=14),
        created_at=T0,
    )


def add_topic(uow: UnitOfWork, tenant_id: int, key: str = "news") -> Topic:
    return uow.topics.add(
        tenant_id=tenant_id,
        key=key,
        name=f"The {key}",
        category=Category.MARKETING,
        consent_mode=ConsentMode.OPT_IN,
        double_opt_in=True,
        channels=frozenset({Channel.SMS, Channel.EMAIL}),
        unsubscribable=True,
        created_at=T0,
    )


def address_hash(tenant_id: int, value: str, channel: Channel = Channel.EMAIL) -> str:
    return HASHER.address_hash(tenant_id=tenant_id, channel=channel, value=value)


def add_address(
    uow: UnitOfWork,
    tenant_id: int,
    value: str,
    *,
    channel: Channel = Channel.EMAIL,
    contact_id: int | None = None,
) -> Address:
    return uow.addresses.add(
        tenant_id=tenant_id,
        channel=channel,
        value=value,
        address_hash=address_hash(tenant_id, value, channel),
        contact_id=contact_id,
        created_at=T0,
    )


def make_event(
    *, tenant_id: int, address: Address | None = None, minutes: int = 0, **changes: object
) -> ConsentEvent:
    event = ConsentEvent(
        tenant_id=tenant_id,
        occurred_at=at(minutes),
        action=Action.UNSUBSCRIBE,
        outcome=Outcome.CHANGED,
        channel=None if address is None else address.channel,
        address_hash=None if address is None else address.address_hash,
        address_id=None if address is None else address.id,
        contact_id=None if address is None else address.contact_id,
        topic_id=None,
        state=SubscriptionState.UNSUBSCRIBED,
        provenance=Provenance(via="rest"),
    )
    return replace(event, **changes)  # type: ignore[arg-type]


# --- tenants ---------------------------------------------------------------------------


def test_tenant_round_trip(transactions: SqlTransactions) -> None:
    added = transactions.write(add_tenant)
    assert added == Tenant(
        id=1,
        name="acme",
        default_region="GB",
        default_locale="en-GB",
        grace_period=timedelta(days=14),
        created_at=T0,
    )
    assert transactions.read(lambda uow: uow.tenants.get(added.id)) == added
    assert transactions.read(lambda uow: uow.tenants.by_name("acme")) == added
    assert transactions.read(lambda uow: uow.tenants.get(99)) is None
    assert transactions.read(lambda uow: uow.tenants.by_name("nobody")) is None


def test_tenant_grace_period_and_timezones_round_trip(transactions: SqlTransactions) -> None:
    local = timezone(timedelta(hours=5, minutes=30))
    odd = timedelta(days=3, seconds=7_261, microseconds=5)
    added = transactions.write(
        lambda uow: uow.tenants.add(
            name="acme",
            default_region="IN",
            default_locale="hi-IN",
            grace_period=odd,
            created_at=T0.astimezone(local),
        )
    )
    stored = transactions.read(lambda uow: uow.tenants.get(added.id))
    assert stored is not None
    assert stored.grace_period == odd
    assert stored.created_at == T0
    assert stored.created_at.tzinfo is UTC
    assert added.created_at.tzinfo is UTC


def test_tenants_all_in_id_order(transactions: SqlTransactions) -> None:
    for name in ("b", "a", "c"):
        transactions.write(lambda uow, name=name: add_tenant(uow, name))  # type: ignore[misc]
    names = transactions.read(lambda uow: [tenant.name for tenant in uow.tenants.all()])
    assert names == ["b", "a", "c"]


def test_duplicate_tenant_is_a_conflict_and_the_transaction_stays_usable(
    transactions: SqlTransactions,
) -> None:
    def work(uow: UnitOfWork) -> str:
        add_tenant(uow, "acme")
        try:
            add_tenant(uow, "acme")
        except Conflict as conflict:
            message = conflict.message
        add_tenant(uow, "globex")
        return message

    assert transactions.write(work) == "a tenant with this name already exists"
    names = transactions.read(lambda uow: [tenant.name for tenant in uow.tenants.all()])
    assert names == ["acme", "globex"]


def test_naive_datetimes_are_refused(transactions: SqlTransactions) -> None:
    naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        transactions.write(
            lambda uow: uow.tenants.add(
                name="acme",
                default_region="GB",
                default_locale="en",
                grace_period=timedelta(0),
                created_at=naive,
            )
        )


# --- API keys --------------------------------------------------------------------------


def test_api_keys(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int]:
        return add_tenant(uow, "acme").id, add_tenant(uow, "globex").id

    acme, globex = transactions.write(setup)
    key = transactions.write(
        lambda uow: uow.api_keys.add(
            tenant_id=acme,
            name="ci",
            prefix="olk_abcd",
            key_hash="a" * 64,
            scope=Scope.WRITE,
            created_at=T0,
        )
    )
    assert (key.id, key.tenant_id, key.name, key.prefix) == (1, acme, "ci", "olk_abcd")
    assert (key.key_hash, key.scope, key.created_at, key.revoked_at) == (
        "a" * 64,
        "write",
        T0,
        None,
    )
    assert transactions.read(lambda uow: uow.api_keys.get(acme, key.id)) == key
    assert transactions.read(lambda uow: uow.api_keys.get(globex, key.id)) is None
    assert transactions.read(lambda uow: uow.api_keys.by_hash("a" * 64)) == key
    assert transactions.read(lambda uow: uow.api_keys.by_hash("b" * 64)) is None
    assert transactions.read(lambda uow: uow.api_keys.of_tenant(acme)) == [key]
    assert transactions.read(lambda uow: uow.api_keys.of_tenant(globex)) == []

    transactions.write(lambda uow: uow.api_keys.revoke(key.id, at=at(5)))
    transactions.write(lambda uow: uow.api_keys.revoke(key.id, at=at(9)))
    assert transactions.read(lambda uow: uow.api_keys.by_hash("a" * 64)) == replace(
        key, revoked_at=at(5)
    )

    with pytest.raises(Conflict, match="an API key with this hash already exists"):
        transactions.write(
            lambda uow: uow.api_keys.add(
                tenant_id=globex,
                name="copy",
                prefix="olk_abcd",
                key_hash="a" * 64,
                scope=Scope.ADMIN,
                created_at=T0,
            )
        )


# --- topics ----------------------------------------------------------------------------


def test_topics(transactions: SqlTransactions, engine: Engine) -> None:
    def setup(uow: UnitOfWork) -> tuple[Topic, Topic, int]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        return add_topic(uow, acme.id), add_topic(uow, globex.id), globex.id

    news, other_news, globex = transactions.write(setup)
    assert news == Topic(
        id=1,
        tenant_id=1,
        key="news",
        name="The news",
        category=Category.MARKETING,
        consent_mode=ConsentMode.OPT_IN,
        double_opt_in=True,
        channels=frozenset({Channel.EMAIL, Channel.SMS}),
        unsubscribable=True,
        created_at=T0,
    )
    assert transactions.read(lambda uow: uow.topics.get(1, news.id)) == news
    assert transactions.read(lambda uow: uow.topics.get(globex, news.id)) is None
    assert transactions.read(lambda uow: uow.topics.by_key(1, "news")) == news
    assert transactions.read(lambda uow: uow.topics.by_key(globex, "news")) == other_news
    assert transactions.read(lambda uow: uow.topics.by_key(1, "nope")) is None
    assert transactions.read(lambda uow: uow.topics.of_tenant(1)) == [news]
    with engine.connect() as connection:
        stored = connection.execute(
            select(tables.topics.c.channels).where(tables.topics.c.id == news.id)
        ).scalar_one()
    assert stored == "email,sms"

    with pytest.raises(Conflict, match="a topic with this key already exists"):
        transactions.write(lambda uow: add_topic(uow, 1))


def test_topic_flags_and_single_channel(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> Topic:
        tenant = add_tenant(uow)
        return uow.topics.add(
            tenant_id=tenant.id,
            key="receipts",
            name="Receipts",
            category=Category.TRANSACTIONAL,
            consent_mode=ConsentMode.OPT_OUT,
            double_opt_in=False,
            channels=frozenset({Channel.PUSH}),
            unsubscribable=False,
            created_at=T0,
        )

    topic = transactions.write(setup)
    stored = transactions.read(lambda uow: uow.topics.get(topic.tenant_id, topic.id))
    assert stored == topic
    assert stored is not None
    assert (stored.double_opt_in, stored.unsubscribable) == (False, False)
    assert stored.channels == frozenset({Channel.PUSH})


# --- contacts --------------------------------------------------------------------------


def test_contacts(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int]:
        return add_tenant(uow, "acme").id, add_tenant(uow, "globex").id

    acme, globex = transactions.write(setup)
    contact = transactions.write(
        lambda uow: uow.contacts.add(
            tenant_id=acme, external_id="user-1", locale="fr-CA", created_at=T0
        )
    )
    assert (contact.id, contact.tenant_id, contact.external_id) == (1, acme, "user-1")
    assert (contact.locale, contact.created_at, contact.erased_at) == ("fr-CA", T0, None)
    assert transactions.read(lambda uow: uow.contacts.get(acme, contact.id)) == contact
    assert transactions.read(lambda uow: uow.contacts.get(globex, contact.id)) is None
    assert transactions.read(lambda uow: uow.contacts.by_external_id(acme, "user-1")) == contact
    assert transactions.read(lambda uow: uow.contacts.by_external_id(globex, "user-1")) is None

    with pytest.raises(Conflict, match="a contact with this external id already exists"):
        transactions.write(
            lambda uow: uow.contacts.add(
                tenant_id=acme, external_id="user-1", locale=None, created_at=T0
            )
        )

    transactions.write(lambda uow: uow.contacts.mark_erased(contact.id, at=at(3)))
    erased = transactions.read(lambda uow: uow.contacts.get(acme, contact.id))
    assert erased == replace(contact, external_id=None, locale=None, erased_at=at(3))
    assert transactions.read(lambda uow: uow.contacts.by_external_id(acme, "user-1")) is None
    again = transactions.write(
        lambda uow: uow.contacts.add(
            tenant_id=acme, external_id="user-1", locale=None, created_at=at(4)
        )
    )
    assert again.id != contact.id
    assert transactions.read(lambda uow: uow.contacts.by_external_id(acme, "user-1")) == again


# --- addresses -------------------------------------------------------------------------


def test_addresses(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, int]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        contact = uow.contacts.add(tenant_id=acme.id, external_id="u1", locale=None, created_at=T0)
        return acme.id, globex.id, contact.id

    acme, globex, contact = transactions.write(setup)
    ann = transactions.write(
        lambda uow: add_address(uow, acme, "ann@example.com", contact_id=contact)
    )
    assert ann == Address(
        id=1,
        tenant_id=acme,
        channel=Channel.EMAIL,
        value="ann@example.com",
        address_hash=address_hash(acme, "ann@example.com"),
        contact_id=contact,
        created_at=T0,
    )
    assert transactions.read(lambda uow: uow.addresses.get(acme, ann.id)) == ann
    assert transactions.read(lambda uow: uow.addresses.get(globex, ann.id)) is None
    ann_hash = address_hash(acme, "ann@example.com")
    find = transactions.read(
        lambda uow: uow.addresses.find(acme, Channel.EMAIL, "ann@example.com", ann_hash)
    )
    assert find == ann
    elsewhere = address_hash(globex, "ann@example.com")
    assert (
        transactions.read(
            lambda uow: uow.addresses.find(globex, Channel.EMAIL, "ann@example.com", elsewhere)
        )
        is None
    )
    push_hash = address_hash(acme, "ann@example.com", Channel.PUSH)
    assert (
        transactions.read(
            lambda uow: uow.addresses.find(acme, Channel.PUSH, "ann@example.com", push_hash)
        )
        is None
    )
    assert transactions.read(lambda uow: uow.addresses.of_contact(acme, contact)) == [ann]
    assert transactions.read(lambda uow: uow.addresses.of_contact(globex, contact)) == []

    with pytest.raises(Conflict, match="this address already exists"):
        transactions.write(lambda uow: add_address(uow, acme, "ann@example.com"))
    same_value_elsewhere = transactions.write(
        lambda uow: add_address(uow, acme, "ann@example.com", channel=Channel.PUSH)
    )
    assert same_value_elsewhere.id != ann.id

    bob = transactions.write(lambda uow: add_address(uow, acme, "bob@example.com"))
    transactions.write(lambda uow: uow.addresses.attach(bob.id, contact_id=contact))
    contact_addresses = transactions.read(lambda uow: uow.addresses.of_contact(acme, contact))
    assert contact_addresses == [ann, replace(bob, contact_id=contact)]


def test_address_of_the_largest_size(transactions: SqlTransactions) -> None:
    token = "".join(f"{n:04x}" for n in range(1024))  # 4,096 characters, incompressible
    tenant = transactions.write(add_tenant)

    address = transactions.write(
        lambda uow: add_address(uow, tenant.id, token, channel=Channel.PUSH)
    )
    token_hash = address_hash(tenant.id, token, Channel.PUSH)
    found = transactions.read(
        lambda uow: uow.addresses.find(tenant.id, Channel.PUSH, token, token_hash)
    )
    assert found == address
    assert found is not None
    assert len(found.value) == 4096
    with pytest.raises(Conflict):
        transactions.write(lambda uow: add_address(uow, tenant.id, token, channel=Channel.PUSH))


def find_or_add(
    tenant_id: int, value: str, *, contact_id: int | None = None, at: datetime = T0
) -> Callable[[UnitOfWork], Address]:
    def work(uow: UnitOfWork) -> Address:
        return uow.addresses.find_or_add(
            tenant_id=tenant_id,
            channel=Channel.EMAIL,
            value=value,
            address_hash=address_hash(tenant_id, value),
            contact_id=contact_id,
            created_at=at,
        )

    return work


def address_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(tables.addresses.c.id)).all())


def test_find_or_add_finds_the_address_or_adds_it(
    transactions: SqlTransactions, engine: Engine
) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, int]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        contact = uow.contacts.add(tenant_id=acme.id, external_id="u1", locale=None, created_at=T0)
        return acme.id, globex.id, contact.id

    acme, globex, contact = transactions.write(setup)
    ann = transactions.write(find_or_add(acme, "ann@example.com", contact_id=contact))
    assert ann == Address(
        id=ann.id,
        tenant_id=acme,
        channel=Channel.EMAIL,
        value="ann@example.com",
        address_hash=address_hash(acme, "ann@example.com"),
        contact_id=contact,
        created_at=T0,
    )
    ann_hash = address_hash(acme, "ann@example.com")
    stored = transactions.read(
        lambda uow: uow.addresses.find(acme, Channel.EMAIL, "ann@example.com", ann_hash)
    )
    assert stored == ann
    # Found again as stored: not added twice, its contact and time unchanged.
    again = transactions.write(find_or_add(acme, "ann@example.com", at=at(5)))
    assert again == ann
    # Another tenant's, and another value, are new addresses.
    theirs = transactions.write(find_or_add(globex, "ann@example.com"))
    bob = transactions.write(find_or_add(acme, "bob@example.com", at=at(1)))
    assert len({ann.id, theirs.id, bob.id}) == 3
    assert (theirs.tenant_id, theirs.contact_id) == (globex, None)
    assert (bob.value, bob.created_at) == ("bob@example.com", at(1))
    assert address_count(engine) == 3


def test_find_or_add_returns_the_address_another_transaction_adds_meanwhile(
    transactions: SqlTransactions, engine: Engine
) -> None:
    tenant = transactions.write(add_tenant)
    with for_writing(engine.connect()) as other:
        transaction = other.begin()
        theirs = add_address(SqlUnitOfWork(other), tenant.id, "ann@example.com")
        # The writer's look-up cannot see the uncommitted row; its insert must wait.
        mine = transactions.submit(find_or_add(tenant.id, "ann@example.com"))
        time.sleep(0.5)
        assert not mine.done()
        transaction.commit()
    assert mine.result(30) == theirs
    assert address_count(engine) == 1


def to_find(tenant_id: int, value: str, *, minutes: int = 0) -> AddressToFind:
    return AddressToFind(
        tenant_id, Channel.EMAIL, value, address_hash(tenant_id, value), at(minutes)
    )


def test_find_or_add_each_finds_or_adds_each_in_order(
    transactions: SqlTransactions, engine: Engine
) -> None:
    """One statement of each kind on either database (decisions 0032, 0035): the known
    addresses as stored, the new ones added in the keys' order (ids ascending in it),
    across tenants, a key named twice found as the one just added."""

    def setup(uow: UnitOfWork) -> tuple[int, int, Address]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        return acme.id, globex.id, add_address(uow, acme.id, "old@example.com")

    acme, globex, old = transactions.write(setup)
    keys = [
        to_find(acme, "b@example.com", minutes=1),
        to_find(acme, "old@example.com", minutes=2),
        to_find(globex, "old@example.com", minutes=3),
        to_find(acme, "a@example.com", minutes=4),
        to_find(acme, "b@example.com", minutes=5),
    ]
    found = transactions.write(lambda uow: uow.addresses.find_or_add_each(keys))
    b, known, theirs, a, b_again = found
    assert known == old
    assert b_again == b
    assert old.id < b.id < theirs.id < a.id
    assert [(x.tenant_id, x.value, x.contact_id, x.created_at) for x in (b, theirs, a)] == [
        (acme, "b@example.com", None, at(1)),
        (globex, "old@example.com", None, at(3)),
        (acme, "a@example.com", None, at(4)),
    ]
    for address in found:
        assert address.address_hash == address_hash(address.tenant_id, address.value)
        assert (
            transactions.read(lambda uow, x=address: uow.addresses.get(x.tenant_id, x.id))
            == address
        )
    assert address_count(engine) == 4


def test_find_or_add_each_of_a_hash_known_with_another_value_is_a_conflict(
    transactions: SqlTransactions, engine: Engine
) -> None:
    """As `find_or_add` of that key would make it: the whole call fails, the writer runs
    the works again one by one."""
    tenant = transactions.write(add_tenant)
    known = to_find(tenant.id, "ann@example.com")
    transactions.write(lambda uow: uow.addresses.find_or_add_each([known]))
    other = known._replace(value="ANN@example.com")
    keys = [to_find(tenant.id, "new@example.com"), other]
    with pytest.raises(Conflict):
        transactions.write(lambda uow: uow.addresses.find_or_add_each(keys))
    assert address_count(engine) == 1


def test_suppressions_add_each_adds_those_not_there_yet_in_order(
    transactions: SqlTransactions,
) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, list[Address]]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        values = ("a@x.org", "b@x.org", "c@x.org")
        return acme.id, globex.id, [add_address(uow, acme.id, value) for value in values]

    acme, globex, (a, b, c) = transactions.write(setup)
    there = Suppression(acme, Channel.EMAIL, b.address_hash, b.id, "bounced", T0)
    transactions.write(lambda uow: uow.suppressions.add(there))
    wanted = [
        Suppression(acme, Channel.EMAIL, a.address_hash, a.id, "unsubscribed", at(1)),
        Suppression(acme, Channel.EMAIL, b.address_hash, b.id, "unsubscribed", at(2)),
        Suppression(globex, Channel.EMAIL, b.address_hash, None, "unsubscribed", at(3)),
        Suppression(acme, Channel.SMS, c.address_hash, c.id, "unsubscribed", at(4)),
    ]
    added = transactions.write(lambda uow: uow.suppressions.add_each(wanted))
    assert added == [True, False, True, True]
    stored = [
        transactions.read(
            lambda uow, x=row: uow.suppressions.get(x.tenant_id, x.channel, x.address_hash)
        )
        for row in wanted
    ]
    assert stored == [wanted[0], there, wanted[2], wanted[3]]


def test_events_add_each_is_add_or_add_with_notice_of_each_in_order(
    transactions: SqlTransactions, engine: Engine
) -> None:
    tenant = transactions.write(add_tenant)
    events = [make_event(tenant_id=tenant.id, minutes=n) for n in range(4)]
    notices = ["consent.changed", None, "consent.changed", "other"]
    ids = transactions.write(lambda uow: uow.events.add_each(events, notices))
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    stored = transactions.read(
        lambda uow: uow.events.query(tenant.id, where=EventFilter(), after_id=0, limit=10)
    )
    assert stored == [replace(event, id=n) for event, n in zip(events, ids, strict=True)]
    with engine.connect() as connection:
        rows = connection.execute(select(tables.outbox).order_by(tables.outbox.c.id)).all()
    moments = [at(n).replace(tzinfo=None) for n in range(4)]
    assert [tuple(row)[1:] for row in rows] == [
        (tenant.id, kind, f'{{"event_id":{ids[n]}}}', moments[n], 0, moments[n], None)
        for n, kind in ((0, "consent.changed"), (2, "consent.changed"), (3, "other"))
    ]


def test_find_many_chunks_its_in_lists(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> int:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        for n in range(MANY):
            add_address(uow, tenant.id, f"user{n}@example.com")
        add_address(uow, other.id, "user0@example.com")
        add_address(uow, tenant.id, "user0@example.com", channel=Channel.PUSH)
        return tenant.id

    tenant_id = transactions.write(setup)
    wanted = {
        value: address_hash(tenant_id, value)
        for value in (f"user{n}@example.com" for n in range(MANY + 300))
    }
    found = transactions.read(lambda uow: uow.addresses.find_many(tenant_id, Channel.EMAIL, wanted))
    assert set(found) == {f"user{n}@example.com" for n in range(MANY)}
    assert all(
        address.value == value
        and address.tenant_id == tenant_id
        and address.channel is Channel.EMAIL
        for value, address in found.items()
    )
    assert (
        transactions.read(lambda uow: uow.addresses.find_many(tenant_id, Channel.SMS, wanted)) == {}
    )
    assert (
        transactions.read(lambda uow: uow.addresses.find_many(tenant_id, Channel.EMAIL, {})) == {}
    )


def test_deleting_addresses_cascades_and_detaches(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[Address, Address, Topic]:
        tenant = add_tenant(uow)
        topic = add_topic(uow, tenant.id)
        gone, kept = (add_address(uow, tenant.id, v) for v in ("gone@x.org", "kept@x.org"))
        for address in (gone, kept):
            uow.subscriptions.put(
                Subscription(address.id, topic.id, SubscriptionState.SUBSCRIBED, T0)
            )
            uow.messages.add(
                tenant_id=tenant.id,
                message_uid=f"m-{address.id}",
                address_id=address.id,
                topic_id=topic.id,
                campaign=None,
                created_at=T0,
            )
            uow.suppressions.add(
                Suppression(tenant.id, Channel.EMAIL, address.address_hash, address.id, "x", T0)
            )
            uow.events.add(make_event(tenant_id=tenant.id, address=address))
        return gone, kept, topic

    gone, kept, topic = transactions.write(setup)
    transactions.write(lambda uow: uow.addresses.delete([gone.id]))

    def state(uow: UnitOfWork) -> tuple[object, ...]:
        return (
            uow.addresses.get(gone.tenant_id, gone.id),
            uow.subscriptions.of_addresses([gone.id, kept.id]),
            [m.address_id for m in uow.messages.of_addresses([gone.id, kept.id])],
            uow.suppressions.get(gone.tenant_id, Channel.EMAIL, gone.address_hash),
            [
                (e.address_hash, e.address_id)
                for e in uow.events.query(gone.tenant_id, where=EventFilter(), after_id=0, limit=9)
            ],
        )

    address, subs, message_addresses, suppression, events = transactions.read(state)
    assert address is None
    assert subs == [Subscription(kept.id, topic.id, SubscriptionState.SUBSCRIBED, T0)]
    assert message_addresses == [kept.id]
    assert suppression == Suppression(
        gone.tenant_id, Channel.EMAIL, gone.address_hash, None, "x", T0
    )
    assert events == [(gone.address_hash, None), (kept.address_hash, kept.id)]


# --- subscriptions ---------------------------------------------------------------------


def test_subscription_put_is_an_upsert(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[Address, Topic]:
        tenant = add_tenant(uow)
        return add_address(uow, tenant.id, "ann@x.org"), add_topic(uow, tenant.id)

    address, topic = transactions.write(setup)
    first = Subscription(address.id, topic.id, SubscriptionState.PENDING, at(1))
    second = Subscription(address.id, topic.id, SubscriptionState.SUBSCRIBED, at(2))
    transactions.write(lambda uow: uow.subscriptions.put(first))
    assert transactions.read(lambda uow: uow.subscriptions.get(address.id, topic.id)) == first
    transactions.write(lambda uow: uow.subscriptions.put(second))
    assert transactions.read(lambda uow: uow.subscriptions.get(address.id, topic.id)) == second
    assert transactions.read(lambda uow: uow.subscriptions.of_addresses([address.id])) == [second]

    transactions.write(lambda uow: uow.subscriptions.remove(address.id, topic.id))
    assert transactions.read(lambda uow: uow.subscriptions.get(address.id, topic.id)) is None


def test_subscription_states_and_snapshot(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[list[Address], Topic, Topic, Address]:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        news, offers = add_topic(uow, tenant.id, "news"), add_topic(uow, tenant.id, "offers")
        known = [add_address(uow, tenant.id, f"u{n}@x.org") for n in range(MANY)]
        for n, address in enumerate(known):
            state = SubscriptionState.SUBSCRIBED if n % 2 else SubscriptionState.UNSUBSCRIBED
            uow.subscriptions.put(Subscription(address.id, news.id, state, T0))
        uow.subscriptions.put(Subscription(known[0].id, offers.id, SubscriptionState.PENDING, T0))
        stranger = add_address(uow, other.id, "u0@x.org")
        uow.subscriptions.put(
            Subscription(stranger.id, add_topic(uow, other.id).id, SubscriptionState.PENDING, T0)
        )
        return known, news, offers, stranger

    known, news, offers, stranger = transactions.write(setup)
    ids = [address.id for address in known] + [999_000 + n for n in range(300)]
    states = transactions.read(lambda uow: uow.subscriptions.states(news.id, ids))
    assert states == {
        address.id: SubscriptionState.SUBSCRIBED if n % 2 else SubscriptionState.UNSUBSCRIBED
        for n, address in enumerate(known)
    }
    assert transactions.read(lambda uow: uow.subscriptions.states(offers.id, ids)) == {
        known[0].id: SubscriptionState.PENDING
    }
    assert len(transactions.read(lambda uow: uow.subscriptions.of_addresses(ids))) == MANY + 1

    snapshot = transactions.read(lambda uow: uow.subscriptions.snapshot(news.tenant_id))
    assert len(snapshot) == MANY + 1
    assert snapshot[(known[1].address_hash, news.id)] is SubscriptionState.SUBSCRIBED
    assert snapshot[(known[0].address_hash, offers.id)] is SubscriptionState.PENDING
    assert (stranger.address_hash, news.id) not in snapshot

    transactions.write(lambda uow: uow.subscriptions.delete_of_addresses(ids))
    assert transactions.read(lambda uow: uow.subscriptions.snapshot(news.tenant_id)) == {}
    assert len(transactions.read(lambda uow: uow.subscriptions.snapshot(stranger.tenant_id))) == 1


# --- suppressions ----------------------------------------------------------------------


def test_suppressions(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, Address]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        return acme.id, globex.id, add_address(uow, acme.id, "ann@x.org")

    acme, globex, ann = transactions.write(setup)
    suppression = Suppression(acme, Channel.EMAIL, ann.address_hash, ann.id, "spam_complaint", T0)
    assert transactions.write(lambda uow: uow.suppressions.add(suppression)) is True
    assert (
        transactions.read(lambda uow: uow.suppressions.get(acme, Channel.EMAIL, ann.address_hash))
        == suppression
    )
    assert (
        transactions.read(lambda uow: uow.suppressions.get(globex, Channel.EMAIL, ann.address_hash))
        is None
    )
    assert (
        transactions.read(lambda uow: uow.suppressions.get(acme, Channel.SMS, ann.address_hash))
        is None
    )
    again = replace(suppression, reason="again")
    assert transactions.write(lambda uow: uow.suppressions.add(again)) is False
    assert (
        transactions.read(lambda uow: uow.suppressions.get(acme, Channel.EMAIL, ann.address_hash))
        == suppression
    )
    assert transactions.read(lambda uow: uow.suppressions.snapshot(acme)) == {
        (Channel.EMAIL, ann.address_hash)
    }
    assert transactions.read(lambda uow: uow.suppressions.snapshot(globex)) == set()

    transactions.write(
        lambda uow: uow.suppressions.set_reason(acme, Channel.EMAIL, ann.address_hash, "bounced")
    )
    suppression = replace(suppression, reason="bounced")
    assert (
        transactions.read(lambda uow: uow.suppressions.get(acme, Channel.EMAIL, ann.address_hash))
        == suppression
    )
    transactions.write(
        lambda uow: uow.suppressions.set_reason(acme, Channel.SMS, ann.address_hash, "x")
    )
    assert transactions.read(lambda uow: uow.suppressions.snapshot(acme)) == {
        (Channel.EMAIL, ann.address_hash)
    }

    transactions.write(lambda uow: uow.suppressions.detach_addresses([ann.id]))
    assert transactions.read(
        lambda uow: uow.suppressions.get(acme, Channel.EMAIL, ann.address_hash)
    ) == replace(suppression, address_id=None)

    def remove(uow: UnitOfWork) -> bool:
        return uow.suppressions.remove(acme, Channel.EMAIL, ann.address_hash)

    assert transactions.write(remove) is True
    assert transactions.write(remove) is False
    assert transactions.read(lambda uow: uow.suppressions.snapshot(acme)) == set()


def test_suppressed_chunks_its_in_lists(transactions: SqlTransactions) -> None:
    hashes = [f"{n:064x}" for n in range(MANY)]

    def setup(uow: UnitOfWork) -> int:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        for value in hashes[::2]:
            uow.suppressions.add(Suppression(tenant.id, Channel.SMS, value, None, "stop", T0))
        uow.suppressions.add(Suppression(other.id, Channel.SMS, hashes[1], None, "stop", T0))
        uow.suppressions.add(Suppression(tenant.id, Channel.EMAIL, hashes[1], None, "stop", T0))
        return tenant.id

    tenant_id = transactions.write(setup)
    found = transactions.read(
        lambda uow: uow.suppressions.suppressed(tenant_id, Channel.SMS, hashes)
    )
    assert found == set(hashes[::2])
    assert len(found) == MANY // 2


def test_all_suppressed_gives_values_where_kept_and_hashes_otherwise(
    transactions: SqlTransactions,
) -> None:
    """A value only where its address row is there with the suppression's own hash and
    holds no newline (the separator); every other suppression by its hash; the limit
    counts both."""

    def setup(uow: UnitOfWork) -> tuple[int, list[str]]:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        kept = [add_address(uow, tenant.id, f"kept{n}@x.org") for n in range(3)]
        lined = add_address(uow, tenant.id, "two\nlines@x.org")
        moved = add_address(uow, tenant.id, "moved@x.org")
        for address in [*kept, lined]:
            uow.suppressions.add(
                Suppression(tenant.id, Channel.EMAIL, address.address_hash, address.id, "x", T0)
            )
        erased = address_hash(tenant.id, "erased@x.org")
        elsewhere = address_hash(tenant.id, "elsewhere@x.org")
        uow.suppressions.add(Suppression(tenant.id, Channel.EMAIL, erased, None, "x", T0))
        uow.suppressions.add(Suppression(tenant.id, Channel.EMAIL, elsewhere, moved.id, "x", T0))
        sms = address_hash(tenant.id, "+447700900001", Channel.SMS)
        uow.suppressions.add(Suppression(tenant.id, Channel.SMS, sms, None, "x", T0))
        theirs = add_address(uow, other.id, "theirs@x.org")
        uow.suppressions.add(
            Suppression(other.id, Channel.EMAIL, theirs.address_hash, theirs.id, "x", T0)
        )
        return tenant.id, [lined.address_hash, erased, elsewhere]

    tenant_id, hashes = transactions.write(setup)

    def every(limit: int, channel: Channel = Channel.EMAIL) -> SuppressedSet | None:
        return transactions.read(
            lambda uow: uow.checks.all_suppressed(tenant_id=tenant_id, channel=channel, limit=limit)
        )

    found = every(6)
    assert found is not None
    assert sorted(found.values.split("\n")) == ["kept0@x.org", "kept1@x.org", "kept2@x.org"]
    assert found.hashes == set(hashes)
    assert every(5) is None
    assert every(1, Channel.SMS) == SuppressedSet(
        values="", hashes={address_hash(tenant_id, "+447700900001", Channel.SMS)}
    )
    assert every(0, Channel.PUSH) == SuppressedSet(values="", hashes=set())


def test_suppression_pages(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> list[tuple[Suppression, str | None]]:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        rows: list[tuple[Suppression, str | None]] = []
        for channel, value, keep_address in (
            (Channel.SMS, "+447700900001", True),
            (Channel.EMAIL, "ann@x.org", True),
            (Channel.EMAIL, "bob@x.org", False),
            (Channel.PUSH, "tok", True),
        ):
            address = add_address(uow, tenant.id, value, channel=channel)
            suppression = Suppression(
                tenant.id, channel, address.address_hash, address.id, "stop", T0
            )
            uow.suppressions.add(suppression)
            if keep_address:
                rows.append((suppression, value))
            else:
                uow.suppressions.detach_addresses([address.id])
                uow.addresses.delete([address.id])
                rows.append((replace(suppression, address_id=None), None))
        uow.suppressions.add(Suppression(other.id, Channel.EMAIL, "0" * 64, None, "stop", T0))
        return sorted(rows, key=lambda row: (row[0].channel.value, row[0].address_hash))

    expected = transactions.write(setup)
    tenant_id = expected[0][0].tenant_id
    first = transactions.read(lambda uow: uow.suppressions.page(tenant_id, after=None, limit=3))
    assert first == expected[:3]
    cursor = (first[-1][0].channel.value, first[-1][0].address_hash)
    rest = transactions.read(lambda uow: uow.suppressions.page(tenant_id, after=cursor, limit=3))
    assert rest == expected[3:]
    last = (expected[-1][0].channel.value, expected[-1][0].address_hash)
    assert (
        transactions.read(lambda uow: uow.suppressions.page(tenant_id, after=last, limit=3)) == []
    )


# --- events ----------------------------------------------------------------------------


def test_event_round_trip_of_every_field(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> ConsentEvent:
        tenant = add_tenant(uow)
        topic = add_topic(uow, tenant.id)
        contact = uow.contacts.add(tenant_id=tenant.id, external_id="u", locale=None, created_at=T0)
        address = add_address(uow, tenant.id, "ann@x.org", contact_id=contact.id)
        request = uow.requests.add(
            tenant_id=tenant.id,
            contact_id=contact.id,
            address_id=address.id,
            topic_ids=[topic.id],
            created_at=T0,
            effective_at=at(60),
        )
        return ConsentEvent(
            tenant_id=tenant.id,
            occurred_at=at(1),
            action=Action.REQUEST_UNSUBSCRIBE,
            outcome=Outcome.REPEATED,
            channel=Channel.EMAIL,
            address_hash=address.address_hash,
            address_id=address.id,
            contact_id=contact.id,
            topic_id=topic.id,
            state=SubscriptionState.PENDING,
            provenance=Provenance(
                via="compat.druid",
                actor="agent:42",
                device="iPhone",
                entrypoint="web-eu",
                tags=("gdpr", "ünïcode", "gdpr"),
                context={"campaign": "spring", "emoji": "✉️", "quote": 'a "b"'},
                request_id="req-1",
                idempotency_key="idem-1",
                locale="de-DE",
                ip="2001:db8::1",
                user_agent="Mozilla/5.0 (X11)",
            ),
            unsubscribe_request_id=request.id,
            message_uid="msg-1",
            campaign="spring-sale",
        )

    event = transactions.write(setup)
    event_id = transactions.write(lambda uow: uow.events.add(event))
    assert event_id == 1
    stored = transactions.read(
        lambda uow: uow.events.query(event.tenant_id, where=EventFilter(), after_id=0, limit=10)
    )
    assert stored == [replace(event, id=1)]
    assert stored[0].occurred_at.tzinfo is UTC
    assert transactions.read(
        lambda uow: uow.events.of_request(event.unsubscribe_request_id or 0)
    ) == [replace(event, id=1)]


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
"""Text both databases store: PostgreSQL refuses NUL, and no database stores a lone
surrogate; the doors must reject those."""
OPTIONAL_TEXT = st.none() | TEXT
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    occurred_at=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=ZONES,
    ),
    provenance=st.builds(
        Provenance,
        via=TEXT,
        actor=OPTIONAL_TEXT,
        device=OPTIONAL_TEXT,
        entrypoint=OPTIONAL_TEXT,
        tags=st.lists(TEXT, max_size=4).map(tuple),
        context=st.dictionaries(TEXT, TEXT, max_size=4),
        request_id=OPTIONAL_TEXT,
        idempotency_key=OPTIONAL_TEXT,
        locale=OPTIONAL_TEXT,
        ip=OPTIONAL_TEXT,
        user_agent=OPTIONAL_TEXT,
    ),
    message_uid=OPTIONAL_TEXT,
    campaign=OPTIONAL_TEXT,
)
def test_event_round_trip_of_any_text_and_time(
    transactions: SqlTransactions,
    occurred_at: datetime,
    provenance: Provenance,
    message_uid: str | None,
    campaign: str | None,
) -> None:
    tenant = transactions.read(lambda uow: uow.tenants.by_name("acme")) or transactions.write(
        add_tenant
    )
    event = make_event(
        tenant_id=tenant.id,
        occurred_at=occurred_at,
        provenance=provenance,
        message_uid=message_uid,
        campaign=campaign,
    )
    event_id = transactions.write(lambda uow: uow.events.add(event))
    stored = transactions.read(
        lambda uow: uow.events.query(tenant.id, where=EventFilter(), after_id=event_id - 1, limit=1)
    )
    assert stored == [replace(event, id=event_id)]
    assert stored[0].occurred_at.tzinfo is UTC


def test_event_minimal_fields(transactions: SqlTransactions) -> None:
    tenant = transactions.write(add_tenant)
    event = make_event(tenant_id=tenant.id, state=None, action=Action.ERASE)
    event_id = transactions.write(lambda uow: uow.events.add(event))
    stored = transactions.read(
        lambda uow: uow.events.query(tenant.id, where=EventFilter(), after_id=0, limit=1)
    )
    assert stored == [replace(event, id=event_id)]
    assert stored[0].provenance.context == {}
    assert stored[0].provenance.tags == ()


def test_imported_rows_round_trip(transactions: SqlTransactions) -> None:
    """An import's bulk writes (tuples, COPY on PostgreSQL) store what the one-row writes
    store: addresses, suppressions and events read back field for field."""
    provenance = Provenance(
        via="import", actor="cli", tags=("bulk", "ünï"), context={"file": 'a "b".csv'}
    )
    later = T0.astimezone(timezone(timedelta(hours=2))) + timedelta(days=1)

    def write(uow: UnitOfWork) -> tuple[Tenant, Topic, Address, list[int], list[int]]:
        tenant = add_tenant(uow)
        topic = add_topic(uow, tenant.id)
        contact = uow.contacts.add(tenant_id=tenant.id, external_id="u", locale=None, created_at=T0)
        known = add_address(uow, tenant.id, "known@x.org", contact_id=contact.id)
        keys = [
            (Channel.EMAIL, "new@x.org", address_hash(tenant.id, "new@x.org")),
            (Channel.SMS, "+447700900123", address_hash(tenant.id, "+447700900123", Channel.SMS)),
        ]
        ids = uow.addresses.add_many(tenant_id=tenant.id, keys=keys, created_at=at(1))
        uow.suppressions.add_many(
            tenant.id,
            [
                NewSuppression(Channel.EMAIL, keys[0][2], ids[0], "imported", T0),
                NewSuppression(Channel.SMS, keys[1][2], ids[1], "bounced", later),
            ],
        )
        rows = [
            ImportedEvent(
                Action.SUPPRESS,
                Outcome.CHANGED,
                Channel.EMAIL,
                keys[0][2],
                ids[0],
                None,
                None,
                None,
            ),
            ImportedEvent(
                Action.UNSUBSCRIBE,
                Outcome.REPEATED,
                Channel.EMAIL,
                known.address_hash,
                known.id,
                contact.id,
                topic.id,
                SubscriptionState.UNSUBSCRIBED,
            ),
        ]
        event_ids = uow.events.add_imported(
            tenant_id=tenant.id, occurred_at=at(2), provenance=provenance, rows=rows
        )
        return tenant, topic, known, ids, event_ids

    tenant, topic, known, ids, event_ids = transactions.write(write)

    assert ids == [known.id + 1, known.id + 2]
    new, sms = (transactions.read(lambda uow, i=i: uow.addresses.get(tenant.id, i)) for i in ids)
    assert new == Address(
        id=ids[0],
        tenant_id=tenant.id,
        channel=Channel.EMAIL,
        value="new@x.org",
        address_hash=address_hash(tenant.id, "new@x.org"),
        contact_id=None,
        created_at=at(1),
    )
    assert sms is not None
    assert (sms.channel, sms.value) == (Channel.SMS, "+447700900123")
    assert (
        transactions.read(
            lambda uow: uow.addresses.find(tenant.id, Channel.EMAIL, "new@x.org", new.address_hash)
        )
        == new
    )
    stored = transactions.read(
        lambda uow: uow.suppressions.get(tenant.id, Channel.SMS, sms.address_hash)
    )
    assert stored == Suppression(
        tenant_id=tenant.id,
        channel=Channel.SMS,
        address_hash=sms.address_hash,
        address_id=sms.id,
        reason="bounced",
        created_at=later,
    )
    events = transactions.read(
        lambda uow: uow.events.query(tenant.id, where=EventFilter(), after_id=0, limit=10)
    )
    common = {"tenant_id": tenant.id, "occurred_at": at(2), "provenance": provenance}
    assert events == [
        ConsentEvent(
            id=event_ids[0],
            action=Action.SUPPRESS,
            outcome=Outcome.CHANGED,
            channel=Channel.EMAIL,
            address_hash=new.address_hash,
            address_id=new.id,
            contact_id=None,
            topic_id=None,
            state=None,
            **common,  # type: ignore[arg-type]
        ),
        ConsentEvent(
            id=event_ids[1],
            action=Action.UNSUBSCRIBE,
            outcome=Outcome.REPEATED,
            channel=Channel.EMAIL,
            address_hash=known.address_hash,
            address_id=known.id,
            contact_id=known.contact_id,
            topic_id=topic.id,
            state=SubscriptionState.UNSUBSCRIBED,
            **common,  # type: ignore[arg-type]
        ),
    ]
    assert event_ids[1] == event_ids[0] + 1


def event_rows(engine: Engine) -> list[dict[str, object]]:
    """Every column of every stored event but its id, in id order, as the database holds it."""
    events = tables.consent_events
    with engine.connect() as connection:
        rows = connection.execute(select(events).order_by(events.c.id)).mappings().all()
    return [{name: value for name, value in row.items() if name != "id"} for row in rows]


@pytest.mark.parametrize(
    "provenance",
    [
        Provenance(via="import", actor="cli"),
        Provenance(
            via="rest",
            actor="key:7",
            device="desktop",
            entrypoint="/v1/suppressions/import",
            tags=("bulk",),
            context={"file": "a.csv"},
            request_id="req-1",
            idempotency_key="idem-1",
            locale="en-GB",
            ip="192.0.2.1",
            user_agent="curl/8",
        ),
    ],
    ids=["some-provenance", "every-provenance"],
)
@pytest.mark.parametrize("targeted", [False, True], ids=["suppressions", "with-topic"])
def test_imported_events_are_the_rows_single_events_are(
    transactions: SqlTransactions, engine: Engine, provenance: Provenance, *, targeted: bool
) -> None:
    """`add_imported` names only the columns its batch sets (decision 0037); every column
    of the rows it stores, NULLs included, is what `add` stores for the same events."""

    def setup(uow: UnitOfWork) -> tuple[Tenant, list[ImportedEvent]]:
        tenant = add_tenant(uow)
        topic = add_topic(uow, tenant.id)
        contact = uow.contacts.add(tenant_id=tenant.id, external_id="u", locale=None, created_at=T0)
        plain = add_address(uow, tenant.id, "plain@x.org")
        known = add_address(uow, tenant.id, "known@x.org", contact_id=contact.id)
        rows = [
            ImportedEvent(
                Action.SUPPRESS,
                Outcome.CHANGED,
                Channel.EMAIL,
                plain.address_hash,
                plain.id,
                None,
                None,
                None,
            )
        ]
        if targeted:
            rows.append(
                ImportedEvent(
                    Action.UNSUBSCRIBE,
                    Outcome.REPEATED,
                    Channel.EMAIL,
                    known.address_hash,
                    known.id,
                    contact.id,
                    topic.id,
                    SubscriptionState.UNSUBSCRIBED,
                )
            )
        return tenant, rows

    tenant, rows = transactions.write(setup)
    transactions.write(
        lambda uow: uow.events.add_imported(
            tenant_id=tenant.id, occurred_at=at(2), provenance=provenance, rows=rows
        )
    )
    imported = event_rows(engine)
    for row in rows:
        event = ConsentEvent(
            tenant_id=tenant.id,
            occurred_at=at(2),
            action=row.action,
            outcome=row.outcome,
            channel=row.channel,
            address_hash=row.address_hash,
            address_id=row.address_id,
            contact_id=row.contact_id,
            topic_id=row.topic_id,
            state=row.state,
            provenance=provenance,
        )
        transactions.write(lambda uow, event=event: uow.events.add(event))

    stored = event_rows(engine)
    assert len(imported) == len(rows)
    assert stored == imported + imported
    assert [row["contact_id"] for row in imported] == [row.contact_id for row in rows]
    assert {row["request_id"] for row in imported} == {provenance.request_id}


def test_a_bulk_insert_of_an_existing_row_is_a_conflict(transactions: SqlTransactions) -> None:
    def write(uow: UnitOfWork) -> None:
        tenant = add_tenant(uow)
        known = add_address(uow, tenant.id, "known@x.org")
        uow.addresses.add_many(
            tenant_id=tenant.id,
            keys=[(Channel.EMAIL, known.value, known.address_hash)],
            created_at=T0,
        )

    with pytest.raises(Conflict):
        transactions.write(write)
    assert transactions.read(lambda uow: uow.tenants.by_name("acme")) is None


def test_event_ids_increase(transactions: SqlTransactions) -> None:
    tenant = transactions.write(add_tenant)

    def add_three(uow: UnitOfWork) -> list[int]:
        return [uow.events.add(make_event(tenant_id=tenant.id)) for _ in range(3)]

    first = transactions.write(add_three)
    second = transactions.write(add_three)
    assert first + second == [1, 2, 3, 4, 5, 6]


def test_event_queries(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, Address, Address]:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        contact = uow.contacts.add(tenant_id=tenant.id, external_id="u", locale=None, created_at=T0)
        ann = add_address(uow, tenant.id, "ann@x.org", contact_id=contact.id)
        bob = add_address(uow, tenant.id, "bob@x.org")
        for minutes, address, via, action in (
            (0, ann, "rest", Action.SUBSCRIBE),
            (10, bob, "rest", Action.UNSUBSCRIBE),
            (20, ann, "one_click", Action.UNSUBSCRIBE),
            (30, bob, "sms", Action.SUPPRESS),
            (40, ann, "rest", Action.RESUBSCRIBE),
        ):
            uow.events.add(
                make_event(
                    tenant_id=tenant.id,
                    address=address,
                    minutes=minutes,
                    action=action,
                    provenance=Provenance(via=via),
                )
            )
        uow.events.add(make_event(tenant_id=other.id, minutes=5))
        return tenant.id, contact.id, ann, bob

    tenant_id, contact_id, ann, bob = transactions.write(setup)

    def ids(where: EventFilter, *, after_id: int = 0, limit: int = 100) -> list[int]:
        events = transactions.read(
            lambda uow: uow.events.query(tenant_id, where=where, after_id=after_id, limit=limit)
        )
        return [event.id for event in events]

    assert ids(EventFilter()) == [1, 2, 3, 4, 5]
    assert ids(EventFilter(), after_id=2) == [3, 4, 5]
    assert ids(EventFilter(), after_id=1, limit=2) == [2, 3]
    assert ids(EventFilter(contact_id=contact_id)) == [1, 3, 5]
    assert ids(EventFilter(address_hash=bob.address_hash)) == [2, 4]
    assert ids(EventFilter(since=at(10))) == [2, 3, 4, 5]
    assert ids(EventFilter(until=at(30))) == [1, 2, 3]
    assert ids(EventFilter(since=at(10), until=at(30))) == [2, 3]
    assert ids(EventFilter(via="rest")) == [1, 2, 5]
    assert ids(EventFilter(action=Action.UNSUBSCRIBE)) == [2, 3]
    assert ids(
        EventFilter(via="rest", action=Action.UNSUBSCRIBE, address_hash=bob.address_hash)
    ) == [2]
    assert ids(EventFilter(address_hash=ann.address_hash, via="sms")) == []


def test_event_scrub(transactions: SqlTransactions) -> None:
    full = Provenance(
        via="rest",
        actor="ann",
        device="phone",
        entrypoint="eu",
        tags=("t",),
        context={"k": "v"},
        request_id="r",
        idempotency_key="i",
        locale="en",
        ip="192.0.2.1",
        user_agent="ua",
    )

    def setup(uow: UnitOfWork) -> tuple[int, Address, Address]:
        tenant, other = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        ann, bob = (
            add_address(uow, tenant.id, "ann@x.org"),
            add_address(uow, tenant.id, "bob@x.org"),
        )
        stranger = add_address(uow, other.id, "ann@x.org")
        for address in (ann, bob, stranger):
            uow.events.add(
                make_event(tenant_id=address.tenant_id, address=address, provenance=full)
            )
        return tenant.id, ann, stranger

    tenant_id, ann, stranger = transactions.write(setup)
    transactions.write(lambda uow: uow.events.scrub(tenant_id, address_ids=[ann.id, stranger.id]))

    def all_events(uow: UnitOfWork) -> list[ConsentEvent]:
        return [
            event
            for tenant in (tenant_id, stranger.tenant_id)
            for event in uow.events.query(tenant, where=EventFilter(), after_id=0, limit=10)
        ]

    scrubbed, untouched, other_tenant = transactions.read(all_events)
    assert scrubbed.address_id is None
    assert scrubbed.address_hash == ann.address_hash
    assert scrubbed.provenance == replace(full, actor=None, ip=None, user_agent=None, context={})
    assert untouched.provenance == full
    assert untouched.address_id is not None
    assert other_tenant.provenance == full
    assert other_tenant.address_id == stranger.id


# --- unsubscribe requests --------------------------------------------------------------


def test_requests(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, int, Address]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        contact = uow.contacts.add(tenant_id=acme.id, external_id="u", locale=None, created_at=T0)
        return acme.id, globex.id, contact.id, add_address(uow, acme.id, "ann@x.org")

    acme, globex, contact, ann = transactions.write(setup)
    request = transactions.write(
        lambda uow: uow.requests.add(
            tenant_id=acme,
            contact_id=contact,
            address_id=ann.id,
            topic_ids=[7, 3],
            created_at=T0,
            effective_at=at(60),
        )
    )
    assert (request.id, request.tenant_id, request.contact_id, request.address_id) == (
        1,
        acme,
        contact,
        ann.id,
    )
    assert (request.topic_ids, request.state) == ((7, 3), RequestState.PENDING)
    assert (request.created_at, request.effective_at, request.closed_at) == (T0, at(60), None)
    assert transactions.read(lambda uow: uow.requests.get(acme, request.id)) == request
    assert transactions.read(lambda uow: uow.requests.get(globex, request.id)) is None
    assert transactions.read(lambda uow: uow.requests.of_contact(acme, contact)) == [request]
    assert transactions.read(lambda uow: uow.requests.of_contact(globex, contact)) == []

    every_topic = transactions.write(
        lambda uow: uow.requests.add(
            tenant_id=acme,
            contact_id=None,
            address_id=None,
            topic_ids=(),
            created_at=T0,
            effective_at=at(30),
        )
    )
    assert transactions.read(lambda uow: uow.requests.get(acme, every_topic.id)) == every_topic
    assert every_topic.topic_ids == ()

    transactions.write(
        lambda uow: uow.requests.close(request.id, state=RequestState.CANCELLED, at=at(5))
    )
    assert transactions.read(lambda uow: uow.requests.get(acme, request.id)) == replace(
        request, state=RequestState.CANCELLED, closed_at=at(5)
    )
    assert transactions.read(lambda uow: uow.requests.snapshot(acme)) == {
        request.id: RequestState.CANCELLED,
        every_topic.id: RequestState.PENDING,
    }
    assert transactions.read(lambda uow: uow.requests.snapshot(globex)) == {}


def test_due_requests(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> list[int]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        ids = [
            uow.requests.add(
                tenant_id=tenant.id,
                contact_id=None,
                address_id=None,
                topic_ids=(),
                created_at=T0,
                effective_at=at(minutes),
            ).id
            for tenant, minutes in ((acme, 30), (globex, 10), (acme, 20), (acme, 31), (globex, 5))
        ]
        uow.requests.close(ids[4], state=RequestState.COMPLETED, at=at(6))
        return ids

    ids = transactions.write(setup)
    due = transactions.read(lambda uow: uow.requests.due(at=at(30), limit=10))
    assert [request.id for request in due] == [ids[1], ids[2], ids[0]]
    assert [r.id for r in transactions.read(lambda uow: uow.requests.due(at=at(30), limit=2))] == [
        ids[1],
        ids[2],
    ]
    assert transactions.read(lambda uow: uow.requests.due(at=at(9), limit=10)) == []


# --- messages --------------------------------------------------------------------------


def test_messages(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[int, int, Address, Address, Topic]:
        acme, globex = add_tenant(uow, "acme"), add_tenant(uow, "globex")
        topic = add_topic(uow, acme.id)
        ann, bob = add_address(uow, acme.id, "ann@x.org"), add_address(uow, acme.id, "bob@x.org")
        return acme.id, globex.id, ann, bob, topic

    acme, globex, ann, bob, topic = transactions.write(setup)

    def register(uid: str, address: Address, campaign: str | None = None) -> object:
        return transactions.write(
            lambda uow: uow.messages.add(
                tenant_id=acme,
                message_uid=uid,
                address_id=address.id,
                topic_id=topic.id,
                campaign=campaign,
                created_at=T0,
            )
        )

    first = register("m-1", ann, "spring")
    second = register("m-2", bob)
    third = register("m-3", ann)
    assert transactions.read(lambda uow: uow.messages.get(acme, 1)) == first
    assert transactions.read(lambda uow: uow.messages.get(globex, 1)) is None
    assert transactions.read(lambda uow: uow.messages.by_uid(acme, "m-2")) == second
    assert transactions.read(lambda uow: uow.messages.by_uid(globex, "m-2")) is None
    assert transactions.read(lambda uow: uow.messages.of_addresses([ann.id])) == [first, third]
    with pytest.raises(Conflict, match="a message with this uid already exists"):
        register("m-1", bob)

    transactions.write(lambda uow: uow.messages.delete_of_addresses([ann.id]))
    assert transactions.read(lambda uow: uow.messages.of_addresses([ann.id, bob.id])) == [second]


# --- confirmations ---------------------------------------------------------------------


def test_confirmations(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> Confirmation:
        tenant = add_tenant(uow)
        topic = add_topic(uow, tenant.id)
        address = add_address(uow, tenant.id, "ann@x.org")
        return Confirmation(
            token_hash="c" * 64,
            tenant_id=tenant.id,
            address_id=address.id,
            topic_id=topic.id,
            created_at=T0,
            expires_at=at(60 * 24),
        )

    confirmation = transactions.write(setup)
    transactions.write(lambda uow: uow.confirmations.add(confirmation))
    assert transactions.read(lambda uow: uow.confirmations.by_hash("c" * 64)) == confirmation
    assert transactions.read(lambda uow: uow.confirmations.by_hash("d" * 64)) is None
    with pytest.raises(Conflict, match="a confirmation with this token already exists"):
        transactions.write(lambda uow: uow.confirmations.add(confirmation))

    transactions.write(lambda uow: uow.confirmations.mark_confirmed("c" * 64, at=at(5)))
    assert transactions.read(lambda uow: uow.confirmations.by_hash("c" * 64)) == replace(
        confirmation, confirmed_at=at(5)
    )
    transactions.write(lambda uow: uow.confirmations.delete_of_addresses([confirmation.address_id]))
    assert transactions.read(lambda uow: uow.confirmations.by_hash("c" * 64)) is None


# --- outbox ----------------------------------------------------------------------------


def test_an_event_with_its_notice(transactions: SqlTransactions, engine: Engine) -> None:
    """`add_with_notice` (one statement on PostgreSQL) stores the event as `add` does and
    the outbox row that `outbox.add` would have written about it."""
    tenant = transactions.write(add_tenant)
    event = make_event(tenant_id=tenant.id, minutes=3)
    first = transactions.write(
        lambda uow: uow.events.add_with_notice(event, kind="consent.changed")
    )
    alone = transactions.write(lambda uow: uow.events.add(event))
    second = transactions.write(lambda uow: uow.events.add_with_notice(event, kind="other"))
    assert first < alone < second
    stored = transactions.read(
        lambda uow: uow.events.query(tenant.id, where=EventFilter(), after_id=0, limit=10)
    )
    assert stored == [replace(event, id=n) for n in (first, alone, second)]
    with engine.connect() as connection:
        rows = connection.execute(select(tables.outbox).order_by(tables.outbox.c.id)).all()
    moment = at(3).replace(tzinfo=None)
    assert [tuple(row)[1:] for row in rows] == [
        (tenant.id, "consent.changed", f'{{"event_id":{first}}}', moment, 0, moment, None),
        (tenant.id, "other", f'{{"event_id":{second}}}', moment, 0, moment, None),
    ]


def test_outbox(transactions: SqlTransactions, engine: Engine) -> None:
    tenant = transactions.write(add_tenant)
    item = OutboxItem(
        tenant_id=tenant.id,
        kind="webhook",
        payload={"event": "unsubscribed", "ids": [1, 2], "nested": {"ü": None}},
        created_at=at(2),
    )
    transactions.write(lambda uow: uow.outbox.add(item))
    with engine.connect() as connection:
        rows = connection.execute(select(tables.outbox)).all()
    assert [tuple(row) for row in rows] == [
        (
            1,
            tenant.id,
            "webhook",
            '{"event":"unsubscribed","ids":[1,2],"nested":{"ü":null}}',
            at(2).replace(tzinfo=None),
            0,
            at(2).replace(tzinfo=None),
            None,
        )
    ]


def test_get_each_answers_what_get_answers_in_order(transactions: SqlTransactions) -> None:
    def setup(uow: UnitOfWork) -> tuple[list[Address], list[Message], Topic, int]:
        one, two = add_tenant(uow, "one"), add_tenant(uow, "two")
        topic = add_topic(uow, one.id)
        ann, bob = add_address(uow, one.id, "ann@x.org"), add_address(uow, one.id, "bob@x.org")
        cat = add_address(uow, two.id, "cat@x.org")
        messages = [
            uow.messages.add(
                tenant_id=one.id,
                message_uid=f"m-{address.id}",
                address_id=address.id,
                topic_id=topic.id,
                campaign=None,
                created_at=T0,
            )
            for address in (ann, bob)
        ]
        uow.subscriptions.put(Subscription(bob.id, topic.id, SubscriptionState.SUBSCRIBED, at(1)))
        uow.subscriptions.put(Subscription(ann.id, topic.id, SubscriptionState.PENDING, at(2)))
        return [ann, bob, cat], messages, topic, one.id

    (ann, bob, cat), (of_ann, of_bob), topic, tenant_id = transactions.write(setup)
    missing = cat.id + 1000
    address_keys = [
        (tenant_id, bob.id),
        (tenant_id, cat.id),  # another tenant's
        (tenant_id, missing),
        (tenant_id, ann.id),
        (tenant_id, bob.id),
    ]
    message_keys = [(tenant_id, of_bob.id), (cat.tenant_id, of_ann.id), (tenant_id, of_ann.id)]
    subscription_keys = [(ann.id, topic.id), (cat.id, topic.id), (bob.id, topic.id)]

    def each(uow: UnitOfWork) -> tuple[list, list, list]:
        return (
            uow.addresses.get_each(address_keys),
            uow.messages.get_each(message_keys),
            uow.subscriptions.get_each(subscription_keys),
        )

    def one_by_one(uow: UnitOfWork) -> tuple[list, list, list]:
        return (
            [uow.addresses.get(*key) for key in address_keys],
            [uow.messages.get(*key) for key in message_keys],
            [uow.subscriptions.get(*key) for key in subscription_keys],
        )

    together = transactions.read(each)
    assert together == transactions.read(one_by_one)
    assert together == (
        [bob, None, None, ann, bob],
        [of_bob, None, of_ann],
        [
            Subscription(ann.id, topic.id, SubscriptionState.PENDING, at(2)),
            None,
            Subscription(bob.id, topic.id, SubscriptionState.SUBSCRIBED, at(1)),
        ],
    )
