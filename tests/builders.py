"""Builders for what many tests need the same way."""

from datetime import timedelta
from typing import Any, Final

from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, Provenance
from optledger.domain.ports import Clock, LinkKeyring, Spools, Transactions
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.sealer import AesGcmResponseSealer
from optledger.outbound.spool import TemporaryFileSpools
from optledger.services import ServiceContext, Services
from optledger.services.targets import AddressTarget
from tests.fakes import FakeKeyring, FrozenClock

__all__ = ["EARLIEST_TENANT_ROW", "PUBLIC_URL", "service_context"]

PUBLIC_URL = "https://optout.example.com"
EMAIL: Final = Channel.EMAIL
SMS: Final = Channel.SMS
EARLIEST_TENANT_ROW: Final[dict[str, Any]] = {
    "name": "acme",
    "default_region": "US",
    "default_locale": "en-US",
    "grace_period": timedelta(days=7),
    "created_at": FrozenClock().now().replace(tzinfo=None),
}
"""A tenant row in the columns the first schema revision has, for migration tests that
write rows at an old revision and upgrade them."""


def service_context(
    *,
    transactions: Transactions,
    clock: Clock | None = None,
    hasher: KeyedHasher | None = None,
    keyring: LinkKeyring | None = None,
    spools: Spools | None = None,
    public_url: str = PUBLIC_URL,
) -> ServiceContext:
    """A `ServiceContext` on `transactions`; whatever a test does not name is a fixed
    stand-in: a frozen clock, a fixed hashing key, readable link tokens, the real response
    sealer under a fixed key, temporary-file spools."""
    return ServiceContext(
        transactions=transactions,
        clock=clock or FrozenClock(),
        hasher=hasher or KeyedHasher(b"s" * 32),
        keyring=keyring or FakeKeyring(),
        sealer=AesGcmResponseSealer(b"r" * 32),
        spools=spools or TemporaryFileSpools(),
        public_url=public_url,
    )


def every_check_verdict(services: Services, tenant_id: int) -> list[tuple[str, Channel, str]]:
    """Topics and addresses that give every verdict a check can give: (topic, channel,
    address) to ask about. Creates topics `cv-*` and contact `cv-erased`."""
    topics = services.topics
    topics.create_topic(tenant_id=tenant_id, key="cv-in", name="In", channels=(EMAIL, SMS))
    topics.create_topic(
        tenant_id=tenant_id, key="cv-out", name="Out", consent_mode=ConsentMode.OPT_OUT
    )
    topics.create_topic(tenant_id=tenant_id, key="cv-dbl", name="Double", double_opt_in=True)
    topics.create_topic(
        tenant_id=tenant_id,
        key="cv-tx",
        name="Receipts",
        category=Category.TRANSACTIONAL,
        consent_mode=ConsentMode.OPT_OUT,
    )
    subscriptions = services.subscriptions
    provenance = Provenance(via="api")
    subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="in@example.com",
        topic="cv-in",
        provenance=provenance,
    )
    subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="dbl@example.com",
        topic="cv-dbl",
        provenance=provenance,
    )
    subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(EMAIL, "left@example.com"),
        topics=["cv-out"],
        provenance=provenance,
    )
    for address in ("stop@example.com", "gone@example.com"):
        subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(EMAIL, address),
            topics=None,
            provenance=provenance,
        )
    subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=EMAIL,
        address="gone@example.com",
        topic="cv-in",
        contact="cv-erased",
        provenance=provenance,
    )
    services.contacts.erase_contact(
        tenant_id=tenant_id, external_id="cv-erased", provenance=provenance
    )
    asked = [
        (topic, EMAIL, address)
        for topic in ("cv-in", "cv-out", "cv-dbl", "cv-tx", "cv-none")
        for address in (
            "in@example.com",
            "DBL@example.com",
            "left@example.com",
            " Stop@Example.com",
            "gone@example.com",
            "fresh@example.com",
            "not an address",
        )
    ]
    return [*asked, ("cv-out", SMS, "+44 7911 123456"), ("cv-in", SMS, "+447911123456")]
