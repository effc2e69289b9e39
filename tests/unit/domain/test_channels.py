import pytest
from email_validator import EmailNotValidError, validate_email

from optledger.domain.channels import (
    Channel,
    _fast_email,
    mask_address,
    normalise_address,
    parse_channel,
)
from optledger.domain.errors import FieldError, InvalidInput
from tests.unit.domain.email_samples import email_samples


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith+News@Example.COM\n", "alice.smith+news@example.com"),
        ("bücher@Bücher.de", "bücher@bücher.de"),
        ("a.b.c@sub.example.org", "a.b.c@sub.example.org"),
    ],
)
def test_email_is_validated_and_lower_cased_keeping_dots_and_tags(raw, expected):
    assert normalise_address(channel=Channel.EMAIL, raw=raw, default_region="US") == expected


@pytest.mark.parametrize("raw", ["bad@@example.com", "no-at-sign", "a@b", "@example.com"])
def test_invalid_email_names_the_field_without_echoing_the_value(raw):
    with pytest.raises(InvalidInput) as caught:
        normalise_address(channel=Channel.EMAIL, raw=raw, default_region="US", field="to")
    (error,) = caught.value.errors
    assert error.field == "to"
    assert error.reason.startswith("is not a valid email address: ")
    assert raw not in error.reason


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0100", "US", "+14155550100"),
        ("+1 415 555 0100", "DE", "+14155550100"),
        ("030 123456", "DE", "+4930123456"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_phone_numbers_become_e164_with_the_tenant_region(raw, region, expected):
    for channel in (Channel.SMS, Channel.WHATSAPP, Channel.VOICE):
        assert normalise_address(channel=channel, raw=raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("12", "is not a valid phone number"), ("call me", "is not a phone number")],
)
def test_bad_phone_numbers_are_rejected(raw, reason):
    with pytest.raises(InvalidInput) as caught:
        normalise_address(channel=Channel.SMS, raw=raw, default_region="US")
    assert caught.value.errors == (FieldError("address", reason),)


def test_push_tokens_are_kept_as_given_but_trimmed():
    token = "fcm:APA91bH-Xy_z0"
    assert normalise_address(channel=Channel.PUSH, raw=f" {token} ", default_region="US") == token


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("   ", "must not be empty"),
        ("a b", "a push token must not contain spaces or control characters"),
        ("x" * 4097, "must be at most 4096 characters"),
    ],
)
def test_bad_push_tokens_are_rejected(raw, reason):
    with pytest.raises(InvalidInput) as caught:
        normalise_address(channel=Channel.PUSH, raw=raw, default_region="US")
    assert caught.value.errors == (FieldError("address", reason),)


def test_parse_channel_accepts_any_case_and_names_the_choices():
    assert parse_channel(" SMS ") is Channel.SMS
    with pytest.raises(InvalidInput) as caught:
        parse_channel("fax", field="rows[2].channel")
    assert caught.value.errors == (
        FieldError("rows[2].channel", "must be one of email, sms, push, whatsapp, voice"),
    )


def test_masks_hide_most_of_the_address():
    assert mask_address(channel=Channel.EMAIL, value="alice@example.com") == "a***@example.com"
    assert mask_address(channel=Channel.SMS, value="+14155550100") == "+1******0100"
    assert mask_address(channel=Channel.PUSH, value="fcm:APA91bH") == "fcm:…"


def _by_the_validator(raw: str) -> str | None:
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def test_the_fast_email_path_answers_as_the_validator_does():
    samples = list(email_samples(20_000, seed=9))
    fast = [raw for raw in samples if _fast_email(raw) is not None]
    mismatches = [
        raw
        for raw in samples
        if (_fast_email(raw) or _by_the_validator(raw)) != _by_the_validator(raw)
    ]
    assert mismatches == []
    # The sample exercises both paths and both verdicts (8,415 fast, 10,867 invalid and
    # 718 valid only by the validator, for this seed).
    assert len(fast) == 8_415
    assert sum(_by_the_validator(raw) is None for raw in samples) == 10_867


@pytest.mark.parametrize(
    "raw",
    [
        "ann@xn--bcher-kva.de",
        "ann@ab--cd.com",
        "ann@mail.arpa",
        "ann@host.local",
        "Name <ann@example.com>",
        '"ann"@example.com',
        "ann@[10.0.0.1]",
        "ann@example.c0",
        "ann@example.123",
        "ännie@example.com",
        f"{'l' * 250}@example.com",
    ],
)
def test_addresses_outside_the_fast_path_go_to_the_validator(raw):
    assert _fast_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann.Lee+News@Example.COM", "ann.lee+news@example.com"),
        (
            "a!#$%&'*+/=?^_`{|}~-z@sub.example-mail.org",
            "a!#$%&'*+/=?^_`{|}~-z@sub.example-mail.org",
        ),
        (f"{'l' * 64}@{'x' * 63}.com", f"{'l' * 64}@{'x' * 63}.com"),
    ],
)
def test_plain_addresses_take_the_fast_path(raw, expected):
    assert _fast_email(raw) == expected
