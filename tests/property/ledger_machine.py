"""A Hypothesis state machine that drives the services through random histories.

After every history it replays the whole ledger and asserts that the replay is exactly
the stored current state, and that every may-send answer agrees with the replayed state.
It is run over the in-memory fakes (tests/property) and over real SQLite and PostgreSQL
(tests/integration).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from optledger.domain.channels import Channel
from optledger.domain.errors import OptledgerError
from optledger.domain.ledger import project
from optledger.domain.model import Category, ConsentMode, Provenance
from optledger.domain.policy import decide
from optledger.domain.ports import EventFilter, Transactions
from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from optledger.services.messages import MessageSpec
from optledger.services.targets import AddressTarget, ContactTarget, MessageTarget
from tests.fakes import FrozenClock

ADDRESSES = [
    (Channel.EMAIL, "e0@example.com"),
    (Channel.EMAIL, "E1@Example.com"),
    (Channel.EMAIL, "e2@example.com"),
    (Channel.SMS, "+14155550100"),
    (Channel.SMS, "(415) 555-0101"),
]
CONTACTS = ["c0", "c1", "c2"]
TOPICS = ["news", "digest", "vip", "receipts", "alerts"]
VIA = Provenance(via="machine")


@dataclass
class World:
    """What a run needs: the services and the ports behind them."""

    services: Services
    transactions: Transactions
    clock: FrozenClock
    hasher: KeyedHasher
    close: Callable[[], None]


addresses = st.sampled_from(ADDRESSES)
contacts = st.sampled_from(CONTACTS)
topic_choices = st.one_of(st.none(), st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3))


def machine(make_world: Callable[[], World]) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world = make_world()
            self.s = self.world.services
            self.tenant_id = self._tenant()
            self.tokens: list[str] = []
            self.requests: list[int] = []
            self.messages: list[str] = []

        def _tenant(self) -> int:
            tenant = self.s.tenants.create_tenant(name="acme").tenant
            both = (Channel.EMAIL, Channel.SMS)
            self.s.topics.create_topic(tenant_id=tenant.id, key="news", name="N", channels=both)
            self.s.topics.create_topic(
                tenant_id=tenant.id, key="digest", name="D", consent_mode=ConsentMode.OPT_OUT
            )
            self.s.topics.create_topic(
                tenant_id=tenant.id, key="vip", name="V", double_opt_in=True, channels=both
            )
            self.s.topics.create_topic(
                tenant_id=tenant.id,
                key="receipts",
                name="R",
                category=Category.TRANSACTIONAL,
                consent_mode=ConsentMode.OPT_OUT,
                channels=both,
                unsubscribable=True,
            )
            self.s.topics.create_topic(
                tenant_id=tenant.id,
                key="alerts",
                name="A",
                category=Category.TRANSACTIONAL,
                consent_mode=ConsentMode.OPT_OUT,
                channels=(Channel.SMS,),
            )
            return tenant.id

        def _target(self, data: st.DataObject) -> AddressTarget | ContactTarget | MessageTarget:
            kinds = ["address", "contact"] + (["message"] if self.messages else [])
            kind = data.draw(st.sampled_from(kinds))
            if kind == "address":
                channel, address = data.draw(addresses)
                return AddressTarget(channel=channel, address=address)
            if kind == "contact":
                channel = data.draw(st.one_of(st.none(), st.sampled_from(list(Channel)[:2])))
                return ContactTarget(external_id=data.draw(contacts), channel=channel)
            return MessageTarget(message_uid=data.draw(st.sampled_from(self.messages)))

        @rule(address=addresses, topic=st.sampled_from(TOPICS), contact=st.none() | contacts)
        def subscribe(self, address: tuple[Channel, str], topic: str, contact: str | None) -> None:
            try:
                result = self.s.subscriptions.subscribe(
                    tenant_id=self.tenant_id,
                    channel=address[0],
                    address=address[1],
                    topic=topic,
                    contact=contact,
                    provenance=VIA,
                )
            except OptledgerError:
                return
            if result.confirmation_token:
                self.tokens.append(result.confirmation_token)

        @rule(data=st.data())
        def confirm(self, data: st.DataObject) -> None:
            if self.tokens:
                token = data.draw(st.sampled_from(self.tokens))
                try:
                    self.s.subscriptions.confirm(token=token, provenance=VIA)
                except OptledgerError:
                    return

        @rule(data=st.data(), topics=topic_choices)
        def unsubscribe(self, data: st.DataObject, topics: list[str] | None) -> None:
            try:
                self.s.subscriptions.unsubscribe(
                    tenant_id=self.tenant_id,
                    target=self._target(data),
                    topics=topics,
                    provenance=VIA,
                )
            except OptledgerError:
                return

        @rule(data=st.data(), topics=topic_choices)
        def resubscribe(self, data: st.DataObject, topics: list[str] | None) -> None:
            try:
                self.s.subscriptions.resubscribe(
                    tenant_id=self.tenant_id,
                    target=self._target(data),
                    topics=topics,
                    provenance=VIA,
                )
            except OptledgerError:
                return

        @rule(data=st.data(), topics=topic_choices)
        def request(self, data: st.DataObject, topics: list[str] | None) -> None:
            try:
                view = self.s.requests.request_unsubscribe(
                    tenant_id=self.tenant_id,
                    target=self._target(data),
                    topics=topics,
                    provenance=VIA,
                )
            except OptledgerError:
                return
            self.requests.append(view.id)

        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            if self.requests:
                request_id = data.draw(st.sampled_from(self.requests))
                try:
                    self.s.requests.cancel_request(
                        tenant_id=self.tenant_id, request_id=request_id, provenance=VIA
                    )
                except OptledgerError:
                    return

        @rule(days=st.integers(min_value=1, max_value=8))
        def time_passes(self, days: int) -> None:
            self.world.clock.advance(timedelta(days=days))
            self.s.requests.complete_due_requests()

        @rule(address=addresses, topic=st.sampled_from(TOPICS))
        def register(self, address: tuple[Channel, str], topic: str) -> None:
            try:
                (message,) = self.s.messages.register_messages(
                    tenant_id=self.tenant_id,
                    messages=[MessageSpec(channel=address[0], address=address[1], topic=topic)],
                )
            except OptledgerError:
                return
            self.messages.append(message.message_uid)

        @rule(contact=contacts)
        def erase(self, contact: str) -> None:
            try:
                self.s.contacts.erase_contact(
                    tenant_id=self.tenant_id, external_id=contact, provenance=VIA
                )
            except OptledgerError:
                return
            self.messages = []

        @rule(rows=st.lists(addresses, min_size=1, max_size=3))
        def import_rows(self, rows: list[tuple[Channel, str]]) -> None:
            text = "channel,address\n" + "".join(f"{c},{a}\n" for c, a in rows)
            self.s.suppressions.import_csv(
                tenant_id=self.tenant_id, chunks=[text.encode()], skip_invalid=False, provenance=VIA
            )

        @invariant()
        def replay_equals_stored_state(self) -> None:
            report = self.s.contacts.verify_ledger(tenant_id=self.tenant_id)
            assert report.differences == ()
            self._decisions_follow_the_ledger()

        def _decisions_follow_the_ledger(self) -> None:
            events = self.world.transactions.read(
                lambda uow: uow.events.query(
                    self.tenant_id, where=EventFilter(), after_id=0, limit=1_000_000
                )
            )
            replayed = project(events)
            topics = {t.key: t for t in self.s.topics.list_topics(tenant_id=self.tenant_id)}
            for channel in (Channel.EMAIL, Channel.SMS):
                inputs = [a for c, a in ADDRESSES if c is channel]
                for key, topic in topics.items():
                    results = self.s.checks.check(
                        tenant_id=self.tenant_id, topic=key, channel=channel, addresses=inputs
                    )
                    for result in results:
                        assert result.address is not None
                        address_hash = self.world.hasher.address_hash(
                            tenant_id=self.tenant_id, channel=channel, value=result.address
                        )
                        expected = decide(
                            topic=topic,
                            channel=channel,
                            state=replayed.subscriptions.get((address_hash, topic.id)),
                            suppressed=(channel, address_hash) in replayed.suppressions,
                        )
                        assert (result.allowed, result.reason) == (
                            expected.allowed,
                            expected.reason,
                        )

        def teardown(self) -> None:
            self.world.close()

    return LedgerMachine
