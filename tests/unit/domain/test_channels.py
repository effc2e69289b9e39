import pytest

from optledger.domain.channels import Channel, mask_address, normalise_address, parse_channel
from optledger.domain.errors import FieldError, InvalidInput


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
