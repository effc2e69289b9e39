"""May-send checks: one address or a batch, against one topic on one channel."""

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final

from optledger.domain.channels import Channel, normalise_addresses
from optledger.domain.errors import InvalidInput
from optledger.domain.model import SubscriptionState, Tenant, Topic
from optledger.domain.policy import Decision, Reason, decide
from optledger.domain.ports import ConsentQuery, UnitOfWork
from optledger.services.context import AddressKey, ServiceContext
from optledger.services.results import CheckResult, LineCheckResult
from optledger.services.validation import check_storable

__all__ = ["LIST_BATCH", "MAX_CHECK_BATCH", "WHOLE_READ_LIMIT", "CheckService", "PreparedCheck"]

MAX_CHECK_BATCH = 10_000
LIST_BATCH: Final = 20_000
"""Lines of a list checked together: two statements each, and the memory of one batch."""
WHOLE_READ_LIMIT: Final = 1_000_000
"""Most suppressions on a channel (about 150 MB of hashes), and most subscription states of
a topic, that a list longer than one batch reads whole instead of looking its lines up
batch by batch: one scan costs less than a million index probes (decision 0020)."""


@dataclass(frozen=True, slots=True)
class PreparedCheck:
    """A single check ready for its read of the database (`CheckService.prepare_one`)."""

    input: str
    channel: Channel
    value: str | None
    """The normalised address; None for an invalid one (answered without a read)."""
    topic: Topic | None
    query: ConsentQuery | None
    """What decides it; None when nothing needs reading (an invalid address, an unknown
    topic)."""


class CheckService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def check(
        self, *, tenant_id: int, topic: str, channel: Channel, addresses: Sequence[str]
    ) -> list[CheckResult]:
        """The decision for each of `addresses`, in order.

        Invalid addresses and an unknown topic are answered, not raised: a sender checking
        a list wants a verdict per line (`invalid_address`, `unknown_topic`).
        """
        if len(addresses) > MAX_CHECK_BATCH:
            raise InvalidInput.of("addresses", f"must hold at most {MAX_CHECK_BATCH} addresses")
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        keys = [self._key(tenant=tenant, channel=channel, raw=raw) for raw in addresses]
        return self._ctx.transactions.read(
            lambda uow: self._check(
                uow,
                tenant_id=tenant_id,
                topic_key=topic,
                channel=channel,
                inputs=addresses,
                keys=keys,
            )
        )

    def check_one(
        self, *, tenant_id: int, topic: str, channel: Channel, address: str
    ) -> CheckResult:
        """`check` of one address, with one read of the database: the hot path of every
        sender, asked before each message."""
        prepared = self.prepare_one(
            tenant_id=tenant_id, topic=topic, channel=channel, address=address
        )
        return self.check_each([prepared])[0]

    def prepare_one(
        self, *, tenant_id: int, topic: str, channel: Channel, address: str
    ) -> PreparedCheck:
        """`check_one` up to its read of the database (the address normalised and hashed,
        the topic found), raising what `check_one` raises; `check_each` answers it."""
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        key = self._key(tenant=tenant, channel=channel, raw=address)
        if key is None:
            return PreparedCheck(input=address, channel=channel, value=None, topic=None, query=None)
        the_topic = self._ctx.topic(tenant_id, topic)
        query = None
        if the_topic is not None:
            query = ConsentQuery(
                tenant_id=tenant_id,
                channel=channel,
                value=key.value,
                address_hash=key.address_hash,
                topic_id=the_topic.id,
            )
        return PreparedCheck(
            input=address, channel=channel, value=key.value, topic=the_topic, query=query
        )

    def check_each(self, checks: Sequence[PreparedCheck]) -> list[CheckResult]:
        """The answers of prepared single checks (of any tenants), in order, all read in
        one look-up: single checks that arrive together are answered together, and each
        read begins after its check arrived, so it sees every change committed before."""
        queries = [check.query for check in checks if check.query is not None]
        consents = iter(
            self._ctx.transactions.lookup(lambda uow: uow.checks.consents(queries))
            if queries
            else ()
        )
        results = []
        for check in checks:
            if check.value is None:
                results.append(
                    CheckResult(
                        input=check.input,
                        address=None,
                        allowed=False,
                        reason=Reason.INVALID_ADDRESS,
                    )
                )
                continue
            state, suppressed = (None, False) if check.query is None else next(consents)
            decision = decide(
                topic=check.topic, channel=check.channel, state=state, suppressed=suppressed
            )
            results.append(
                CheckResult(
                    input=check.input,
                    address=check.value,
                    allowed=decision.allowed,
                    reason=decision.reason,
                )
            )
        return results

    def check_list(
        self, *, tenant_id: int, topic: str, channel: Channel, lines: Iterable[str]
    ) -> Iterator[LineCheckResult]:
        """The decision for each non-blank line of `lines`, in order, as `check` answers
        it, however long the list.

        The lines are answered LIST_BATCH at a time: each batch is normalised and hashed
        in one pass, and its subscription states read in one statement. Suppressions are
        read in one statement per batch too, except that a list longer than one batch
        reads the channel's whole set of suppressed hashes once, at its second batch, when
        there are at most WHOLE_READ_LIMIT, and the topic's states likewise. Memory is
        bounded by a batch and those sets, not by the list. The tenant and the topic are
        read here, before the first line.
        """
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        the_topic = self._ctx.topic(tenant_id, topic)
        numbered = ((number, line.strip()) for number, line in enumerate(lines, start=1))
        batches = _batches((pair for pair in numbered if pair[1]), size=LIST_BATCH)
        return self._check_batches(batches, tenant=tenant, topic=the_topic, channel=channel)

    def _check_batches(
        self,
        batches: Iterator[list[tuple[int, str]]],
        *,
        tenant: Tenant,
        topic: Topic | None,
        channel: Channel,
    ) -> Iterator[LineCheckResult]:
        decisions = _decisions(topic=topic, channel=channel)
        whole: _Whole = (None, None)
        for index, batch in enumerate(batches):
            if index == 1 and topic is not None:
                whole = self._read_whole(tenant_id=tenant.id, topic_id=topic.id, channel=channel)
            yield from self._check_batch(
                batch, tenant=tenant, topic=topic, channel=channel, decisions=decisions, whole=whole
            )

    def _read_whole(self, *, tenant_id: int, topic_id: int, channel: Channel) -> "_Whole":
        def read(uow: UnitOfWork) -> _Whole:
            checks = uow.checks
            return (
                checks.all_suppressed(tenant_id=tenant_id, channel=channel, limit=WHOLE_READ_LIMIT),
                checks.all_states(
                    tenant_id=tenant_id, channel=channel, topic_id=topic_id, limit=WHOLE_READ_LIMIT
                ),
            )

        return self._ctx.transactions.read(read)

    def _check_batch(
        self,
        batch: list[tuple[int, str]],
        *,
        tenant: Tenant,
        topic: Topic | None,
        channel: Channel,
        decisions: dict[tuple[SubscriptionState | None, bool], Decision],
        whole: "_Whole",
    ) -> list[LineCheckResult]:
        values = normalise_addresses(
            channel=channel, raws=[text for _, text in batch], default_region=tenant.default_region
        )
        valid = [value for value in values if value is not None]
        hashes = dict(
            zip(
                valid,
                self._ctx.hasher.address_hashes(tenant_id=tenant.id, channel=channel, values=valid),
                strict=True,
            )
        )
        suppressed, states = self._read(
            tenant_id=tenant.id,
            topic=topic,
            channel=channel,
            hashes=hashes,
            whole=whole,
        )
        invalid = Reason.INVALID_ADDRESS
        results = []
        for (number, text), value in zip(batch, values, strict=True):
            if value is None:
                results.append(LineCheckResult(number, text, None, False, invalid))
                continue
            decision = decisions[states.get(value), hashes[value] in suppressed]
            results.append(LineCheckResult(number, text, value, decision.allowed, decision.reason))
        return results

    def _read(
        self,
        *,
        tenant_id: int,
        topic: Topic | None,
        channel: Channel,
        hashes: dict[str, str],
        whole: "_Whole",
    ) -> tuple[Collection[str], Mapping[str, SubscriptionState]]:
        """The suppressed hashes among `hashes` (value → hash) and their states (value →
        state), or supersets of them where `whole` has them."""
        every_suppressed, every_state = whole
        if topic is None or not hashes:
            return set(), {}
        if every_suppressed is not None and every_state is not None:
            return every_suppressed, every_state
        topic_id = topic.id

        def read(uow: UnitOfWork) -> tuple[Collection[str], Mapping[str, SubscriptionState]]:
            suppressed = every_suppressed
            if suppressed is None:
                suppressed = uow.checks.suppressed_among(
                    tenant_id=tenant_id, channel=channel, hashes=set(hashes.values())
                )
            states = every_state
            if states is None:
                states = uow.checks.states_among(
                    tenant_id=tenant_id, channel=channel, topic_id=topic_id, values=hashes
                )
            return suppressed, states

        return self._ctx.transactions.read(read)

    def _check(
        self,
        uow: UnitOfWork,
        *,
        tenant_id: int,
        topic_key: str,
        channel: Channel,
        inputs: Sequence[str],
        keys: Sequence[AddressKey | None],
    ) -> list[CheckResult]:
        topic = uow.topics.by_key(tenant_id, topic_key)
        valid = [k for k in keys if k is not None]
        known = uow.addresses.find_many(
            tenant_id, channel, {k.value: k.address_hash for k in valid}
        )
        suppressed = uow.suppressions.suppressed(
            tenant_id, channel, {k.address_hash for k in valid}
        )
        states = uow.subscriptions.states(topic.id, [a.id for a in known.values()]) if topic else {}
        results = []
        for raw, key in zip(inputs, keys, strict=True):
            if key is None:
                results.append(
                    CheckResult(
                        input=raw, address=None, allowed=False, reason=Reason.INVALID_ADDRESS
                    )
                )
                continue
            address = known.get(key.value)
            decision = decide(
                topic=topic,
                channel=channel,
                state=states.get(address.id) if address else None,
                suppressed=key.address_hash in suppressed,
            )
            results.append(
                CheckResult(
                    input=raw, address=key.value, allowed=decision.allowed, reason=decision.reason
                )
            )
        return results

    def _key(self, *, tenant: Tenant, channel: Channel, raw: str) -> AddressKey | None:
        """The normalised, hashed address; None for an invalid one (a verdict, not an error)."""
        try:
            return self._ctx.address_key(tenant=tenant, channel=channel, raw=raw)
        except InvalidInput:
            return None


_Whole = tuple[set[str] | None, dict[str, SubscriptionState] | None]
"""A channel's every suppressed hash and a topic's every state, where read whole."""


def _decisions(
    *, topic: Topic | None, channel: Channel
) -> dict[tuple[SubscriptionState | None, bool], Decision]:
    """`decide` for one topic and channel, for every (state, suppressed): a list of
    millions of lines has at most eight distinct answers."""
    return {
        (state, suppressed): decide(
            topic=topic, channel=channel, state=state, suppressed=suppressed
        )
        for state in (None, *SubscriptionState)
        for suppressed in (False, True)
    }


def _batches(items: Iterable[tuple[int, str]], *, size: int) -> Iterator[list[tuple[int, str]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
