"""Topics: what messages are about, and the consent rules that go with them."""

from collections.abc import Collection

from optledger.domain.channels import Channel
from optledger.domain.errors import Conflict, InvalidInput, NotFound
from optledger.domain.model import Category, ConsentMode, Topic
from optledger.domain.ports import UnitOfWork
from optledger.services.context import ServiceContext
from optledger.services.validation import check_storable, check_text, check_topic_key

__all__ = ["TopicService"]


class TopicService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def create_topic(
        self,
        *,
        tenant_id: int,
        key: str,
        name: str,
        category: Category = Category.MARKETING,
        consent_mode: ConsentMode = ConsentMode.OPT_IN,
        double_opt_in: bool = False,
        channels: Collection[Channel] = (Channel.EMAIL,),
        unsubscribable: bool | None = None,
    ) -> Topic:
        """Create a topic. `unsubscribable` defaults to true for marketing topics (which
        must always allow leaving) and to false for transactional ones."""
        check_topic_key(key)
        label = check_text(name, field="name", max_length=200)
        if not channels:
            raise InvalidInput.of("channels", "must name at least one channel")
        leavable = category is Category.MARKETING if unsubscribable is None else unsubscribable
        if category is Category.MARKETING and not leavable:
            raise InvalidInput.of("unsubscribable", "a marketing topic must allow unsubscribing")

        self._ctx.tenant(tenant_id)

        def work(uow: UnitOfWork) -> Topic:
            if uow.topics.by_key(tenant_id, key) is not None:
                raise Conflict(f"key: a topic {key!r} already exists")
            return uow.topics.add(
                tenant_id=tenant_id,
                key=key,
                name=label,
                category=category,
                consent_mode=consent_mode,
                double_opt_in=double_opt_in,
                channels=frozenset(channels),
                unsubscribable=leavable,
                created_at=self._ctx.clock.now(),
            )

        return self._ctx.transactions.write(work)

    def list_topics(self, *, tenant_id: int) -> list[Topic]:
        return self._ctx.transactions.read(lambda uow: uow.topics.of_tenant(tenant_id))

    def get_topic(self, *, tenant_id: int, key: str) -> Topic:
        check_storable(("key", key))
        topic = self._ctx.transactions.read(lambda uow: uow.topics.by_key(tenant_id, key))
        if topic is None:
            raise NotFound(kind="topic", key=key)
        return topic
