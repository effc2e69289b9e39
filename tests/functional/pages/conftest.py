"""The hosted pages through the whole ASGI application, on SQLite and PostgreSQL.

Services run on the real storage with the real AES-GCM keyring (link tokens are opaque,
as in production) and a frozen clock. `world` builds one tenant, `acme`, branded, with
marketing and transactional topics, a person (`alice`) with an email and an SMS address,
and one registered message to the email address about the `news` topic.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from optledger.api.pages import create_pages_app
from optledger.domain.channels import Channel
from optledger.domain.model import Category, ConsentMode, PageSettings, Provenance
from optledger.domain.secrets import KeyedHasher
from optledger.outbound.keyring import AesGcmKeyring
from optledger.services import Services
from optledger.services.contacts import EventView, HistoryQuery
from optledger.services.messages import MessageSpec
from tests.builders import PUBLIC_URL, service_context
from tests.fakes import FrozenClock

EMAIL = "alice.smith@example.com"
PHONE = "+14155550100"
LINK_KEY = b"k" * 32


@dataclass(frozen=True)
class World:
    tenant_id: int
    token: str
    """The token of the message's link."""
    message_uid: str
    topic_ids: dict[str, int]

    @property
    def path(self) -> str:
        return f"/u/{self.token}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def keyring() -> AesGcmKeyring:
    return AesGcmKeyring({1: LINK_KEY}, current=1)


@pytest.fixture
def services(transactions, clock, keyring) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
            clock=clock,
            hasher=KeyedHasher(b"f" * 32),
            keyring=keyring,
        )
    )


@pytest.fixture
def client(services) -> Iterator[TestClient]:
    """The pages mounted at /u as `create_app` mounts them (test_security.py also drives
    the whole application); without the REST door, whose set-up is slow."""
    app = Starlette(routes=[Mount("/u", app=create_pages_app(services=services))])
    with TestClient(app, raise_server_exceptions=True, follow_redirects=False) as http:
        yield http


def build_world(
    services: Services,
    *,
    default_locale: str = "en-US",
    contact_locale: str | None = None,
    pages: PageSettings | None = None,
) -> World:
    tenant = services.tenants.create_tenant(name="acme", default_locale=default_locale).tenant
    services.tenants.set_pages(
        tenant_id=tenant.id,
        pages=pages or PageSettings(display_name="Acme Outdoor", accent_color="#0b6e4f"),
    )
    topics = {}
    for key, name, category, mode in [
        ("news", "Weekly News", Category.MARKETING, ConsentMode.OPT_OUT),
        ("offers", "Special Offers", Category.MARKETING, ConsentMode.OPT_IN),
        ("receipts", "Order Receipts", Category.TRANSACTIONAL, ConsentMode.OPT_OUT),
    ]:
        topic = services.topics.create_topic(
            tenant_id=tenant.id,
            key=key,
            name=name,
            category=category,
            consent_mode=mode,
            channels=(Channel.EMAIL, Channel.SMS),
        )
        topics[key] = topic.id
    for channel, address in [(Channel.EMAIL, EMAIL), (Channel.SMS, PHONE)]:
        services.subscriptions.subscribe(
            tenant_id=tenant.id,
            channel=channel,
            address=address,
            topic="offers",
            contact="alice",
            provenance=Provenance(via="api", locale=contact_locale),
        )
    registered = services.messages.register_messages(
        tenant_id=tenant.id,
        messages=[
            MessageSpec(channel=Channel.EMAIL, address=EMAIL, topic="news", message_uid="m-1")
        ],
    )
    url = registered[0].unsubscribe_url
    assert url.startswith(f"{PUBLIC_URL}/u/")
    return World(
        tenant_id=tenant.id,
        token=url.rsplit("/", 1)[1],
        message_uid="m-1",
        topic_ids=topics,
    )


@pytest.fixture
def world(services) -> World:
    return build_world(services)


def link_for(services: Services, world: World, *, topic: str, uid: str) -> str:
    """The path of a new message's link to EMAIL about `topic`."""
    registered = services.messages.register_messages(
        tenant_id=world.tenant_id,
        messages=[MessageSpec(channel=Channel.EMAIL, address=EMAIL, topic=topic, message_uid=uid)],
    )
    return "/u/" + registered[0].unsubscribe_url.rsplit("/", 1)[1]


def events(services: Services, world: World, address: str = EMAIL) -> list[EventView]:
    channel = Channel.SMS if address.startswith("+") else Channel.EMAIL
    page = services.contacts.history(
        tenant_id=world.tenant_id,
        query=HistoryQuery(channel=channel, address=address, limit=1000),
    )
    return list(page.events)


def may_send(services: Services, world: World, topic: str, address: str = EMAIL) -> bool:
    channel = Channel.SMS if address.startswith("+") else Channel.EMAIL
    [result] = services.checks.check(
        tenant_id=world.tenant_id, topic=topic, channel=channel, addresses=[address]
    )
    return result.allowed


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found[1]


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)" dir="(ltr|rtl)">', html)
    assert found, "the page has no <html lang dir>"
    return found[1]


def post_form(
    client: TestClient,
    path: str,
    pairs: Sequence[tuple[str, str]],
    headers: dict[str, str] | None = None,
):
    """POST a urlencoded form whose fields may repeat, as a browser sends it."""
    return client.post(
        path,
        content=urlencode(list(pairs)),
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
