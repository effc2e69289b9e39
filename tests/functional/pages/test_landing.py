"""The landing page of a link, leaving from it, the confirmation page and undo."""

from datetime import timedelta

from optledger.domain.model import Action, Outcome
from tests.functional.pages.conftest import EMAIL, events, form_token, link_for, may_send


def leave(client, path: str, scope: str, **extra: str):
    page = client.get(path)
    return client.post(
        f"{path}/leave", data={"form_token": form_token(page.text), "scope": scope, **extra}
    )


def test_the_landing_page_names_the_masked_address_and_the_topic(client, world):
    response = client.get(world.path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert '<main id="landing"' in html
    assert "You are about to unsubscribe a***@example.com from Weekly News." in html
    assert EMAIL not in html
    assert 'id="leave-topic"' in html
    assert ">Unsubscribe from Weekly News</button>" in html
    assert ">Stop all emails to this address</button>" in html
    assert f'<a id="preferences-link" href="{world.path}/preferences">' in html
    assert f'action="{world.path}/leave"' in html
    assert "<h1>Your messages from Acme Outdoor</h1>" in html


def test_reading_a_link_never_changes_consent(client, services, world):
    before = events(services, world)

    for path in (world.path, f"{world.path}/preferences"):
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200
        options = client.options(path)
        assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, POST, OPTIONS")
    for path in (f"{world.path}/leave", f"{world.path}/undo"):
        options = client.options(path)
        assert (options.status_code, options.headers["allow"]) == (204, "POST, OPTIONS")
        assert client.get(path).status_code == 405

    assert events(services, world) == before
    assert may_send(services, world, "news")


def test_leave_the_topic_then_undo(client, services, world):
    response = leave(client, world.path, "topic")

    assert response.status_code == 200
    html = response.text
    assert '<main id="confirmation"' in html
    assert "You are unsubscribed from Weekly News." in html
    assert "You can undo this until February 4, 2026." in html
    assert 'id="undo"' in html
    assert not may_send(services, world, "news")
    left = events(services, world)[-1]
    assert (left.action, left.outcome, left.via, left.topic, left.message_uid) == (
        Action.UNSUBSCRIBE,
        Outcome.CHANGED,
        "landing_page",
        "news",
        "m-1",
    )
    assert left.locale == "en-US"

    landing = client.get(world.path).text
    assert "a***@example.com is unsubscribed from Weekly News." in landing
    assert 'id="undo"' in landing
    assert 'id="leave-topic"' not in landing

    undone = client.post(
        f"{world.path}/undo", data={"form_token": form_token(html), "scope": "topic"}
    )

    assert undone.status_code == 200
    assert '<main id="landing"' in undone.text
    assert (
        '<p id="undone" class="notice notice-success" role="status">'
        "You are subscribed to Weekly News again.</p>"
    ) in undone.text
    assert may_send(services, world, "news")
    back = events(services, world)[-1]
    assert (back.action, back.via, back.topic) == (Action.RESUBSCRIBE, "landing_page", "news")


def test_stop_everything_then_undo(client, services, world):
    response = leave(client, world.path, "everything")

    assert response.status_code == 200
    assert (
        "You are unsubscribed from all messages to a***@example.com, except service messages"
        in response.text
    )
    assert not may_send(services, world, "offers")
    assert may_send(services, world, "receipts")
    assert events(services, world)[-1].action is Action.SUPPRESS

    undone = client.post(
        f"{world.path}/undo", data={"form_token": form_token(response.text), "scope": "everything"}
    )

    assert undone.status_code == 200
    assert "Messages to a***@example.com are turned back on." in undone.text
    assert may_send(services, world, "offers")
    assert events(services, world)[-1].action is Action.UNSUPPRESS


def test_nothing_to_undo_is_a_conflict_page(client, services, world):
    token = form_token(client.get(world.path).text)
    before = events(services, world)

    response = client.post(f"{world.path}/undo", data={"form_token": token, "scope": "topic"})

    assert response.status_code == 409
    assert '<main id="error"' in response.text
    assert "There is nothing to undo" in response.text
    assert f'<a id="preferences-link" href="{world.path}/preferences">' in response.text
    assert events(services, world) == before


def test_undo_after_the_undo_period_is_a_conflict(client, clock, services, world):
    confirmation = leave(client, world.path, "topic").text
    clock.advance(timedelta(days=30))

    response = client.post(
        f"{world.path}/undo", data={"form_token": form_token(confirmation), "scope": "topic"}
    )

    assert response.status_code == 403  # the form itself has expired after 24 hours
    fresh = form_token(client.get(world.path).text)
    response = client.post(f"{world.path}/undo", data={"form_token": fresh, "scope": "topic"})
    assert response.status_code == 409
    assert not may_send(services, world, "news")


def test_a_service_message_link_offers_no_topic_button(client, services, world):
    path = link_for(services, world, topic="receipts", uid="m-receipt")

    html = client.get(path).text

    assert 'id="leave-topic"' not in html
    assert "Order Receipts are service messages to a***@example.com" in html
    assert 'id="leave-everything"' in html

    response = leave(client, path, "topic")
    assert response.status_code == 403
    assert "This cannot be turned off" in response.text
    assert may_send(services, world, "receipts")


def test_an_unknown_scope_is_a_400_page_naming_the_field(client, services, world):
    before = events(services, world)

    response = leave(client, world.path, "all")

    assert response.status_code == 400
    assert '<main id="error"' in response.text
    assert "Field scope: must be &#39;topic&#39; or &#39;everything&#39;" in response.text
    assert events(services, world) == before
