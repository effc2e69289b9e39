"""Tenant page settings and contact languages on SQLite and PostgreSQL (migration 0003)."""

from dataclasses import replace
from datetime import timedelta

import pytest
from alembic import command

from optledger.domain.channels import Channel
from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import PageSettings, Provenance
from optledger.services import Services
from optledger.storage import migrate, tables
from optledger.storage.engine import make_engine
from optledger.storage.transactions import SqlTransactions
from tests.builders import EARLIEST_TENANT_ROW, service_context

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _services(transactions) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
        )
    )


@pytest.fixture
def services(transactions) -> Services:
    return _services(transactions)


def test_page_settings_round_trip(services):
    tenant = services.tenants.create_tenant(name="acme").tenant
    assert tenant.pages == PageSettings()
    wanted = PageSettings(
        display_name="  Acme Mail ",
        accent_color="#1A73E8",
        logo=PNG,
        logo_type="image/png",
        undo_period=timedelta(days=3, hours=12),
        link_lifetime=timedelta(days=90),
    )
    updated = services.tenants.set_pages(tenant_id=tenant.id, pages=wanted)
    expected = replace(wanted, display_name="Acme Mail", accent_color="#1a73e8")
    assert updated.pages == expected
    assert services.tenants.get_tenant(name="acme").pages == expected
    cleared = services.tenants.set_pages(tenant_id=tenant.id, pages=PageSettings())
    assert cleared.pages == PageSettings()


def test_bad_page_settings_are_all_reported_and_nothing_is_written(services):
    tenant = services.tenants.create_tenant(name="acme").tenant
    bad = PageSettings(
        display_name=" ",
        accent_color="blue",
        logo=b"GIF89a...",
        logo_type="image/png",
        undo_period=timedelta(days=366),
        link_lifetime=timedelta(days=29),
    )
    with pytest.raises(InvalidInput) as caught:
        services.tenants.set_pages(tenant_id=tenant.id, pages=bad)
    assert caught.value.errors == (
        FieldError("display_name", "must not be empty"),
        FieldError("accent_color", "must be a colour such as #1a73e8"),
        FieldError("logo", "does not hold image/png data"),
        FieldError("undo_period", "must be between 0 and 365 days"),
        FieldError("link_lifetime", "must be between 30 and 3650 days"),
    )
    assert services.tenants.get_tenant(name="acme").pages == PageSettings()


@pytest.mark.parametrize(
    ("logo", "logo_type", "error"),
    [
        (PNG, None, FieldError("logo_type", "must be image/png, image/jpeg or image/gif")),
        (None, "image/png", FieldError("logo_type", "needs a logo")),
        (b"\x89PNG" + b"x" * 102_400, "image/png", FieldError("logo", "must be at most 100 KiB")),
        (
            PNG,
            "image/svg+xml",
            FieldError("logo_type", "must be image/png, image/jpeg or image/gif"),
        ),
    ],
)
def test_logos_must_be_small_raster_images(services, logo, logo_type, error):
    tenant = services.tenants.create_tenant(name="acme").tenant
    with pytest.raises(InvalidInput) as caught:
        services.tenants.set_pages(
            tenant_id=tenant.id, pages=PageSettings(logo=logo, logo_type=logo_type)
        )
    assert caught.value.errors == (error,)


def test_a_contacts_language_is_stored_from_a_subscribe(services):
    tenant = services.tenants.create_tenant(name="acme").tenant
    services.topics.create_topic(tenant_id=tenant.id, key="news", name="News")
    for locale in ("de-DE", None, "ko-KR"):
        services.subscriptions.subscribe(
            tenant_id=tenant.id,
            channel=Channel.EMAIL,
            address="ann@example.com",
            topic="news",
            contact="u-1",
            provenance=Provenance(via="api", locale=locale),
        )
        export = services.contacts.export_contact(tenant_id=tenant.id, external_id="u-1")
        assert export.locale == ("ko-KR" if locale == "ko-KR" else "de-DE")


def test_migration_0003_keeps_tenants_and_downgrades(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(migrate._config(connection), "0002")
            connection.execute(tables.tenants.insert(), EARLIEST_TENANT_ROW)
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
        transactions = SqlTransactions(engine)
        try:
            assert _services(transactions).tenants.get_tenant(name="acme").pages == PageSettings()
        finally:
            transactions.close()
        with engine.begin() as connection:
            command.downgrade(migrate._config(connection), "0002")
        with engine.connect() as connection:
            columns = {c["name"] for c in connection.dialect.get_columns(connection, "tenants")}
        assert "undo_period" not in columns
        migrate.upgrade(engine)
        assert migrate.check_drift(engine) == []
    finally:
        engine.dispose()
