import pytest

from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, Provenance
from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from tests.builders import service_context
from tests.fakes import FrozenClock, MemorySpools, MemoryTransactions

API = Provenance(via="api", actor="tester")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def transactions() -> MemoryTransactions:
    return MemoryTransactions()


@pytest.fixture
def hasher() -> KeyedHasher:
    return KeyedHasher(b"k" * 32)


@pytest.fixture
def services(transactions, clock, hasher) -> Services:
    ctx = service_context(
        transactions=transactions,
        clock=clock,
        hasher=hasher,
        spools=MemorySpools(),
    )
    return Services.build(ctx)


@pytest.fixture
def tenant_id(services: Services) -> int:
    """A tenant with a marketing newsletter (opt-in, email and sms), a marketing opt-out
    digest (email), a double opt-in list (email) and a transactional receipts topic."""
    tenant = services.tenants.create_tenant(name="acme").tenant
    services.topics.create_topic(
        tenant_id=tenant.id, key="news", name="News", channels=(Channel.EMAIL, Channel.SMS)
    )
    services.topics.create_topic(
        tenant_id=tenant.id, key="digest", name="Digest", consent_mode=ConsentMode.OPT_OUT
    )
    services.topics.create_topic(tenant_id=tenant.id, key="vip", name="VIP", double_opt_in=True)
    services.topics.create_topic(
        tenant_id=tenant.id,
        key="receipts",
        name="Receipts",
        category=Category.TRANSACTIONAL,
        consent_mode=ConsentMode.OPT_OUT,
    )
    return tenant.id
