"""Keyed hashes: of addresses (so suppressions outlive erasure) and of API keys."""

import hmac
import secrets

from optledger.domain.channels import Channel

__all__ = ["KeyedHasher", "new_secret"]


class KeyedHasher:
    """HMAC-SHA256 under a server secret, hex encoded.

    The secret must never change for an installation: the hash of an erased person's
    address is the only thing that keeps them from being contacted again.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a hashing key needs at least 32 bytes")
        self._key = key

    def _digest(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        # The one-shot digest: the same bytes as hmac.new(...).hexdigest(), in C, about a
        # third of the time (a list check hashes every line).
        return hmac.digest(self._key, message, "sha256").hex()

    def address_hash(self, *, tenant_id: int, channel: Channel, value: str) -> str:
        return self._digest("address", str(tenant_id), channel.value, value)

    def address_hashes(self, *, tenant_id: int, channel: Channel, values: list[str]) -> list[str]:
        """`address_hash` of each of `values`, in order: the same strings, for a list."""
        prefix = "\x1f".join(("address", str(tenant_id), channel.value, "")).encode()
        key = self._key
        return [hmac.digest(key, prefix + value.encode(), "sha256").hex() for value in values]

    def secret_hash(self, secret: str) -> str:
        return self._digest("secret", secret)


def new_secret(prefix: str) -> str:
    """A fresh random credential with 256 bits of entropy, e.g. `olk_…`."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
