"""May-send checks: one address or a batch, against one topic on one channel."""

from collections.abc import Sequence

from optledger.domain.channels import Channel, normalise_address
from optledger.domain.errors import InvalidInput
from optledger.domain.policy import Reason, decide
from optledger.domain.ports import UnitOfWork
from optledger.services.context import ServiceContext
from optledger.services.results import CheckResult

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
        tenant = self._ctx.tenant(tenant_id)
        values = [
            self._normalise(raw, channel=channel, region=tenant.default_region) for raw in addresses
        ]
        return self._ctx.transactions.read(
            lambda uow: self._check(
                uow,
                tenant_id=tenant_id,
                topic_key=topic,
                channel=channel,
                inputs=addresses,
                values=values,
            )
        )

    def _check(
        self,
        uow: UnitOfWork,
        *,
        tenant_id: int,
        topic_key: str,
        channel: Channel,
        inputs: Sequence[str],
        values: Sequence[str | None],
    ) -> list[CheckResult]:
        topic = uow.topics.by_key(tenant_id, topic_key)
        valid = {v for v in values if v is not None}
        known = uow.addresses.find_many(tenant_id, channel, valid)
        hashes = {
            v: known[v].address_hash
            if v in known
            else self._ctx.hasher.address_hash(tenant_id=tenant_id, channel=channel, value=v)
            for v in valid
        }
        suppressed = uow.suppressions.suppressed(tenant_id, channel, hashes.values())
        states = uow.subscriptions.states(topic.id, [a.id for a in known.values()]) if topic else {}
        results = []
        for raw, value in zip(inputs, values, strict=True):
            if value is None:
                results.append(
                    CheckResult(
                        input=raw, address=None, allowed=False, reason=Reason.INVALID_ADDRESS
                    )
                )
                continue
            address = known.get(value)
            decision = decide(
                topic=topic,
                channel=channel,
                state=states.get(address.id) if address else None,
                suppressed=hashes[value] in suppressed,
            )
            results.append(
                CheckResult(
                    input=raw, address=value, allowed=decision.allowed, reason=decision.reason
                )
            )
        return results

    @staticmethod
    def _normalise(raw: str, *, channel: Channel, region: str) -> str | None:
        try:
            return normalise_address(channel=channel, raw=raw, default_region=region)
        except InvalidInput:
            return None
