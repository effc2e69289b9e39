"""Use cases. Each public method is one transaction and returns plain result objects.

Services import the domain only; they receive their ports from `optledger.bootstrap`.
"""

from dataclasses import dataclass

from optledger.services.checks import CheckService
from optledger.services.contacts import ContactService
from optledger.services.context import ServiceContext
from optledger.services.idempotency import IdempotencyService
from optledger.services.links import LinkService
from optledger.services.messages import MessageService
from optledger.services.requests import RequestService
from optledger.services.subscriptions import SubscriptionService
from optledger.services.suppressions import SuppressionService
from optledger.services.tenants import TenantService
from optledger.services.topics import TopicService

__all__ = ["ServiceContext", "Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """Every use case, handed to each door by whoever started it."""

    tenants: TenantService
    topics: TopicService
    subscriptions: SubscriptionService
    requests: RequestService
    checks: CheckService
    messages: MessageService
    contacts: ContactService
    suppressions: SuppressionService
    idempotency: IdempotencyService
    links: LinkService

    @classmethod
    def build(cls, ctx: ServiceContext) -> "Services":
        return cls(
            tenants=TenantService(ctx),
            topics=TopicService(ctx),
            subscriptions=SubscriptionService(ctx),
            requests=RequestService(ctx),
            checks=CheckService(ctx),
            messages=MessageService(ctx),
            contacts=ContactService(ctx),
            suppressions=SuppressionService(ctx),
            idempotency=IdempotencyService(ctx),
            links=LinkService(ctx),
        )
