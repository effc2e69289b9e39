"""May-send checks: one address or a batch, against one topic on one channel."""

from collections.abc import Sequence

from optledger.domain.channels import Channel
from optledger.domain.errors import InvalidInput
from optledger.domain.model import Tenant
from optledger.domain.policy import Reason, decide
from optledger.domain.ports import UnitOfWork
from optledger.services.context import AddressKey, ServiceContext
from optledger.services.results import CheckResult
from optledger.services.validation import check_storable

__all__ = ["MAX_CHECK_BATCH", "CheckService"]

MAX_CHECK_BATCH = 10_000


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
