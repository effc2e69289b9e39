"""The responses kept for idempotency keys, sealed with AES-256-GCM: the `ResponseSealer`
port.

Each credential (an API key's secret) gets its own key, HMAC-SHA256 of the credential
under a root key that `optledger.bootstrap` derives from the installation secret. The
server stores only a keyed hash of each API key, never the key itself, so a copy of the
database cannot open a sealed response even together with the installation secret; only
a request that presents the same API key again can.

A sealed response is `version (1) | nonce (12) | ciphertext | GCM tag (16)`. Nonces are
random; since every credential has its own key, the 2^32 messages a GCM key may seal
with random nonces (NIST SP 800-38D, 8.3) are counted per API key.
"""

import hashlib
import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["ROOT_KEY_BYTES", "AesGcmResponseSealer"]

ROOT_KEY_BYTES: Final = 32
_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_LABEL: Final = b"optledger/v1/idempotency-response-key\x00"


class AesGcmResponseSealer:
    """Seals and opens kept responses under per-credential AES-256-GCM keys."""

    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != ROOT_KEY_BYTES:
            raise ValueError(f"the root key must be {ROOT_KEY_BYTES} bytes")
        self._root_key = root_key

    def seal(self, plaintext: bytes, *, credential: str, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher(credential).encrypt(nonce, plaintext, associated_data)
        return _VERSION + nonce + sealed

    def open(self, sealed: bytes, *, credential: str, associated_data: bytes) -> bytes | None:
        if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _VERSION:
            return None
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._cipher(credential).decrypt(
                nonce, sealed[1 + _NONCE_BYTES :], associated_data
            )
        except InvalidTag:
            return None

    def _cipher(self, credential: str) -> AESGCM:
        key = hmac.new(
            self._root_key, _LABEL + credential.encode("utf-8", "surrogatepass"), hashlib.sha256
        )
        return AESGCM(key.digest())
