"""Unsubscribe-link tokens sealed with AES-256-GCM, as the `LinkKeyring` port.

A token is the base64url encoding (no padding) of 58 bytes:

    version (1) | key id (1) | nonce (12) | ciphertext of the claims (28) | GCM tag (16)

The claims are packed big-endian as tenant id (u32), address id (u64), topic id (u32,
0 for none), message id (u64, 0 for none) and the issue time in whole minutes since the
Unix epoch (u32), and authenticated with the associated data `optledger.link.v1`. That
makes a 78-character token: short enough for an SMS, and nothing in it is readable.

Keys rotate without breaking links already sent: the keyring seals with its current key
and opens a token with whichever of its keys the token names. Drop a key only when the
links sealed with it may die. Nonces are random, so a key should seal fewer than 2^32
tokens (NIST SP 800-38D, 8.3); rotate well before that.
"""

import base64
import os
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from optledger.domain.errors import InvalidLinkToken
from optledger.domain.links import LinkClaims

__all__ = ["KEY_BYTES", "AesGcmKeyring"]

KEY_BYTES: Final = 32
_VERSION: Final = 1
_ASSOCIATED_DATA: Final = b"optledger.link.v1"
_HEADER: Final = struct.Struct(">BB")
_CLAIMS: Final = struct.Struct(">IQIQI")
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_TOKEN_BYTES: Final = _HEADER.size + _NONCE_BYTES + _CLAIMS.size + _TAG_BYTES
_TOKEN_CHARS: Final = (_TOKEN_BYTES * 8 + 5) // 6
_MAX_KEY_ID: Final = 255


class AesGcmKeyring:
    """Seals `LinkClaims` into opaque tokens and opens them again.

    `keys` maps key ids (0-255) to 32-byte AES keys; `current` is the id new tokens are
    sealed with. Every other key only opens tokens sealed before a rotation.
    """

    def __init__(self, keys: Mapping[int, bytes], current: int) -> None:
        if current not in keys:
            raise ValueError("the current key id must be one of the keyring's keys")
        for key_id, key in keys.items():
            if not 0 <= key_id <= _MAX_KEY_ID:
                raise ValueError(f"a key id must be between 0 and {_MAX_KEY_ID}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"a link key must be {KEY_BYTES} bytes (AES-256)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    def seal(self, claims: LinkClaims) -> str:
        """The token for `claims`; `issued_at` is kept to the minute.

        Raises ValueError for claims that cannot be encoded (ids out of range, a naive
        or pre-1970 time): that is a programming error, not bad input.
        """
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, _pack(claims), _ASSOCIATED_DATA)
        return _encode(_HEADER.pack(_VERSION, self._current) + nonce + sealed)

    def open(self, token: str) -> LinkClaims:
        """The claims in `token`; InvalidLinkToken, whatever is wrong with it."""
        try:
            claims = self._open(token)
        except (ValueError, struct.error, InvalidTag):
            claims = None
        if claims is None:
            raise InvalidLinkToken
        return claims

    def _open(self, token: str) -> LinkClaims | None:
        if len(token) != _TOKEN_CHARS or not token.isascii():
            return None
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        # The decoder skips foreign characters and ignores the unused low bits of the
        # last character; only the one canonical spelling of a token is accepted.
        if len(raw) != _TOKEN_BYTES or _encode(raw) != token:
            return None
        version, key_id = _HEADER.unpack_from(raw)
        cipher = self._ciphers.get(key_id)
        if version != _VERSION or cipher is None:
            return None
        nonce = raw[_HEADER.size : _HEADER.size + _NONCE_BYTES]
        plaintext = cipher.decrypt(nonce, raw[_HEADER.size + _NONCE_BYTES :], _ASSOCIATED_DATA)
        return _unpack(plaintext)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _pack(claims: LinkClaims) -> bytes:
    if claims.tenant_id < 1 or claims.address_id < 1:
        raise ValueError("tenant and address ids must be positive")
    if (claims.topic_id is not None and claims.topic_id < 1) or (
        claims.message_id is not None and claims.message_id < 1
    ):
        raise ValueError("topic and message ids must be positive")
    if claims.issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    try:
        return _CLAIMS.pack(
            claims.tenant_id,
            claims.address_id,
            claims.topic_id or 0,
            claims.message_id or 0,
            int(claims.issued_at.timestamp()) // 60,
        )
    except struct.error:
        raise ValueError("a link claim is out of range for the token format") from None


def _unpack(plaintext: bytes) -> LinkClaims | None:
    tenant_id, address_id, topic_id, message_id, minutes = _CLAIMS.unpack(plaintext)
    if tenant_id == 0 or address_id == 0:
        return None
    return LinkClaims(
        tenant_id=tenant_id,
        address_id=address_id,
        topic_id=topic_id or None,
        message_id=message_id or None,
        issued_at=datetime.fromtimestamp(minutes * 60, UTC),
    )
