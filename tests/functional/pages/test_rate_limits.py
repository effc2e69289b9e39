"""The hosted pages' rate limits: unusable links per client address, POSTs per link,
and never a refused one-click of a usable link, whoever sends it (a mail provider sends
them for many people from a few addresses). Default limits, a stepped monotonic clock.
"""

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from optledger.api.pages import create_pages_app
from optledger.domain.channels import Channel
from optledger.services.messages import MessageSpec
from tests.fakes import SteppedSeconds
from tests.functional.pages.conftest import EMAIL, World, may_send

PROVIDER = ("192.0.2.25", 25000)
"""One of the few addresses a mailbox provider sends its one-click POSTs from."""
ELSEWHERE = ("203.0.113.20", 40001)
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOO_MANY = "Too many requests: try again in {} seconds.\n"


@pytest.fixture
def seconds() -> SteppedSeconds:
    return SteppedSeconds()


@pytest.fixture
def clients(services, seconds) -> Iterator[tuple[TestClient, TestClient]]:
    app = Starlette(routes=[Mount("/u", app=create_pages_app(services=services, clock=seconds))])
    with (
        TestClient(app, client=PROVIDER, follow_redirects=False) as provider,
        TestClient(app, client=ELSEWHERE, follow_redirects=False) as elsewhere,
    ):
        yield provider, elsewhere


def one_click(client: TestClient, path: str):
    return client.post(path, content=ONE_CLICK, headers=FORM)


def links(services, world: World, count: int) -> list[tuple[str, str]]:
    """`count` new messages' (address, link path), each to its own address."""
    addresses = [f"reader{n}@example.com" for n in range(count)]
    registered = services.messages.register_messages(
        tenant_id=world.tenant_id,
        messages=[
            MessageSpec(channel=Channel.EMAIL, address=a, topic="news", message_uid=f"f-{n}")
            for n, a in enumerate(addresses)
        ],
    )
    return [
        (address, "/u/" + r.unsubscribe_url.rsplit("/", 1)[1])
        for address, r in zip(addresses, registered, strict=True)
    ]


def test_unusable_links_from_one_address_get_429_after_sixty(clients, world):
    provider, elsewhere = clients
    bad = world.token[:-3]

    answers = [provider.get(f"/u/{bad}{n:03}") for n in range(1000)]

    assert [a.status_code for a in answers] == [404] * 60 + [429] * 940
    for refused in answers[60:]:
        assert refused.text == TOO_MANY.format(1)
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "text/plain; charset=utf-8"
        assert refused.headers["cache-control"] == "no-store"
    assert elsewhere.get(f"/u/{bad}").status_code == 404
    assert provider.get(world.path).status_code == 200, "a usable link still opens"


def test_every_route_of_a_link_counts_an_unusable_token(clients, world):
    provider, _ = clients
    bad = f"/u/{world.token[:-3]}"
    for n in range(60):
        one_click(provider, f"{bad}{n:03}")

    answers = {
        "landing": provider.get(bad),
        "preferences": provider.get(f"{bad}/preferences"),
        "leave": provider.post(f"{bad}/leave", content=b"scope=topic", headers=FORM),
        "one-click": one_click(provider, bad),
    }

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 429)


def test_a_flood_of_valid_one_clicks_from_one_address_is_never_refused(clients, services, world):
    provider, _ = clients
    flood = links(services, world, 500)
    bad = f"/u/{world.token[:-3]}"

    statuses = []
    for n, (_, path) in enumerate(flood):
        if n % 4 == 0:  # unusable links in between use up the address's bucket
            one_click(provider, f"{bad}{n:03}")
        statuses.append(one_click(provider, path).status_code)

    assert one_click(provider, f"{bad}x").status_code == 429
    assert statuses == [200] * 500
    assert not any(
        result.allowed
        for result in services.checks.check(
            tenant_id=world.tenant_id,
            topic="news",
            channel=Channel.EMAIL,
            addresses=[address for address, _ in flood],
        )
    )


def test_a_link_takes_twenty_posts_then_429(clients, services, world, seconds):
    provider, elsewhere = clients

    answers = [one_click(provider, world.path) for _ in range(21)]
    from_elsewhere = one_click(elsewhere, world.path)
    other_link = one_click(provider, links(services, world, 1)[0][1])
    page = provider.get(world.path)
    seconds.advance(3)
    later = one_click(provider, world.path)

    assert [a.status_code for a in answers] == [200] * 20 + [429]
    assert answers[20].text == TOO_MANY.format(3)
    assert answers[20].headers["retry-after"] == "3"
    assert from_elsewhere.status_code == 429, "counted per link, wherever it comes from"
    assert other_link.status_code == 200
    assert page.status_code == 200, "reading a link is not limited per link"
    assert later.status_code == 200
    assert not may_send(services, world, "news")


def test_reading_a_link_many_times_never_uses_up_its_one_click(clients, services, world):
    provider, _ = clients
    for _ in range(200):
        assert provider.get(world.path).status_code == 200
        assert provider.head(world.path).status_code == 200
        assert provider.options(world.path).status_code == 204

    assert one_click(provider, world.path).status_code == 200
    assert not may_send(services, world, "news", address=EMAIL)


def test_the_trailing_slash_redirect_ignores_a_hostile_host(clients, world):
    provider, _ = clients

    answer = provider.get(f"{world.path}/?lang=fr", headers={"Host": "evil.example"})

    assert answer.status_code == 307
    assert answer.headers["location"] == f"{world.path}?lang=fr"
    assert "evil" not in answer.headers["location"]


def test_an_encoded_slash_is_not_a_trailing_slash(clients, world):
    provider, _ = clients

    answer = provider.get(f"{world.path}%2F")

    assert answer.status_code == 404
    assert "location" not in answer.headers
