"""Keyed hashes: of addresses (so suppressions outlive erasure) and of API keys."""

import hashlib
import secrets
from typing import Final

from optledger.domain.channels import Channel

__all__ = ["KeyedHasher", "new_secret"]


_BLOCK: Final = 64
"""SHA-256's block size, in bytes."""


class KeyedHasher:
    """HMAC-SHA256 under a server secret, hex encoded.

    The secret must never change for an installation: the hash of an erased person's
    address is the only thing that keeps them from being contacted again.

    The HMAC (RFC 2104) is computed from the key's inner and outer SHA-256 states, made
    once: each hash copies them and feeds the message. The bytes are those of
    `hmac.digest(key, message, "sha256")`; it takes under half the time, and, unlike
    `hmac.digest`, which releases the GIL around every call however short the message,
    keeps the GIL: a request hashes its API key and its address in the event loop, and
    each release handed the GIL to the writer thread and left the loop waiting for it
    (about 50 µs per hash under load, docs/decisions/0038-less-cpu-per-durable-write.md).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a hashing key needs at least 32 bytes")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))

    def _hmac(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def _digest(self, *parts: str) -> str:
        return self._hmac("\x1f".join(parts).encode())

    def address_hash(self, *, tenant_id: int, channel: Channel, value: str) -> str:
        return self._digest("address", str(tenant_id), channel.value, value)

    def address_hashes(self, *, tenant_id: int, channel: Channel, values: list[str]) -> list[str]:
        """`address_hash` of each of `values`, in order: the same strings, for a list."""
        prefix = "\x1f".join(("address", str(tenant_id), channel.value, "")).encode()
        inner = self._inner.copy()
        inner.update(prefix)
        outer = self._outer
        hashes: list[str] = []
        for value in values:
            line = inner.copy()
            line.update(value.encode())
            out = outer.copy()
            out.update(line.digest())
            hashes.append(out.hexdigest())
        return hashes

    def secret_hash(self, secret: str) -> str:
        return self._digest("secret", secret)


def new_secret(prefix: str) -> str:
    """A fresh random credential with 256 bits of entropy, e.g. `olk_…`."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
