"""The preference centre: every topic on every address of the person, saved in one go."""

import re
from datetime import timedelta

from optledger.domain.model import Action
from tests.functional.pages.conftest import PHONE, events, form_token, may_send, post_form


def fields(html: str) -> tuple[list[str], list[str]]:
    """What a browser submits for the page as rendered: the `shown` values and the names
    of the checked, enabled switches."""
    shown = re.findall(r'<input type="hidden" name="shown" value="([^"]+)">', html)
    checked = [
        name
        for name, rest in re.findall(r'<input class="switch" [^>]*name="([^"]+)"([^>]*)>', html)
        if " checked" in rest and " disabled" not in rest
    ]
    return shown, checked


def save(client, world, html: str, *, on: list[str], shown: list[str] | None = None, **extra):
    data = [("form_token", form_token(html))]
    data += [("shown", name) for name in (fields(html)[0] if shown is None else shown)]
    data += [(name, "on") for name in on]
    data += list(extra.items())
    return post_form(client, f"{world.path}/preferences", data)


def test_the_centre_shows_every_address_and_topic(client, world):
    response = client.get(f"{world.path}/preferences")

    assert response.status_code == 200
    html = response.text
    assert '<main id="preferences"' in html
    assert '<form id="preferences-form" method="post"' in html
    assert "a***@example.com" in html
    assert "+1******0100" in html
    assert PHONE not in html
    news, offers, receipts = (world.topic_ids[k] for k in ("news", "offers", "receipts"))
    shown, checked = fields(html)
    assert shown == [
        "s.1",
        f"t.1.{offers}",
        f"t.1.{news}",
        "s.2",
        f"t.2.{offers}",
        f"t.2.{news}",
    ]
    assert checked == [f"t.1.{offers}", f"t.1.{news}", f"t.2.{offers}", f"t.2.{news}"]
    assert (
        f'<input class="switch" type="checkbox" role="switch" id="t-1-{receipts}" '
        f'name="t.1.{receipts}" disabled checked aria-describedby="t-1-{receipts}-locked">'
    ) in html
    assert "Cannot be turned off" in html
    assert '<label for="s-1">Stop all marketing messages to this address</label>' in html
    assert html.index("Weekly News") < html.index("Service messages") < html.index("Order Receipts")
    assert 'id="save"' in html
    assert '<button type="submit" id="everything" name="everything" value="1"' in html


def test_saving_applies_the_changes_and_counts_them(client, services, world):
    html = client.get(f"{world.path}/preferences").text
    news, offers = world.topic_ids["news"], world.topic_ids["offers"]

    one = save(client, world, html, on=[f"t.1.{offers}", f"t.2.{news}", f"t.2.{offers}"])

    assert one.status_code == 200
    assert "Your preferences are saved: 1 change." in one.text
    assert '<p id="saved"' in one.text
    assert not may_send(services, world, "news")
    assert may_send(services, world, "news", PHONE)
    last = events(services, world)[-1]
    assert (last.action, last.via, last.topic, last.locale) == (
        Action.UNSUBSCRIBE,
        "preference_centre",
        "news",
        "en-US",
    )

    two = save(client, world, one.text, on=[*fields(one.text)[1], f"t.1.{news}", "s.2"])

    assert "Your preferences are saved: 2 changes." in two.text
    assert may_send(services, world, "news")
    assert not may_send(services, world, "offers", PHONE)

    none = save(client, world, two.text, on=fields(two.text)[1])

    assert "Your preferences are saved. Nothing needed to change." in none.text


def test_unsubscribe_from_everything_stops_every_address(client, services, world):
    html = client.get(f"{world.path}/preferences").text

    response = save(client, world, html, on=fields(html)[1], everything="1")

    assert response.status_code == 200
    assert "Your preferences are saved: 2 changes." in response.text
    for address in ("alice.smith@example.com", PHONE):
        assert not may_send(services, world, "offers", address)
        assert may_send(services, world, "receipts", address)
    assert 'id="s-1" name="s.1" checked' in response.text


def test_a_switch_that_cannot_be_turned_off_is_refused(client, services, world):
    html = client.get(f"{world.path}/preferences").text
    receipts = f"t.1.{world.topic_ids['receipts']}"
    shown, on = fields(html)
    before = events(services, world)

    response = save(client, world, html, on=on, shown=[*shown, receipts])

    assert response.status_code == 403
    assert "This cannot be turned off" in response.text
    assert events(services, world) == before


def test_forged_fields_are_refused_and_named(client, services, world):
    html = client.get(f"{world.path}/preferences").text
    shown, on = fields(html)
    before = events(services, world)

    forged = save(client, world, html, on=on, shown=[*shown, "t.99.1"])
    unshown = save(client, world, html, on=[*on, "t.1.77"])

    assert forged.status_code == 400
    assert "Field t.99.1: is not a preference of this person" in forged.text
    assert unshown.status_code == 400
    assert "Field t.1.77: was not shown on the form" in unshown.text
    assert events(services, world) == before


def test_forms_without_a_valid_token_or_from_another_site_are_refused(
    client, clock, services, world
):
    html = client.get(f"{world.path}/preferences").text
    shown, _ = fields(html)
    other = client.get(f"/u/{world.token[:-1]}").status_code  # sanity: a bad link is a 404
    assert other == 404
    foreign = services.links.form_token(token=world.token[:-2] + "AA")
    before = events(services, world)
    path = f"{world.path}/preferences"
    base = [("shown", name) for name in shown]

    missing = post_form(client, path, base)
    wrong = post_form(client, path, [("form_token", foreign), *base])
    cross = post_form(
        client, path, [("form_token", form_token(html)), *base], {"Sec-Fetch-Site": "cross-site"}
    )
    clock.advance(timedelta(hours=24, minutes=2))
    expired = post_form(client, path, [("form_token", form_token(html)), *base])

    for response in (missing, wrong, expired):
        assert response.status_code == 403
        assert '<main id="error"' in response.text
        assert "This page has expired; open the link again." in response.text
    assert cross.status_code == 403
    assert "The form was sent from another website" in cross.text
    assert events(services, world) == before
    assert may_send(services, world, "news")


def test_a_same_origin_form_is_accepted(client, services, world):
    html = client.get(f"{world.path}/preferences").text

    response = post_form(
        client,
        f"{world.path}/preferences",
        [("form_token", form_token(html)), ("shown", "s.1"), ("s.1", "on")],
        {"Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 200
    assert not may_send(services, world, "offers")
    assert may_send(services, world, "offers", PHONE)
