import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from optledger.outbound.sealer import AesGcmResponseSealer

ROOT = bytes(range(32))
SECRET = "olk_the-callers-own-key"
DATA = b"optledger.idempotency.v1\x001\x002\x00retry-1"
BODY = b'{"secret":"olk_new"}'


@pytest.fixture
def sealer() -> AesGcmResponseSealer:
    return AesGcmResponseSealer(ROOT)


def test_seal_then_open_round_trips_and_hides_the_plaintext(sealer):
    sealed = sealer.seal(BODY, credential=SECRET, associated_data=DATA)

    assert len(sealed) == 1 + 12 + len(BODY) + 16
    assert sealed[:1] == b"\x01"
    assert BODY not in sealed
    assert sealer.open(sealed, credential=SECRET, associated_data=DATA) == BODY
    assert sealer.seal(BODY, credential=SECRET, associated_data=DATA) != sealed  # fresh nonce


def test_the_key_is_derived_from_the_root_and_the_credential(sealer):
    """Documented derivation: HMAC-SHA256(root, label || credential) as the AES-256 key."""
    sealed = sealer.seal(BODY, credential=SECRET, associated_data=DATA)
    key = hmac.new(
        ROOT, b"optledger/v1/idempotency-response-key\x00" + SECRET.encode(), hashlib.sha256
    ).digest()

    assert AESGCM(key).decrypt(sealed[1:13], sealed[13:], DATA) == BODY


@pytest.mark.parametrize(
    ("credential", "data", "root"),
    [
        ("olk_another-key", DATA, ROOT),
        (SECRET, DATA.replace(b"\x002\x00", b"\x003\x00"), ROOT),
        (SECRET, DATA, bytes(32)),
    ],
    ids=["another credential", "other associated data", "another installation secret"],
)
def test_nothing_else_opens_it(sealer, credential, data, root):
    sealed = sealer.seal(BODY, credential=SECRET, associated_data=DATA)

    assert (
        AesGcmResponseSealer(root).open(sealed, credential=credential, associated_data=data) is None
    )


@pytest.mark.parametrize("index", [0, 1, 13, -1])
def test_an_altered_or_short_seal_does_not_open(sealer, index):
    sealed = bytearray(sealer.seal(BODY, credential=SECRET, associated_data=DATA))
    sealed[index] ^= 0x01

    assert sealer.open(bytes(sealed), credential=SECRET, associated_data=DATA) is None
    assert sealer.open(bytes(sealed[:28]), credential=SECRET, associated_data=DATA) is None


def test_the_root_key_must_be_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmResponseSealer(bytes(31))
