"""Checks on names, keys and other plain inputs, each raising InvalidInput for its field."""

import re
from datetime import timedelta

from optledger.domain.channels import is_valid_region
from optledger.domain.errors import InvalidInput

__all__ = [
    "check_grace_period",
    "check_locale",
    "check_region",
    "check_tenant_name",
    "check_text",
    "check_token",
    "check_topic_key",
]

_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TOPIC_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
MAX_GRACE_PERIOD = timedelta(days=365)


def check_tenant_name(value: str) -> str:
    if not _TENANT_NAME.fullmatch(value):
        raise InvalidInput.of(
            "name", "must be 1-63 lower-case letters, digits or '-', not starting with '-'"
        )
    return value


def check_topic_key(value: str, *, field: str = "key") -> str:
    if not _TOPIC_KEY.fullmatch(value):
        raise InvalidInput.of(
            field, "must be 1-100 letters, digits or '_.:-', starting with a letter or digit"
        )
    return value


def check_region(value: str, *, field: str = "default_region") -> str:
    region = value.upper()
    if not is_valid_region(region):
        raise InvalidInput.of(field, "must be an ISO 3166-1 alpha-2 region code such as US or DE")
    return region


def check_locale(value: str, *, field: str = "locale") -> str:
    if not _LOCALE.fullmatch(value):
        raise InvalidInput.of(field, "must be a language tag such as en-US, fr-CA or zh-Hans-CN")
    return value


def check_text(value: str, *, field: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput.of(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidInput.of(field, f"must be at most {max_length} characters")
    if any(not ch.isprintable() for ch in text):
        raise InvalidInput.of(field, "must not contain control characters")
    return text


def check_grace_period(value: timedelta) -> timedelta:
    if value < timedelta(0) or value > MAX_GRACE_PERIOD:
        raise InvalidInput.of("grace_period", "must be between 0 and 365 days")
    return value


def check_token(value: str, *, field: str) -> str:
    if not value or len(value) > 512 or not value.isascii():
        raise InvalidInput.of(field, "is not a valid token")
    return value
