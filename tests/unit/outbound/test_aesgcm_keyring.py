import base64
import re
import struct
from datetime import UTC, datetime

import pytest

from optledger.domain.errors import InvalidLinkToken
from optledger.domain.links import LinkClaims
from optledger.outbound.keyring import AesGcmKeyring

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))
CLAIMS = LinkClaims(
    tenant_id=7,
    address_id=123_456_789_012,
    topic_id=42,
    message_id=9_876_543_210,
    issued_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
)


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rejected(keyring: AesGcmKeyring, token: str) -> bool:
    with pytest.raises(InvalidLinkToken) as caught:
        keyring.open(token)
    return caught.value.message == "this link is not valid"


@pytest.fixture
def keyring() -> AesGcmKeyring:
    return AesGcmKeyring({1: KEY_1}, current=1)


def test_round_trip(keyring):
    assert keyring.open(keyring.seal(CLAIMS)) == CLAIMS


def test_round_trip_without_topic_or_message(keyring):
    claims = LinkClaims(
        tenant_id=1, address_id=1, topic_id=None, message_id=None, issued_at=CLAIMS.issued_at
    )
    assert keyring.open(keyring.seal(claims)) == claims


def test_issue_time_is_kept_to_the_minute(keyring):
    claims = LinkClaims(
        tenant_id=1,
        address_id=2,
        topic_id=3,
        message_id=4,
        issued_at=datetime(2026, 1, 5, 9, 30, 59, 999_999, tzinfo=UTC),
    )
    opened = keyring.open(keyring.seal(claims))
    assert opened.issued_at == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def test_largest_ids_fit(keyring):
    claims = LinkClaims(
        tenant_id=2**32 - 1,
        address_id=2**64 - 1,
        topic_id=2**32 - 1,
        message_id=2**64 - 1,
        issued_at=CLAIMS.issued_at,
    )
    assert keyring.open(keyring.seal(claims)) == claims


def test_token_is_short_and_url_safe(keyring):
    token = keyring.seal(CLAIMS)
    assert len(token) == 78
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_sealing_twice_gives_different_tokens(keyring):
    assert keyring.seal(CLAIMS) != keyring.seal(CLAIMS)


def test_every_single_bit_flip_of_the_token_bytes_is_rejected(keyring):
    token_bytes = raw(keyring.seal(CLAIMS))
    for bit in range(len(token_bytes) * 8):
        flipped = bytearray(token_bytes)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert rejected(keyring, encode(bytes(flipped))), bit


def test_every_single_bit_flip_of_the_token_text_is_rejected(keyring):
    token = keyring.seal(CLAIMS)
    for index, char in enumerate(token):
        for bit in range(8):
            changed = chr(ord(char) ^ (1 << bit))
            assert rejected(keyring, token[:index] + changed + token[index + 1 :]), (index, bit)


def test_truncated_or_extended_tokens_are_rejected(keyring):
    token = keyring.seal(CLAIMS)
    for length in range(len(token)):
        assert rejected(keyring, token[:length])
    for suffix in ("A", "AAAA", "=", "=="):
        assert rejected(keyring, token + suffix)


@pytest.mark.parametrize(
    "token",
    ["", "not a token", "é" * 78, "+" * 78, "/" * 78, "A" * 78, "A" * 10_000, "\x00" * 78],
)
def test_garbage_is_rejected(keyring, token):
    assert rejected(keyring, token)


def test_standard_base64_spelling_is_rejected(keyring):
    token = keyring.seal(CLAIMS)
    while "-" not in token and "_" not in token:
        token = keyring.seal(CLAIMS)
    assert rejected(keyring, token.replace("-", "+").replace("_", "/"))


def test_unknown_version_is_rejected(keyring):
    token_bytes = bytearray(raw(keyring.seal(CLAIMS)))
    token_bytes[0] = 2
    assert rejected(keyring, encode(bytes(token_bytes)))


def test_token_of_another_key_is_rejected(keyring):
    other = AesGcmKeyring({1: KEY_2}, current=1)
    assert rejected(keyring, other.seal(CLAIMS))


def test_rotation_keeps_old_tokens_working_while_the_old_key_is_held():
    old = AesGcmKeyring({1: KEY_1}, current=1)
    token = old.seal(CLAIMS)

    rotated = AesGcmKeyring({1: KEY_1, 2: KEY_2}, current=2)
    assert rotated.open(token) == CLAIMS
    new_token = rotated.seal(CLAIMS)
    assert raw(new_token)[1] == 2
    assert rotated.open(new_token) == CLAIMS

    without_old_key = AesGcmKeyring({2: KEY_2}, current=2)
    assert rejected(without_old_key, token)
    assert without_old_key.open(new_token) == CLAIMS


def test_key_id_names_the_key_so_a_swapped_id_is_rejected():
    keyring = AesGcmKeyring({1: KEY_1, 2: KEY_2}, current=1)
    token_bytes = bytearray(raw(keyring.seal(CLAIMS)))
    token_bytes[1] = 2
    assert rejected(keyring, encode(bytes(token_bytes)))


def test_nothing_of_the_claims_is_readable_in_the_token(keyring):
    token_bytes = raw(keyring.seal(CLAIMS))
    packed_address = struct.pack(">Q", CLAIMS.address_id)
    packed_claims = struct.pack(
        ">IQIQI",
        CLAIMS.tenant_id,
        CLAIMS.address_id,
        CLAIMS.topic_id,
        CLAIMS.message_id,
        int(CLAIMS.issued_at.timestamp()) // 60,
    )
    assert packed_address not in token_bytes
    assert packed_claims not in token_bytes
    assert str(CLAIMS.address_id) not in keyring.seal(CLAIMS)


@pytest.mark.parametrize(
    ("keys", "current", "message"),
    [
        ({1: KEY_1}, 2, "the current key id must be one of the keyring's keys"),
        ({1: KEY_1[:16]}, 1, "a link key must be 32 bytes (AES-256)"),
        ({256: KEY_1}, 256, "a key id must be between 0 and 255"),
        ({-1: KEY_1}, -1, "a key id must be between 0 and 255"),
    ],
)
def test_bad_keyrings_are_refused(keys, current, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        AesGcmKeyring(keys, current=current)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (
            LinkClaims(0, 1, None, None, CLAIMS.issued_at),
            "tenant and address ids must be positive",
        ),
        (
            LinkClaims(1, 0, None, None, CLAIMS.issued_at),
            "tenant and address ids must be positive",
        ),
        (LinkClaims(1, 1, 0, None, CLAIMS.issued_at), "topic and message ids must be positive"),
        (LinkClaims(1, 1, None, 0, CLAIMS.issued_at), "topic and message ids must be positive"),
        (LinkClaims(1, 1, None, None, datetime(2026, 1, 5)), "issued_at must be timezone-aware"),  # noqa: DTZ001
        (
            LinkClaims(2**32, 1, None, None, CLAIMS.issued_at),
            "a link claim is out of range for the token format",
        ),
        (
            LinkClaims(1, 1, None, None, datetime(1969, 12, 31, tzinfo=UTC)),
            "a link claim is out of range for the token format",
        ),
    ],
)
def test_claims_that_cannot_be_encoded_are_refused(keyring, claims, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        keyring.seal(claims)
