"""The pages of an address whose messages are stopped: they tell who stopped them only
when it was the person, offer to undo only the person's own stop, never lift a
complaint, a bounce or the operator's suppression, and show each topic's effective
state under "stop all"."""

import pytest

from optledger.domain.model import Action, Outcome, Provenance
from tests.functional.pages.conftest import (
    PHONE,
    events,
    form_token,
    may_send,
    post_form,
)
from tests.functional.pages.test_preferences import fields, save

IMPORT = Provenance(via="import", actor="cli")
NEUTRAL = (
    '<p class="lead" id="stopped">Messages to a***@example.com are stopped, except service '
    "messages such as receipts and security notices.</p>"
)
CONTACT = (
    '<p class="hint" id="contact-sender">To get these messages again, contact Acme Outdoor.</p>'
)
OWN = (
    '<p class="lead">You have stopped all messages to a***@example.com, except service '
    "messages such as receipts and security notices.</p>"
)
LOCKED_STOP = (
    '<input class="switch" type="checkbox" role="switch" id="s-1" name="s.1" disabled checked '
    'aria-describedby="s-1-locked s-1-contact">'
)
NOT_THE_PERSONS = ["complained", "spam_complaint", "bounced", "hard_bounce", "imported"]


def import_suppression(services, world, reason: str) -> None:
    report = services.suppressions.import_csv(
        tenant_id=world.tenant_id,
        chunks=[f"email,reason\nalice.smith@example.com,{reason}\n".encode()],
        skip_invalid=False,
        provenance=IMPORT,
    )
    assert (report.changed, report.errors) == (1, ())


def switch(field: str, *, attributes: str) -> str:
    return (
        f'<input class="switch" type="checkbox" role="switch" id="{field.replace(".", "-")}" '
        f'name="{field}"{attributes}>'
    )


@pytest.mark.parametrize("reason", NOT_THE_PERSONS)
def test_a_suppression_the_person_did_not_make_is_described_neutrally(
    client, services, world, reason
):
    import_suppression(services, world, reason)

    response = client.get(world.path)

    assert response.status_code == 200
    html = response.text
    assert NEUTRAL in html
    assert CONTACT in html
    assert "You have stopped" not in html
    assert 'id="undo"' not in html
    assert f'action="{world.path}/undo"' not in html
    assert 'id="leave-topic"' not in html
    assert 'id="leave-everything"' not in html
    assert f'<a id="preferences-link" href="{world.path}/preferences">' in html
    for word in ("complain", "spam", "bounce", "import"):
        assert word not in html.lower()


@pytest.mark.parametrize("reason", NOT_THE_PERSONS)
def test_a_crafted_undo_cannot_lift_it(client, services, world, reason):
    import_suppression(services, world, reason)
    token = form_token(client.get(f"{world.path}/preferences").text)  # the landing has no form
    before = events(services, world)

    response = client.post(f"{world.path}/undo", data={"form_token": token, "scope": "everything"})

    assert response.status_code == 409
    assert "<h1>There is nothing to undo</h1>" in response.text
    assert not may_send(services, world, "offers")
    assert not may_send(services, world, "news")
    assert events(services, world) == before


def test_the_centre_shows_a_complaint_locked_and_every_marketing_topic_off(client, services, world):
    import_suppression(services, world, "complained")
    news, offers, receipts = (world.topic_ids[k] for k in ("news", "offers", "receipts"))

    html = client.get(f"{world.path}/preferences").text

    assert fields(html) == (
        ["s.2", f"t.2.{offers}", f"t.2.{news}"],
        [f"t.2.{offers}", f"t.2.{news}"],
    )
    assert LOCKED_STOP in html
    assert (
        '<p class="hint" id="s-1-locked">Marketing messages to this address are stopped, '
        "and this cannot be changed here.</p>"
    ) in html
    assert (
        '<p class="hint" id="s-1-contact">To get these messages again, contact Acme Outdoor.</p>'
    ) in html
    for topic in (offers, news):
        field = f"t.1.{topic}"
        note = f"t-1-{topic}-stopped"
        assert switch(field, attributes=f' disabled aria-describedby="{note}"') in html
        assert (
            f'<span class="hint toggle-hint" id="{note}">'
            "Off while all marketing messages are stopped</span>"
        ) in html
    assert (
        switch(
            f"t.1.{receipts}",
            attributes=f' disabled checked aria-describedby="t-1-{receipts}-locked"',
        )
        in html
    )
    assert "Turn this switch off" not in html
    assert html.count("Off while all marketing messages are stopped") == 2
    for word in ("complain", "spam", "bounce"):
        assert word not in html.lower()


def test_a_crafted_save_cannot_lift_a_complaint(client, services, world):
    import_suppression(services, world, "complained")
    html = client.get(f"{world.path}/preferences").text
    before = events(services, world)

    response = post_form(
        client, f"{world.path}/preferences", [("form_token", form_token(html)), ("shown", "s.1")]
    )

    assert response.status_code == 409
    assert '<main id="error"' in response.text
    assert "<h1>This cannot be changed here</h1>" in response.text
    assert (
        '<p class="lead">Messages to this address are stopped, so nothing was changed.</p>'
        in response.text
    )
    assert f'<a id="preferences-link" href="{world.path}/preferences">' in response.text
    assert not may_send(services, world, "offers")
    assert events(services, world) == before


def test_saving_the_centre_as_shown_leaves_a_complaint_alone(client, services, world):
    import_suppression(services, world, "complained")
    html = client.get(f"{world.path}/preferences").text
    offers = world.topic_ids["offers"]
    email_before = events(services, world)

    response = save(client, world, html, on=[n for n in fields(html)[1] if n != f"t.2.{offers}"])

    assert response.status_code == 200
    assert "Your preferences are saved: 1 change." in response.text
    everything = save(client, world, response.text, on=fields(response.text)[1], everything="1")
    assert "Your preferences are saved: 1 change." in everything.text
    assert LOCKED_STOP in everything.text
    assert not may_send(services, world, "offers")
    assert not may_send(services, world, "offers", PHONE)
    assert events(services, world) == email_before
    assert [(e.action, e.topic) for e in events(services, world, PHONE)][-2:] == [
        (Action.UNSUBSCRIBE, "offers"),
        (Action.SUPPRESS, None),
    ]


def test_under_the_persons_own_stop_topics_are_off_until_it_is_lifted(client, services, world):
    news, offers = world.topic_ids["news"], world.topic_ids["offers"]
    html = client.get(f"{world.path}/preferences").text
    stopped = save(client, world, html, on=[*fields(html)[1], "s.1"])
    assert "Your preferences are saved: 1 change." in stopped.text
    html = stopped.text

    assert switch("s.1", attributes=" checked") in html
    assert (
        '<p class="hint">Turn this switch off and save to get the topics you had chosen again.</p>'
    ) in html
    for topic in (offers, news):
        assert (
            switch(f"t.1.{topic}", attributes=f' disabled aria-describedby="t-1-{topic}-stopped"')
            in html
        )
    assert fields(html) == (
        ["s.1", "s.2", f"t.2.{offers}", f"t.2.{news}"],
        ["s.1", f"t.2.{offers}", f"t.2.{news}"],
    )

    resumed = save(client, world, html, on=[n for n in fields(html)[1] if n != "s.1"])

    assert "Your preferences are saved: 1 change." in resumed.text
    last = events(services, world)[-1]
    assert (last.action, last.outcome, last.via, last.topic) == (
        Action.UNSUPPRESS,
        Outcome.CHANGED,
        "preference_centre",
        None,
    )
    assert may_send(services, world, "offers")
    assert may_send(services, world, "news")
    assert switch("s.1", attributes="") in resumed.text
    assert switch(f"t.1.{offers}", attributes=" checked") in resumed.text
    assert switch(f"t.1.{news}", attributes=" checked") in resumed.text
    assert "Off while all marketing messages are stopped" not in resumed.text


def test_a_crafted_topic_switch_under_stop_all_is_refused(client, services, world):
    offers = world.topic_ids["offers"]
    html = client.get(f"{world.path}/preferences").text
    stopped = save(client, world, html, on=["s.1"], shown=["s.1"]).text
    before = events(services, world)

    response = post_form(
        client,
        f"{world.path}/preferences",
        [("form_token", form_token(stopped)), ("shown", f"t.1.{offers}"), (f"t.1.{offers}", "on")],
    )

    assert response.status_code == 409
    assert "<h1>This cannot be changed here</h1>" in response.text
    assert events(services, world) == before
    assert not may_send(services, world, "offers")


def test_a_complaint_after_the_persons_own_stop_takes_the_undo_away(client, services, world):
    page = client.get(world.path).text
    confirmation = client.post(
        f"{world.path}/leave", data={"form_token": form_token(page), "scope": "everything"}
    ).text
    assert 'id="undo"' in confirmation
    assert OWN in client.get(world.path).text

    import_suppression_again = services.suppressions.import_csv(
        tenant_id=world.tenant_id,
        chunks=[b"email,reason\nalice.smith@example.com,complained\n"],
        skip_invalid=False,
        provenance=IMPORT,
    )
    assert import_suppression_again.repeated == 1

    landing = client.get(world.path).text
    assert NEUTRAL in landing
    assert 'id="undo"' not in landing
    token = form_token(client.get(f"{world.path}/preferences").text)
    response = client.post(f"{world.path}/undo", data={"form_token": token, "scope": "everything"})
    assert response.status_code == 409
    assert not may_send(services, world, "offers")


def test_an_imported_unsubscribe_is_the_persons_own(client, services, world):
    import_suppression(services, world, "unsubscribed")

    html = client.get(world.path).text

    assert OWN in html
    assert "You can undo this until February 4, 2026." in html
    undone = client.post(
        f"{world.path}/undo", data={"form_token": form_token(html), "scope": "everything"}
    )
    assert undone.status_code == 200
    assert may_send(services, world, "offers")


def test_the_neutral_words_are_translated(client, services, world):
    import_suppression(services, world, "hard_bounce")

    html = client.get(f"{world.path}?lang=de-DE").text

    assert (
        '<p class="lead" id="stopped">Nachrichten an a***@example.com sind gestoppt \u2013 mit '
        "Ausnahme von Servicenachrichten wie Zahlungsbelegen und Sicherheitshinweisen.</p>"
    ) in html
    assert (
        '<p class="hint" id="contact-sender">Wenn Sie diese Nachrichten wieder erhalten '
        "möchten, wenden Sie sich an Acme Outdoor.</p>"
    ) in html
