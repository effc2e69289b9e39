import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, InvalidInput, NotFound
from optledger.domain.links import ListUnsubscribeHeaders, list_unsubscribe_headers, unsubscribe_url
from optledger.domain.model import Scope
from optledger.domain.secrets import KeyedHasher, new_secret


def test_headers_follow_rfc_2369_and_8058():
    url = unsubscribe_url(public_url="https://optout.example.com/", token="abc_DEF-123")
    assert url == "https://optout.example.com/u/abc_DEF-123"
    assert list_unsubscribe_headers(url=url) == ListUnsubscribeHeaders(
        list_unsubscribe="<https://optout.example.com/u/abc_DEF-123>",
        list_unsubscribe_post="List-Unsubscribe=One-Click",
    )


@pytest.mark.parametrize("url", ["https://x/u/a>b", "https://x/u/a,b", "https://x/u/a\r\nX: y"])
def test_headers_refuse_urls_that_would_break_the_header(url):
    with pytest.raises(ValueError, match="must not contain"):
        list_unsubscribe_headers(url=url)


def test_address_hashes_are_keyed_and_separate_tenants_and_channels():
    hasher = KeyedHasher(b"a" * 32)
    one = hasher.address_hash(tenant_id=1, channel=Channel.EMAIL, value="a@example.com")
    assert re.fullmatch(r"[0-9a-f]{64}", one)
    assert one == hasher.address_hash(tenant_id=1, channel=Channel.EMAIL, value="a@example.com")
    assert one != hasher.address_hash(tenant_id=2, channel=Channel.EMAIL, value="a@example.com")
    assert one != hasher.address_hash(tenant_id=1, channel=Channel.PUSH, value="a@example.com")
    assert one != KeyedHasher(b"b" * 32).address_hash(
        tenant_id=1, channel=Channel.EMAIL, value="a@example.com"
    )
    assert hasher.secret_hash("x") != hasher.address_hash(
        tenant_id=1, channel=Channel.EMAIL, value="x"
    )


def test_short_hashing_keys_are_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        KeyedHasher(b"short")


def test_new_secrets_are_prefixed_and_random():
    first, second = new_secret("olk"), new_secret("olk")
    assert re.fullmatch(r"olk_[A-Za-z0-9_-]{43}", first)
    assert first != second


def test_scopes_are_ordered():
    assert Scope.ADMIN.allows(Scope.WRITE)
    assert Scope.WRITE.allows(Scope.CHECK)
    assert not Scope.CHECK.allows(Scope.WRITE)
    assert not Scope.WRITE.allows(Scope.ADMIN)


def test_errors_carry_fields_and_plain_messages():
    error = InvalidInput(FieldError("a", "is bad"), FieldError("b.c", "is worse"))
    assert error.message == "a: is bad; b.c: is worse"
    assert str(NotFound(kind="topic", key="news")) == "topic 'news' was not found"
    with pytest.raises(ValueError, match="at least one FieldError"):
        InvalidInput()


@pytest.mark.parametrize("key", [b"k" * 32, bytes(range(64)), bytes(range(100)) * 2])
@given(value=st.text())
def test_keyed_hashes_are_hmac_sha256_of_the_joined_parts(key, value):
    hasher = KeyedHasher(key)
    expected = hmac.digest(key, f"address\x1f7\x1femail\x1f{value}".encode(), "sha256").hex()
    assert hasher.address_hash(tenant_id=7, channel=Channel.EMAIL, value=value) == expected
    assert hasher.address_hashes(tenant_id=7, channel=Channel.EMAIL, values=[value, value]) == [
        expected,
        expected,
    ]
    assert (
        hasher.secret_hash(value) == hmac.digest(key, f"secret\x1f{value}".encode(), "sha256").hex()
    )
