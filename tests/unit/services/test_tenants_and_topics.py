from datetime import timedelta

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
)
from optledger.domain.model import Category, ConsentMode, Scope
from optledger.services.results import Principal
from optledger.services.tenants import PRINCIPAL_TTL


def test_a_tenant_comes_with_an_admin_key_that_authenticates(services):
    created = services.tenants.create_tenant(
        name="acme", default_region="de", grace_period=timedelta(days=3)
    )
    tenant = created.tenant
    assert (tenant.name, tenant.default_region, tenant.default_locale, tenant.grace_period) == (
        "acme",
        "DE",
        "en-US",
        timedelta(days=3),
    )
    secret = created.admin_key.secret
    assert secret.startswith("olk_")
    assert created.admin_key.key.prefix == secret[:12]
    assert services.tenants.authenticate(secret=secret) == Principal(
        tenant_id=tenant.id, key_id=created.admin_key.key.id, scope=Scope.ADMIN
    )
    assert services.tenants.get_tenant(name="acme") == tenant
    assert services.tenants.list_tenants() == [tenant]


def test_duplicate_and_malformed_tenants(services):
    services.tenants.create_tenant(name="acme")
    with pytest.raises(Conflict, match="name: a tenant named 'acme' already exists"):
        services.tenants.create_tenant(name="acme")
    for kwargs, field in (
        ({"name": "Acme Inc"}, "name"),
        ({"name": "ok", "default_region": "XX"}, "default_region"),
        ({"name": "ok", "default_locale": "english"}, "default_locale"),
        ({"name": "ok", "grace_period": timedelta(days=400)}, "grace_period"),
    ):
        with pytest.raises(InvalidInput) as caught:
            services.tenants.create_tenant(**kwargs)
        assert caught.value.errors[0].field == field
    with pytest.raises(NotFound):
        services.tenants.get_tenant(name="ghost")


def test_keys_are_scoped_listed_and_revoked(services):
    tenant = services.tenants.create_tenant(name="acme").tenant
    checker = services.tenants.create_key(tenant_id=tenant.id, name="sender", scope=Scope.CHECK)
    assert services.tenants.authenticate(secret=checker.secret).scope is Scope.CHECK
    assert [k.name for k in services.tenants.list_keys(tenant_id=tenant.id)] == ["admin", "sender"]
    revoked = services.tenants.revoke_key(tenant_id=tenant.id, key_id=checker.key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(AuthenticationFailed):
        services.tenants.authenticate(secret=checker.secret)
    other = services.tenants.create_tenant(name="other").tenant
    with pytest.raises(NotFound):
        services.tenants.revoke_key(tenant_id=other.id, key_id=checker.key.id)


@pytest.mark.parametrize("secret", ["", "olk_unknown", "Bearer olk_x", "x" * 500])
def test_unknown_secrets_fail(services, secret):
    with pytest.raises(AuthenticationFailed):
        services.tenants.authenticate(secret=secret)


def test_topic_defaults_and_rules(services):
    tenant_id = services.tenants.create_tenant(name="acme").tenant.id
    news = services.topics.create_topic(tenant_id=tenant_id, key="news", name=" News ")
    assert (
        news.name,
        news.category,
        news.consent_mode,
        news.double_opt_in,
        news.channels,
        news.unsubscribable,
    ) == (
        "News",
        Category.MARKETING,
        ConsentMode.OPT_IN,
        False,
        frozenset({Channel.EMAIL}),
        True,
    )
    receipts = services.topics.create_topic(
        tenant_id=tenant_id, key="TYPE_RECEIPTS", name="Receipts", category=Category.TRANSACTIONAL
    )
    assert receipts.unsubscribable is False
    with pytest.raises(Conflict):
        services.topics.create_topic(tenant_id=tenant_id, key="news", name="Again")
    with pytest.raises(InvalidInput) as caught:
        services.topics.create_topic(tenant_id=tenant_id, key="x", name="X", unsubscribable=False)
    assert caught.value.errors == (
        FieldError("unsubscribable", "a marketing topic must allow unsubscribing"),
    )
    with pytest.raises(InvalidInput) as caught:
        services.topics.create_topic(tenant_id=tenant_id, key="-bad", name="X")
    assert caught.value.errors[0].field == "key"
    with pytest.raises(InvalidInput) as caught:
        services.topics.create_topic(tenant_id=tenant_id, key="y", name="Y", channels=())
    assert caught.value.errors[0].field == "channels"
    assert [t.key for t in services.topics.list_topics(tenant_id=tenant_id)] == [
        "TYPE_RECEIPTS",
        "news",
    ]
    assert services.topics.get_topic(tenant_id=tenant_id, key="news") == news
    with pytest.raises(NotFound):
        services.topics.get_topic(tenant_id=tenant_id, key="nope")


def test_a_valid_key_is_remembered_for_a_few_seconds(services, transactions, clock):
    created = services.tenants.create_tenant(name="acme")
    secret = created.admin_key.secret
    principal = services.tenants.authenticate(secret=secret)
    # The key row vanishing behind the service's back shows whether it is read again.
    saved = dict(transactions.store.api_keys)
    transactions.store.api_keys.clear()
    assert services.tenants.authenticate(secret=secret) == principal
    clock.advance(PRINCIPAL_TTL)
    with pytest.raises(AuthenticationFailed):
        services.tenants.authenticate(secret=secret)
    transactions.store.api_keys.update(saved)
    assert services.tenants.authenticate(secret=secret) == principal


def test_revoking_a_key_takes_effect_at_once_in_this_process(services):
    tenant = services.tenants.create_tenant(name="acme").tenant
    sender = services.tenants.create_key(tenant_id=tenant.id, name="sender", scope=Scope.CHECK)
    services.tenants.authenticate(secret=sender.secret)
    services.tenants.revoke_key(tenant_id=tenant.id, key_id=sender.key.id)
    with pytest.raises(AuthenticationFailed):
        services.tenants.authenticate(secret=sender.secret)
