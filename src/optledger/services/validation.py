"""Checks on names, keys and other plain inputs, each raising InvalidInput for its field.

Storable text. Every free-text input a use case stores or looks up is checked with
`check_storable` (and provenance with `check_provenance`) before it reaches the
database, so that text no database can hold is a 422 naming the field, on every door,
rather than a database error: PostgreSQL refuses the NUL character (U+0000) in text, and
neither database can take an unpaired surrogate (U+D800 to U+DFFF alone), which has no
UTF-8 encoding. Any other Unicode text is stored as given (the PostgreSQL database must
use the UTF8 encoding).
"""

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from optledger.domain.channels import is_valid_region
from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import PageSettings, Provenance

__all__ = [
    "check_grace_period",
    "check_locale",
    "check_page_settings",
    "check_provenance",
    "check_region",
    "check_storable",
    "check_tenant_name",
    "check_text",
    "check_token",
    "check_topic_key",
    "storable_errors",
    "unstorable",
]

_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TOPIC_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
MAX_GRACE_PERIOD = timedelta(days=365)
MAX_LOGO_BYTES = 100 * 1024
MIN_LINK_LIFETIME = timedelta(days=30)
"""CAN-SPAM: an opt-out mechanism must keep working for 30 days after the message."""
MAX_LINK_LIFETIME = timedelta(days=3650)
MAX_UNDO_PERIOD = timedelta(days=365)
_ACCENT_COLOR = re.compile(r"#[0-9a-f]{6}")
_LOGO_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def unstorable(value: str) -> str | None:
    """Why no database can store `value` as text, in a field's reason; None if it can."""
    if "\x00" in value:
        return "must not contain the NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain unpaired surrogate code points"
    return None


def storable_errors(fields: Iterable[tuple[str, str | None]]) -> list[FieldError]:
    """A FieldError for each (field, text) whose text cannot be stored; None is fine."""
    errors = []
    for field, value in fields:
        reason = None if value is None else unstorable(value)
        if reason is not None:
            errors.append(FieldError(field, reason))
    return errors


def check_storable(*fields: tuple[str, str | None]) -> None:
    """InvalidInput naming every (field, text) whose text cannot be stored."""
    errors = storable_errors(fields)
    if errors:
        raise InvalidInput(*errors)


def check_provenance(provenance: Provenance) -> None:
    """InvalidInput naming every provenance field whose text cannot be stored: `actor`,
    `device`, `entrypoint`, `tags[i]`, `context` (a key) or `context.<key>` (its value),
    `locale`, `request_id`, `idempotency_key`, `ip`, `user_agent`."""
    errors = storable_errors(
        [
            ("actor", provenance.actor),
            ("device", provenance.device),
            ("entrypoint", provenance.entrypoint),
            *((f"tags[{index}]", tag) for index, tag in enumerate(provenance.tags)),
            ("locale", provenance.locale),
            ("request_id", provenance.request_id),
            ("idempotency_key", provenance.idempotency_key),
            ("ip", provenance.ip),
            ("user_agent", provenance.user_agent),
        ]
    )
    for key, value in provenance.context.items():
        reason = unstorable(key)
        if reason is not None:
            errors.append(FieldError("context", f"a key {reason}"))
        else:
            errors.extend(storable_errors([(f"context.{key}", value)]))
    if errors:
        raise InvalidInput(*errors)


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


def check_page_settings(pages: PageSettings) -> PageSettings:
    """The settings with the display name trimmed and the colour lower-cased; every field
    at fault is reported at once."""
    errors: list[FieldError] = []
    display_name = pages.display_name
    if display_name is not None:
        try:
            display_name = check_text(display_name, field="display_name", max_length=200)
        except InvalidInput as exc:
            errors.extend(exc.errors)
    accent_color = None if pages.accent_color is None else pages.accent_color.lower()
    if accent_color is not None and not _ACCENT_COLOR.fullmatch(accent_color):
        errors.append(FieldError("accent_color", "must be a colour such as #1a73e8"))
    errors.extend(_logo_errors(pages.logo, pages.logo_type))
    if not timedelta(0) <= pages.undo_period <= MAX_UNDO_PERIOD:
        errors.append(FieldError("undo_period", "must be between 0 and 365 days"))
    if not MIN_LINK_LIFETIME <= pages.link_lifetime <= MAX_LINK_LIFETIME:
        errors.append(FieldError("link_lifetime", "must be between 30 and 3650 days"))
    if errors:
        raise InvalidInput(*errors)
    return replace(pages, display_name=display_name, accent_color=accent_color)


def _logo_errors(logo: bytes | None, logo_type: str | None) -> list[FieldError]:
    if logo is None:
        return [] if logo_type is None else [FieldError("logo_type", "needs a logo")]
    if len(logo) > MAX_LOGO_BYTES:
        return [FieldError("logo", f"must be at most {MAX_LOGO_BYTES // 1024} KiB")]
    signatures = _LOGO_SIGNATURES.get(logo_type or "")
    if signatures is None:
        return [FieldError("logo_type", "must be image/png, image/jpeg or image/gif")]
    if not logo.startswith(signatures):
        return [FieldError("logo", f"does not hold {logo_type} data")]
    return []
