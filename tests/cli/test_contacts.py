import json

from optledger.domain.channels import Channel
from optledger.domain.model import Provenance
from optledger.services.targets import AddressTarget


def seed(services, tenant_id):
    services.topics.create_topic(tenant_id=tenant_id, key="news", name="News")
    services.subscriptions.subscribe(
        tenant_id=tenant_id,
        channel=Channel.EMAIL,
        address="Ann@Example.com",
        topic="news",
        contact="u-1",
        provenance=Provenance(via="api", ip="198.51.100.7"),
    )
    services.subscriptions.unsubscribe(
        tenant_id=tenant_id,
        target=AddressTarget(Channel.EMAIL, "ann@example.com"),
        topics=None,
        provenance=Provenance(via="one_click"),
    )


def test_export_prints_everything_about_the_person_as_json(run, tenant, services):
    with services() as s:
        seed(s, tenant["tenant"]["id"])

    result = run("contact", "export", "--tenant", "acme", "u-1")

    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["external_id"] == "u-1"
    assert exported["addresses"] == [
        {"channel": "email", "address": "ann@example.com", "suppressed": True}
    ]
    assert [(s["topic"], s["state"]) for s in exported["subscriptions"]] == [("news", "subscribed")]
    assert [(e["action"], e["via"], e["ip"]) for e in exported["events"]] == [
        ("subscribe", "api", "198.51.100.7"),
        ("suppress", "one_click", None),
    ]


def test_erase_asks_then_forgets_the_person_but_keeps_them_suppressed(run, tenant, services):
    with services() as s:
        seed(s, tenant["tenant"]["id"])

    declined = run("contact", "erase", "--tenant", "acme", "u-1", input="n\n")
    assert declined.exit_code == 1
    assert run("contact", "export", "--tenant", "acme", "u-1").exit_code == 0

    erased = run("contact", "erase", "--tenant", "acme", "u-1", "--yes")
    assert erased.exit_code == 0
    assert erased.stdout == "erased; 1 address(es) kept suppressed by hash\n"

    gone = run("contact", "export", "--tenant", "acme", "u-1")
    assert (gone.exit_code, gone.stderr) == (3, "contact 'u-1' was not found\n")
    checked = run(
        "check",
        "--tenant",
        "acme",
        "--topic",
        "news",
        "--channel",
        "email",
        "-",
        input="ann@example.com\n",
    )
    assert checked.exit_code == 0
    assert checked.stdout == ""
    assert checked.stderr == "checked 1: 0 allowed, 1 blocked\n  suppressed: 1\n"
