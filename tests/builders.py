"""Builders for what many tests need the same way."""

from datetime import timedelta
from typing import Any, Final

from optledger.domain.ports import Clock, LinkKeyring, Spools, Transactions
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.sealer import AesGcmResponseSealer
from optledger.outbound.spool import TemporaryFileSpools
from optledger.services import ServiceContext
from tests.fakes import FakeKeyring, FrozenClock

__all__ = ["EARLIEST_TENANT_ROW", "PUBLIC_URL", "service_context"]

PUBLIC_URL = "https://optout.example.com"
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
