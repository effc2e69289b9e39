"""Every use case refuses text no database can store, naming the field, on SQLite and
PostgreSQL: the NUL character (PostgreSQL refuses it in text) and unpaired surrogates
(no UTF-8 encoding; the CLI gets one from any argument that is not valid UTF-8). Before,
each of these was a database error (a 500 on the API, a traceback on the CLI).
"""

from collections.abc import Callable
from dataclasses import replace

import pytest

from optledger.domain.channels import Channel
from optledger.domain.errors import AuthenticationFailed, FieldError, InvalidInput
from optledger.domain.model import Provenance
from optledger.services import Services
from optledger.services.contacts import HistoryQuery
from optledger.services.messages import MessageSpec
from optledger.services.targets import AddressTarget, ContactTarget, MessageTarget
from tests.integration.test_services_on_sql import build

NUL = "must not contain the NUL character"
SURROGATE = "must not contain unpaired surrogate code points"
API = Provenance(via="api")
ANN = AddressTarget(channel=Channel.EMAIL, address="ann@example.com")
BAD = {"\x00": NUL, "\udcff": SURROGATE}


@pytest.fixture
def services(transactions) -> Services:
    return build(transactions)


@pytest.fixture
def tenant_id(services) -> int:
    tenant_id = services.tenants.create_tenant(name="acme").tenant.id
    services.topics.create_topic(tenant_id=tenant_id, key="news", name="News")
    return tenant_id


PROVENANCE_FIELDS = [
    "actor",
    "device",
    "entrypoint",
    "locale",
    "request_id",
    "idempotency_key",
    "ip",
    "user_agent",
]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("field", PROVENANCE_FIELDS)
def test_every_provenance_field(services, tenant_id, field, bad):
    provenance = replace(API, **{field: f"x{bad}"})

    with pytest.raises(InvalidInput) as raised:
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=ANN, topics=None, provenance=provenance
        )

    assert raised.value.errors == (FieldError(field, BAD[bad]),)
    assert services.contacts.verify_ledger(tenant_id=tenant_id).events == 0


@pytest.mark.parametrize("bad", BAD)
def test_tags_and_context(services, tenant_id, bad):
    provenance = replace(
        API, tags=("ok", f"t{bad}"), context={"a": f"v{bad}", f"k{bad}": "v", "b": "fine"}
    )

    with pytest.raises(InvalidInput) as raised:
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id, target=ANN, topics=None, provenance=provenance
        )

    reason = BAD[bad]
    assert raised.value.errors == (
        FieldError("tags[1]", reason),
        FieldError("context.a", reason),
        FieldError("context", f"a key {reason}"),
    )


def _calls(services: Services, tenant_id: int, bad: str) -> list[tuple[str, Callable[[], object]]]:
    """Every use case with a free-text input that is stored or looked up, and the field
    it names."""
    text = f"x{bad}"
    return [
        (
            "contact",
            lambda: services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=Channel.EMAIL,
                address="ann@example.com",
                topic="news",
                contact=text,
                provenance=API,
            ),
        ),
        (
            "topic",
            lambda: services.subscriptions.subscribe(
                tenant_id=tenant_id,
                channel=Channel.EMAIL,
                address="ann@example.com",
                topic=text,
                provenance=API,
            ),
        ),
        ("token", lambda: services.subscriptions.confirm(token=text, provenance=API)),
        (
            "contact",
            lambda: services.subscriptions.resubscribe(
                tenant_id=tenant_id,
                target=ContactTarget(external_id=text),
                topics=None,
                provenance=API,
            ),
        ),
        (
            "message_uid",
            lambda: services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=MessageTarget(message_uid=text),
                topics=None,
                provenance=API,
            ),
        ),
        (
            "topics[1]",
            lambda: services.subscriptions.unsubscribe(
                tenant_id=tenant_id, target=ANN, topics=["news", text], provenance=API
            ),
        ),
        (
            "contact",
            lambda: services.requests.request_unsubscribe(
                tenant_id=tenant_id,
                target=ContactTarget(external_id=text),
                topics=None,
                provenance=API,
            ),
        ),
        (
            "topic",
            lambda: services.checks.check(
                tenant_id=tenant_id, topic=text, channel=Channel.EMAIL, addresses=["a@b.example"]
            ),
        ),
        (
            "messages[0].campaign",
            lambda: services.messages.register_messages(
                tenant_id=tenant_id,
                messages=[
                    MessageSpec(
                        channel=Channel.EMAIL,
                        address="ann@example.com",
                        topic="news",
                        campaign=text,
                    )
                ],
            ),
        ),
        (
            "contact",
            lambda: services.contacts.history(
                tenant_id=tenant_id, query=HistoryQuery(contact=text)
            ),
        ),
        (
            "via",
            lambda: services.contacts.history(
                tenant_id=tenant_id, query=HistoryQuery(contact="u1", via=text)
            ),
        ),
        (
            "external_id",
            lambda: services.contacts.export_contact(tenant_id=tenant_id, external_id=text),
        ),
        (
            "external_id",
            lambda: services.contacts.erase_contact(
                tenant_id=tenant_id, external_id=text, provenance=API
            ),
        ),
        ("name", lambda: services.tenants.get_tenant(name=text)),
        ("key", lambda: services.topics.get_topic(tenant_id=tenant_id, key=text)),
    ]


@pytest.mark.parametrize("bad", BAD)
def test_every_stored_or_looked_up_text(services, tenant_id, bad):
    calls = _calls(services, tenant_id, bad)
    outcomes = []
    for field, call in calls:
        try:
            call()
        except InvalidInput as exc:
            outcomes.append((field, exc.errors))
        else:
            outcomes.append((field, ()))

    assert outcomes == [(field, (FieldError(field, BAD[bad]),)) for field, _ in calls]
    assert services.contacts.verify_ledger(tenant_id=tenant_id).events == 0


def test_a_non_ascii_api_key_is_not_authenticated(services):
    with pytest.raises(AuthenticationFailed):
        services.tenants.authenticate(secret="olk_\udcff")
