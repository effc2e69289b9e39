"""The request-limit settings: defaults, every variable, and what is refused."""

import pytest

from optledger.config import ConfigError, RateLimit, RequestLimits, Settings

DATA_DIR = {"OPTLEDGER_DATA_DIR": "/srv/optledger"}
"""Any data directory: these settings do not touch it."""


def test_the_defaults():
    settings = Settings.from_env(DATA_DIR)

    assert settings.forwarded_allow_ips == "127.0.0.1"
    assert settings.limits == RequestLimits(
        rate_limits=True,
        key_rate=RateLimit(50_000, 10),
        key_bulk_concurrency=1,
        auth_failures=RateLimit(20, 60),
        link_failures=RateLimit(60, 60),
        link_posts=RateLimit(20, 60),
        max_headers=100,
        max_header_bytes=32_768,
    )


def test_every_variable():
    settings = Settings.from_env(
        {
            **DATA_DIR,
            "OPTLEDGER_RATE_LIMITS": "OFF",
            "OPTLEDGER_KEY_RATE_LIMIT": "100/1s",
            "OPTLEDGER_KEY_BULK_CONCURRENCY": "4",
            "OPTLEDGER_AUTH_FAILURE_LIMIT": "5/300s",
            "OPTLEDGER_LINK_FAILURE_LIMIT": "30/60s",
            "OPTLEDGER_LINK_POST_LIMIT": "10/60s",
            "OPTLEDGER_MAX_HEADERS": "50",
            "OPTLEDGER_MAX_HEADER_BYTES": "8192",
            "OPTLEDGER_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.0.2.1",
        }
    )

    assert settings.forwarded_allow_ips == "10.0.0.0/8,192.0.2.1"
    assert settings.limits == RequestLimits(
        rate_limits=False,
        key_rate=RateLimit(100, 1),
        key_bulk_concurrency=4,
        auth_failures=RateLimit(5, 300),
        link_failures=RateLimit(30, 60),
        link_posts=RateLimit(10, 60),
        max_headers=50,
        max_header_bytes=8192,
    )


def test_several_server_processes_share_each_rate_and_keep_the_per_process_caps():
    limits = RequestLimits(
        rate_limits=True,
        key_rate=RateLimit(50_000, 10),
        key_bulk_concurrency=2,
        auth_failures=RateLimit(20, 60),
        link_failures=RateLimit(61, 60),
        link_posts=RateLimit(1, 60),
        max_headers=50,
        max_header_bytes=8192,
    )

    assert limits.shared_by(1) is limits
    assert limits.shared_by(3) == RequestLimits(
        rate_limits=True,
        key_rate=RateLimit(16_666, 10),
        key_bulk_concurrency=2,
        auth_failures=RateLimit(6, 60),
        link_failures=RateLimit(20, 60),
        link_posts=RateLimit(1, 60),
        max_headers=50,
        max_header_bytes=8192,
    )


def test_any_proxy_may_be_trusted_explicitly():
    assert (
        Settings.from_env({**DATA_DIR, "OPTLEDGER_FORWARDED_ALLOW_IPS": "*"}).forwarded_allow_ips
        == "*"
    )


RATE_RULE = (
    "must be COUNT/SECONDSs with COUNT between 1 and 1000000000 and SECONDS between 1 and "
    "86400, e.g. 20/60s"
)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OPTLEDGER_RATE_LIMITS", "yes", "OPTLEDGER_RATE_LIMITS: must be on or off"),
        ("OPTLEDGER_KEY_RATE_LIMIT", "100", f"OPTLEDGER_KEY_RATE_LIMIT: {RATE_RULE}"),
        ("OPTLEDGER_KEY_RATE_LIMIT", "100/min", f"OPTLEDGER_KEY_RATE_LIMIT: {RATE_RULE}"),
        ("OPTLEDGER_AUTH_FAILURE_LIMIT", "0/60s", f"OPTLEDGER_AUTH_FAILURE_LIMIT: {RATE_RULE}"),
        ("OPTLEDGER_LINK_FAILURE_LIMIT", "5/0s", f"OPTLEDGER_LINK_FAILURE_LIMIT: {RATE_RULE}"),
        ("OPTLEDGER_LINK_POST_LIMIT", "5/99999s", f"OPTLEDGER_LINK_POST_LIMIT: {RATE_RULE}"),
        (
            "OPTLEDGER_KEY_BULK_CONCURRENCY",
            "0",
            "OPTLEDGER_KEY_BULK_CONCURRENCY: must be an integer between 1 and 1000",
        ),
        (
            "OPTLEDGER_MAX_HEADERS",
            "5",
            "OPTLEDGER_MAX_HEADERS: must be an integer between 10 and 1000000",
        ),
        (
            "OPTLEDGER_MAX_HEADER_BYTES",
            "1k",
            "OPTLEDGER_MAX_HEADER_BYTES: must be an integer between 1024 and 1000000",
        ),
        (
            "OPTLEDGER_FORWARDED_ALLOW_IPS",
            "proxy.internal",
            "OPTLEDGER_FORWARDED_ALLOW_IPS: must be * or IP addresses and networks separated "
            "by commas, e.g. 127.0.0.1,10.0.0.0/8",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_the_rule(variable, value, message):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**DATA_DIR, variable: value})

    assert str(refused.value) == message
