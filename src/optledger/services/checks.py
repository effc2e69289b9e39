"""May-send checks: one address or a batch, against one topic on one channel."""

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Final

from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput
from optledger.domain.model import SubscriptionState, Tenant, Topic
from optledger.domain.policy import Decision, Reason, decide
from optledger.domain.ports import UnitOfWork
from optledger.services.context import AddressKey, ServiceContext
from optledger.services.results import CheckResult, LineCheckResult
from optledger.services.validation import check_storable

__all__ = ["LIST_BATCH", "MAX_CHECK_BATCH", "CheckService"]

MAX_CHECK_BATCH = 10_000
LIST_BATCH: Final = 20_000
"""Lines of a list checked together: two statements each, and the memory of one batch."""


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
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        key = self._key(tenant=tenant, channel=channel, raw=address)
        if key is None:
            return CheckResult(
                input=address, address=None, allowed=False, reason=Reason.INVALID_ADDRESS
            )
        the_topic = self._ctx.topic(tenant_id, topic)
        state, suppressed = None, False
        if the_topic is not None:
            topic_id = the_topic.id
            state, suppressed = self._ctx.transactions.lookup(
                lambda uow: uow.checks.consent(
                    tenant_id=tenant_id,
                    channel=channel,
                    value=key.value,
                    address_hash=key.address_hash,
                    topic_id=topic_id,
                )
            )
        decision = decide(topic=the_topic, channel=channel, state=state, suppressed=suppressed)
        return CheckResult(
            input=address, address=key.value, allowed=decision.allowed, reason=decision.reason
        )

    def check_list(
        self, *, tenant_id: int, topic: str, channel: Channel, lines: Iterable[str]
    ) -> Iterator[LineCheckResult]:
        """The decision for each non-blank line of `lines`, in order, as `check` answers
        it, however long the list.

        The lines are read and answered LIST_BATCH at a time: each batch is normalised and
        hashed, then its suppressed hashes and its subscription states are read in one
        statement each, so memory is bounded by a batch, not by the list. The tenant and
        the topic are read here, before the first line; each batch is a read of its own.
        """
        check_storable(("topic", topic))
        tenant = self._ctx.tenant(tenant_id)
        the_topic = self._ctx.topic(tenant_id, topic)
        numbered = ((number, line.strip()) for number, line in enumerate(lines, start=1))
        batches = _batches((pair for pair in numbered if pair[1]), size=LIST_BATCH)
        decisions = _Decisions(topic=the_topic, channel=channel)
        return (
            result
            for batch in batches
            for result in self._check_batch(
                tenant=tenant, topic=the_topic, channel=channel, batch=batch, decisions=decisions
            )
        )

    def _check_batch(
        self,
        *,
        tenant: Tenant,
        topic: Topic | None,
        channel: Channel,
        batch: list[tuple[int, str]],
        decisions: "_Decisions",
    ) -> list[LineCheckResult]:
        keys = [self._key(tenant=tenant, channel=channel, raw=text) for _, text in batch]
        valid = [key for key in keys if key is not None]
        suppressed: set[str] = set()
        states: dict[str, SubscriptionState] = {}
        if topic is not None and valid:
            topic_id = topic.id

            def read(uow: UnitOfWork) -> tuple[set[str], dict[str, SubscriptionState]]:
                hashes = {key.address_hash for key in valid}
                values = {key.value for key in valid}
                return (
                    uow.checks.suppressed_among(
                        tenant_id=tenant.id, channel=channel, hashes=hashes
                    ),
                    uow.checks.states_among(
                        tenant_id=tenant.id, channel=channel, topic_id=topic_id, values=values
                    ),
                )

            suppressed, states = self._ctx.transactions.read(read)
        results = []
        for (number, text), key in zip(batch, keys, strict=True):
            if key is None:
                results.append(
                    LineCheckResult(
                        line=number,
                        input=text,
                        address=None,
                        allowed=False,
                        reason=Reason.INVALID_ADDRESS,
                    )
                )
                continue
            decision = decisions.of(
                state=states.get(key.value), suppressed=key.address_hash in suppressed
            )
            results.append(
                LineCheckResult(
                    line=number,
                    input=text,
                    address=key.value,
                    allowed=decision.allowed,
                    reason=decision.reason,
                )
            )
        return results

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
        known = uow.addresses.find_many(tenant_id, channel, {k.value for k in valid})
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


class _Decisions:
    """`decide` for one topic and channel, kept per (state, suppressed): a list of millions
    of lines has at most eight distinct answers."""

    def __init__(self, *, topic: Topic | None, channel: Channel) -> None:
        self._topic = topic
        self._channel = channel
        self._kept: dict[tuple[SubscriptionState | None, bool], Decision] = {}

    def of(self, *, state: SubscriptionState | None, suppressed: bool) -> Decision:
        kept = self._kept.get((state, suppressed))
        if kept is None:
            kept = decide(
                topic=self._topic, channel=self._channel, state=state, suppressed=suppressed
            )
            self._kept[(state, suppressed)] = kept
        return kept


def _batches(items: Iterable[tuple[int, str]], *, size: int) -> Iterator[list[tuple[int, str]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
