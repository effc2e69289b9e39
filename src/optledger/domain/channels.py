"""Channels and the normalisation of addresses on them.

An address is the unit that is suppressed, so two spellings of one mailbox or one phone
number must normalise to the same string. The rules:

- email: validated by email-validator without DNS; IDNA domains are kept in Unicode form;
  the whole address is lower-cased. The common case (a plain ASCII dot-atom local part and
  an ASCII host name) is checked by one regular expression that accepts only what the
  validator accepts and gives the same result (decision 0020); anything else goes to the
  validator. RFC 5321 lets a local part be case-sensitive, but no
  large mailbox provider treats it so, and suppressing "Ann@x" when "ann@x" opted out is
  the safe error. Dots and "+tags" are kept: they can be different mailboxes.
- sms, whatsapp, voice: parsed by phonenumbers with the tenant's default region for
  national numbers, required to be a valid number, formatted as E.164.
- push: the device token exactly as given, without surrounding white space.
"""

import re
from enum import StrEnum
from typing import Final

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from optledger.domain.errors import InvalidInput

__all__ = [
    "EMAIL_MAX_LENGTH",
    "FAST_EMAIL_PATTERN",
    "PHONE_CHANNELS",
    "SPECIAL_USE_SUFFIXES",
    "Channel",
    "mask_address",
    "normalise_address",
    "normalise_addresses",
]

MAX_ADDRESS_LENGTH = 4096

_ATEXT: Final = r"A-Za-z0-9_!#$%&'*+/=?^`{|}~-"
FAST_EMAIL_PATTERN: Final = (
    # A dot-atom local part of RFC 5322 atext, then host-name labels (letters, digits,
    # inner hyphens, at most 63 characters), the last one ending in a letter. Written for
    # Python's `re` and Rust's `regex` (polars) alike: no look-around, ASCII classes only.
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"
)
_FAST_EMAIL: Final = re.compile(FAST_EMAIL_PATTERN)
EMAIL_MAX_LENGTH: Final = 254
"""email-validator's limit on a whole address (RFC 3696 errata 1690), in octets."""
SPECIAL_USE_SUFFIXES: Final = tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)
"""A domain (with a leading dot) ending in one of these goes to the validator."""


class Channel(StrEnum):
    """Where a message goes: `email`, `sms`, `push` (a device token), `whatsapp` or
    `voice`; the phone channels take E.164 numbers."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WHATSAPP = "whatsapp"
    VOICE = "voice"


PHONE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})


def parse_channel(value: str, *, field: str = "channel") -> Channel:
    """The channel named by `value`, or InvalidInput naming `field`."""
    try:
        return Channel(value.strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise InvalidInput.of(field, f"must be one of {allowed}") from None


def normalise_address(
    *, channel: Channel, raw: str, default_region: str, field: str = "address"
) -> str:
    """The canonical form of `raw` on `channel`, or InvalidInput naming `field`."""
    value = raw.strip()
    if not value:
        raise InvalidInput.of(field, "must not be empty")
    if len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidInput.of(field, f"must be at most {MAX_ADDRESS_LENGTH} characters")
    if channel is Channel.EMAIL:
        return _normalise_email(value, field=field)
    if channel in PHONE_CHANNELS:
        return _normalise_phone(value, default_region=default_region, field=field)
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidInput.of(field, "a push token must not contain spaces or control characters")
    return value


def normalise_addresses(
    *, channel: Channel, raws: list[str], default_region: str
) -> list[str | None]:
    """`normalise_address` of each of `raws`, in order, None for each invalid one: the
    same answers, with the fast email path tried inline (a list has millions)."""
    if channel is not Channel.EMAIL:
        return [_normalised_or_none(channel, raw, default_region) for raw in raws]
    fast = _fast_email
    values: list[str | None] = []
    for raw in raws:
        value = fast(raw.strip())
        values.append(_normalised_or_none(channel, raw, default_region) if value is None else value)
    return values


def _normalised_or_none(channel: Channel, raw: str, default_region: str) -> str | None:
    try:
        return normalise_address(channel=channel, raw=raw, default_region=default_region)
    except InvalidInput:
        return None


def _normalise_email(value: str, *, field: str) -> str:
    fast = _fast_email(value)
    if fast is not None:
        return fast
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        # The library's message describes the syntax problem without echoing the address.
        raise InvalidInput.of(field, f"is not a valid email address: {_reason(exc)}") from None
    return result.normalized.lower()


def _fast_email(value: str) -> str | None:
    """What `validate_email(value, check_deliverability=False).normalized.lower()` returns,
    when `value` is in the plain ASCII form the regular expression admits; None (ask the
    validator) for anything else. In that form the validator changes nothing but the case:
    no quoting, no Unicode or IDNA mapping, and its remaining checks are the ones below.
    A domain with "--" (Punycode, or the reserved third and fourth characters) goes to the
    validator, which decodes or refuses it."""
    if len(value) > EMAIL_MAX_LENGTH or _FAST_EMAIL.fullmatch(value) is None:
        return None
    lowered = value.lower()
    domain = "." + lowered.rpartition("@")[2]
    if "--" in domain or domain.endswith(SPECIAL_USE_SUFFIXES):
        return None
    return lowered


def _reason(exc: EmailNotValidError) -> str:
    text = str(exc).rstrip(".")
    return text[:1].lower() + text[1:]


def _normalise_phone(value: str, *, default_region: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput.of(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput.of(field, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid_region(region: str) -> bool:
    """Whether `region` is an ISO 3166-1 alpha-2 code that phonenumbers knows."""
    return region in phonenumbers.SUPPORTED_REGIONS


def mask_address(*, channel: Channel, value: str) -> str:
    """A form of the address safe to show or log: `a***@example.com`, `+1******0100`."""
    if channel is Channel.EMAIL:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if channel in PHONE_CHANNELS:
        return value[:2] + "*" * max(len(value) - 6, 1) + value[-4:]
    return value[:4] + "…"
