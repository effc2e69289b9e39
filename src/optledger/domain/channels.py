"""Channels and the normalisation of addresses on them.

An address is the unit that is suppressed, so two spellings of one mailbox or one phone
number must normalise to the same string. The rules:

- email: validated by email-validator without DNS; IDNA domains are kept in Unicode form;
  the whole address is lower-cased. RFC 5321 lets a local part be case-sensitive, but no
  large mailbox provider treats it so, and suppressing "Ann@x" when "ann@x" opted out is
  the safe error. Dots and "+tags" are kept: they can be different mailboxes.
- sms, whatsapp, voice: parsed by phonenumbers with the tenant's default region for
  national numbers, required to be a valid number, formatted as E.164.
- push: the device token exactly as given, without surrounding white space.
"""

from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from optledger.domain.errors import InvalidInput

__all__ = ["PHONE_CHANNELS", "Channel", "mask_address", "normalise_address"]

MAX_ADDRESS_LENGTH = 4096


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


def _normalise_email(value: str, *, field: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        # The library's message describes the syntax problem without echoing the address.
        raise InvalidInput.of(field, f"is not a valid email address: {_reason(exc)}") from None
    return result.normalized.lower()


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
