"""The hosted pages (`/u/{token}`) in a real browser against the live server.

Every consent change a page makes is verified through the REST API, the way the sender
sees it: the decision of `GET /v1/checks` and the events of the contact's history.
Screenshots of every page in every tested language go to test-artifacts/screenshots/.
"""

import re
from typing import Any, Final

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    BRAND,
    CAMPAIGN,
    MARKETING,
    NEWSLETTER,
    PRODUCT_NEWS,
    RECEIPTS,
    TOPICS,
    LiveServer,
    PageFactory,
    Recipient,
    foreign_requests,
    save_screenshot,
)

LOCALES: Final = (
    *("en-US", "es-ES", "fr-FR", "it-IT", "de-DE", "nl-NL", "pt-BR", "pt-PT"),
    *("da-DK", "ru-RU", "fr-CA", "zh-CN", "ja-JP", "ko-KR", "sv-SE"),
)
TESTED_LOCALES: Final = ("fr-CA", "ja-JP", "de-DE")
"""Besides en-US, which every one of them is compared with."""
PAGES: Final = ("landing", "confirmation", "preferences", "invalid-link")
TOPIC_IDS: Final = {NEWSLETTER: 1, PRODUCT_NEWS: 2, RECEIPTS: 3}
"""The session's topics, created in this order in an empty database."""
CJK: Final = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
PHONE: Final = {"width": 390, "height": 844}
LANDING_PAGE: Final = "landing_page"
PREFERENCE_CENTRE: Final = "preference_centre"
"""The `via` of the consent events the landing page and the preference centre write."""

STOPPED_NOTE: Final = "Off while all marketing messages are stopped"
"""The note next to a marketing topic's switch while everything is stopped."""
SUBSCRIBED: Final = (True, "subscribed")
UNSUBSCRIBED: Final = (False, "unsubscribed")
SUPPRESSED: Final = (False, "suppressed")
TRANSACTIONAL: Final = (True, "transactional")
EVERYTHING_ON: Final = {NEWSLETTER: SUBSCRIBED, PRODUCT_NEWS: SUBSCRIBED, RECEIPTS: TRANSACTIONAL}


def html_lang(page: Page) -> str | None:
    return page.locator("html").get_attribute("lang")


def heading(page: Page) -> str:
    """The text of the page's one `<h1>`."""
    expect(page.locator("h1")).to_have_count(1)
    return " ".join(page.locator("h1").inner_text().split())


def with_lang(url: str, locale: str) -> str:
    return f"{url}?lang={locale}"


def new_events(server: LiveServer, recipient: Recipient, seen: int) -> list[dict[str, Any]]:
    return server.history(recipient)[seen:]


def assert_page_event(
    event: dict[str, Any],
    *,
    action: str,
    topic: str | None,
    state: str | None,
    recipient: Recipient,
    user_agent: str,
    via: str = LANDING_PAGE,
    locale: str | None = "en-US",
) -> None:
    """One event a hosted page wrote for `recipient`: attributed to its message, with the
    browser's IP and user agent."""
    assert event["action"] == action, event
    assert event["outcome"] == "changed", event
    assert event["channel"] == "email"
    assert event["address"] == recipient.address
    assert event["topic"] == topic
    assert event["state"] == state
    assert event["via"] == via, event
    assert event["locale"] == locale, event
    assert event["message_uid"] == recipient.message_uid
    assert event["campaign"] == CAMPAIGN
    assert event["ip"] == "127.0.0.1"
    assert event["user_agent"] == user_agent


def user_agent(page: Page) -> str:
    agent: str = page.evaluate("navigator.userAgent")
    return agent


# (a) Landing page: leave the topic, then undo ----------------------------------------------


def test_landing_leave_topic_then_undo(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    assert server.decisions(recipient) == EVERYTHING_ON
    seen = len(server.history(recipient))
    assert seen == 2  # the two REST subscriptions

    response = page.goto(recipient.unsubscribe_url)
    assert response is not None
    assert response.status == 200
    expect(page.locator("main#landing")).to_be_visible()
    assert html_lang(page) == "en-US"
    expect(page.locator("main#landing")).to_contain_text(TOPICS[NEWSLETTER]["name"])
    expect(page.locator("body")).to_contain_text(BRAND)
    assert recipient.address not in page.content(), "the page shows the address masked"
    expect(page.locator("#leave-topic")).to_be_visible()
    expect(page.locator("#leave-everything")).to_be_visible()
    expect(page.locator("#preferences-link")).to_be_visible()
    save_screenshot(page, "landing", "en-US")

    page.locator("#leave-topic").click()
    expect(page.locator("main#confirmation")).to_be_visible()
    assert server.check(recipient, NEWSLETTER) == UNSUBSCRIBED
    assert server.check(recipient, PRODUCT_NEWS) == SUBSCRIBED
    assert server.check(recipient, RECEIPTS) == TRANSACTIONAL
    expect(page.locator("#undo")).to_be_visible()

    page.locator("#undo").click()
    expect(page.locator("#undone")).to_be_visible()
    assert server.decisions(recipient) == EVERYTHING_ON

    agent = user_agent(page)
    left, undone = new_events(server, recipient, seen)
    assert_page_event(
        left,
        action="unsubscribe",
        topic=NEWSLETTER,
        state="unsubscribed",
        recipient=recipient,
        user_agent=agent,
    )
    assert_page_event(
        undone,
        action="resubscribe",
        topic=NEWSLETTER,
        state="subscribed",
        recipient=recipient,
        user_agent=agent,
    )


def test_landing_stop_everything_then_undo(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    page.goto(recipient.unsubscribe_url)
    page.locator("#leave-everything").click()
    expect(page.locator("main#confirmation")).to_be_visible()
    assert server.decisions(recipient) == {
        NEWSLETTER: SUPPRESSED,
        PRODUCT_NEWS: SUPPRESSED,
        RECEIPTS: TRANSACTIONAL,
    }
    page.goto(recipient.unsubscribe_url)
    expect(page.locator("main#landing .lead")).to_have_text(
        "You have stopped all messages to r***@example.com, except service messages such as "
        "receipts and security notices."
    )
    expect(page.locator("#stopped")).to_have_count(0)
    page.locator("#undo").click()
    expect(page.locator("#undone")).to_be_visible()
    assert server.decisions(recipient) == EVERYTHING_ON
    events = server.history(recipient)
    assert [e["action"] for e in events] == ["subscribe", "subscribe", "suppress", "unsuppress"]
    for event in events[2:]:
        assert_page_event(
            event,
            action=event["action"],
            topic=None,
            state=None,
            recipient=recipient,
            user_agent=user_agent(page),
        )


def test_one_click_post_from_the_list_unsubscribe_headers(
    server: LiveServer, recipient: Recipient
) -> None:
    """What a mail client does with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`."""
    agent = "Mozilla/5.0 (compatible; a mail client's one-click)"
    url = recipient.headers["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    assert url == recipient.unsubscribe_url
    response = httpx2.post(
        url,
        data={"List-Unsubscribe": "One-Click"},
        headers={"User-Agent": agent},
        follow_redirects=False,
    )
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers
    assert server.check(recipient, NEWSLETTER) == UNSUBSCRIBED
    assert server.check(recipient, PRODUCT_NEWS) == SUBSCRIBED
    *_, event = server.history(recipient)
    assert_page_event(
        event,
        action="unsubscribe",
        topic=NEWSLETTER,
        state="unsubscribed",
        recipient=recipient,
        user_agent=agent,
        via="one_click",
        locale=None,
    )


# (b) Preference centre -----------------------------------------------------------------------


def toggles(page: Page) -> dict[str, dict[str, Any]]:
    """Every checkbox of the preference form by field name: its id, label, state."""
    found: list[dict[str, Any]] = page.locator(
        "#preferences-form input[type=checkbox]"
    ).evaluate_all(
        """boxes => boxes.map(b => ({
            name: b.name,
            id: b.id,
            label: [...document.querySelectorAll('label')]
                .filter(l => l.htmlFor === b.id)
                .map(l => l.textContent.replace(/\\s+/g, ' ').trim()),
            checked: b.checked,
            disabled: b.disabled,
        }))"""
    )
    return {box["name"]: box for box in found}


def address_id(page: Page) -> int:
    """The id of the recipient's address, from the name of its stop-everything switch."""
    names = [n for n in toggles(page) if n.startswith("s.")]
    assert len(names) == 1, names
    return int(names[0].removeprefix("s."))


def field(address: int, topic: str) -> str:
    return f"t.{address}.{TOPIC_IDS[topic]}"


def checkbox(page: Page, name: str) -> Any:
    return page.locator(f"#{name.replace('.', '-')}")


def note(page: Page, name: str, kind: str) -> Any:
    """The hint that describes a switch (`aria-describedby`): `stopped` or `locked`."""
    return page.locator(f"#{name.replace('.', '-')}-{kind}")


def open_preferences(page: Page, recipient: Recipient) -> int:
    page.goto(recipient.unsubscribe_url)
    page.locator("#preferences-link").click()
    expect(page.locator("main#preferences")).to_be_visible()
    assert page.url.split("?")[0] == recipient.preferences_url
    return address_id(page)


def test_preference_centre_shows_every_topic_as_a_labelled_switch(
    page: Page, recipient: Recipient
) -> None:
    aid = open_preferences(page, recipient)
    save_screenshot(page, "preferences", "en-US")
    boxes = toggles(page)
    assert set(boxes) == {f"s.{aid}"} | {field(aid, t) for t in TOPICS}
    for name, box in boxes.items():
        assert box["id"] == name.replace(".", "-")
        assert len(box["label"]) == 1, f"{name} needs exactly one <label for>"
    for topic, spec in TOPICS.items():
        box = boxes[field(aid, topic)]
        assert spec["name"] in box["label"][0]
        assert box["checked"] is True
        assert box["disabled"] is (topic == RECEIPTS)
    assert boxes[f"s.{aid}"]["checked"] is False
    assert boxes[f"s.{aid}"]["disabled"] is False
    expect(page.locator("#save")).to_be_visible()
    expect(page.locator("#everything")).to_be_visible()
    expect(page.locator("#saved")).to_have_count(0)


STATE_AFTER: Final = {"unsubscribe": "unsubscribed", "resubscribe": "subscribed"}


def test_preference_centre_toggles_and_stop_all(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    aid = open_preferences(page, recipient)
    newsletter, product_news = field(aid, NEWSLETTER), field(aid, PRODUCT_NEWS)
    stop = f"s.{aid}"
    agent = user_agent(page)
    seen = len(server.history(recipient))

    def save(*changes: tuple[str, str | None]) -> None:
        """Save the form; the events it wrote must be exactly `changes` (in any order:
        they are one transaction)."""
        nonlocal seen
        page.locator("#save").click()
        expect(page.locator("#saved")).to_be_visible()
        events = new_events(server, recipient, seen)
        seen += len(events)
        assert sorted((e["action"], e["topic"] or "") for e in events) == sorted(
            (action, topic or "") for action, topic in changes
        ), events
        for event in events:
            assert_page_event(
                event,
                action=event["action"],
                topic=event["topic"],
                state=STATE_AFTER.get(event["action"]),
                recipient=recipient,
                user_agent=agent,
                via=PREFERENCE_CENTRE,
            )

    # Off: the newsletter.
    checkbox(page, newsletter).uncheck()
    save(("unsubscribe", NEWSLETTER))
    assert server.decisions(recipient) == {
        NEWSLETTER: UNSUBSCRIBED,
        PRODUCT_NEWS: SUBSCRIBED,
        RECEIPTS: TRANSACTIONAL,
    }
    boxes = toggles(page)
    assert (boxes[newsletter]["checked"], boxes[product_news]["checked"]) == (False, True)

    # On again, and product news off, in one save.
    checkbox(page, newsletter).check()
    checkbox(page, product_news).uncheck()
    save(("resubscribe", NEWSLETTER), ("unsubscribe", PRODUCT_NEWS))
    assert server.decisions(recipient) == {
        NEWSLETTER: SUBSCRIBED,
        PRODUCT_NEWS: UNSUBSCRIBED,
        RECEIPTS: TRANSACTIONAL,
    }

    # Saving without a change changes nothing.
    save()

    # Stop everything on the address: marketing stops, receipts still flow, and every
    # marketing switch shows what the address gets: off, locked, with a note.
    checkbox(page, stop).check()
    save(("suppress", None))
    assert server.decisions(recipient) == {
        NEWSLETTER: SUPPRESSED,
        PRODUCT_NEWS: UNSUBSCRIBED,
        RECEIPTS: TRANSACTIONAL,
    }
    boxes = toggles(page)
    assert (boxes[stop]["checked"], boxes[stop]["disabled"]) == (True, False)
    for name in (newsletter, product_news):
        assert (boxes[name]["checked"], boxes[name]["disabled"]) == (False, True)
        expect(note(page, name, "stopped")).to_have_text(STOPPED_NOTE)

    # Lift it: the topics come back as they were left, then product news goes back on.
    checkbox(page, stop).uncheck()
    save(("unsuppress", None))
    assert server.decisions(recipient) == {
        NEWSLETTER: SUBSCRIBED,
        PRODUCT_NEWS: UNSUBSCRIBED,
        RECEIPTS: TRANSACTIONAL,
    }
    boxes = toggles(page)
    assert (boxes[newsletter]["checked"], boxes[newsletter]["disabled"]) == (True, False)
    assert (boxes[product_news]["checked"], boxes[product_news]["disabled"]) == (False, False)
    expect(page.get_by_text(STOPPED_NOTE)).to_have_count(0)
    checkbox(page, product_news).check()
    save(("resubscribe", PRODUCT_NEWS))
    assert server.decisions(recipient) == EVERYTHING_ON

    events = server.history(recipient)
    assert len(events) == seen == 8
    assert server.address_history(recipient) == events


def test_a_complaint_is_stopped_neutrally_and_the_pages_cannot_lift_it(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    server.import_suppression(recipient, "complained")
    stopped = {NEWSLETTER: SUPPRESSED, PRODUCT_NEWS: SUPPRESSED, RECEIPTS: TRANSACTIONAL}
    assert server.decisions(recipient) == stopped
    masked = "r***@example.com"
    assert recipient.address.startswith("reader.")

    page.goto(recipient.unsubscribe_url)
    expect(page.locator("#stopped")).to_have_text(
        f"Messages to {masked} are stopped, except service messages such as receipts and "
        "security notices."
    )
    expect(page.locator("#contact-sender")).to_have_text(
        f"To get these messages again, contact {BRAND}."
    )
    for absent in ("#undo", "#leave-topic", "#leave-everything"):
        expect(page.locator(absent)).to_have_count(0)
    body = page.locator("main#landing").inner_text().lower()
    assert "you have stopped" not in body
    assert "complain" not in body
    save_screenshot(page, "landing-complaint", "en-US")

    aid = open_preferences(page, recipient)
    stop = f"s.{aid}"
    boxes = toggles(page)
    assert (boxes[stop]["checked"], boxes[stop]["disabled"]) == (True, True)
    for topic in MARKETING:
        name = field(aid, topic)
        assert (boxes[name]["checked"], boxes[name]["disabled"]) == (False, True)
        expect(note(page, name, "stopped")).to_have_text(STOPPED_NOTE)
    assert (boxes[field(aid, RECEIPTS)]["checked"], boxes[field(aid, RECEIPTS)]["disabled"]) == (
        True,
        True,
    )
    expect(note(page, stop, "locked")).to_have_text(
        "Marketing messages to this address are stopped, and this cannot be changed here."
    )
    save_screenshot(page, "preferences-complaint", "en-US")

    # The locked switches ignore clicks; saving changes nothing, nor does "everything".
    checkbox(page, stop).click(force=True)
    checkbox(page, field(aid, NEWSLETTER)).click(force=True)
    page.locator("#save").click()
    expect(page.locator("#saved")).to_have_text(
        "Your preferences are saved. Nothing needed to change."
    )
    page.locator("#everything").click()
    expect(page.locator("#saved")).to_have_text(
        "Your preferences are saved. Nothing needed to change."
    )
    assert server.decisions(recipient) == stopped
    assert [(e["action"], e["via"]) for e in server.history(recipient)] == [
        ("subscribe", "api"),
        ("subscribe", "api"),
        ("suppress", "api"),
    ]


def test_preference_centre_unsubscribe_from_everything(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    aid = open_preferences(page, recipient)
    page.locator("#everything").click()
    expect(page.locator("#saved")).to_be_visible()
    assert server.decisions(recipient) == {
        NEWSLETTER: SUPPRESSED,
        PRODUCT_NEWS: SUPPRESSED,
        RECEIPTS: TRANSACTIONAL,
    }
    assert toggles(page)[f"s.{aid}"]["checked"] is True
    assert [e["action"] for e in server.history(recipient)] == [
        "subscribe",
        "subscribe",
        "suppress",
    ]


def test_preference_centre_by_keyboard(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    aid = open_preferences(page, recipient)
    target = field(aid, PRODUCT_NEWS)

    def tab_to(wanted: str) -> None:
        page.locator("body").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.id") == wanted:
                return
        pytest.fail(f"Tab never reached #{wanted}")

    tab_to(target.replace(".", "-"))
    focus = checkbox(page, target).evaluate(
        """el => {
            const s = getComputedStyle(el);
            return {
                visible: el.matches(':focus-visible'),
                outline: s.outlineStyle !== 'none' && s.outlineWidth !== '0px',
                shadow: s.boxShadow !== 'none',
            };
        }"""
    )
    assert focus["visible"] is True
    assert focus["outline"] or focus["shadow"], f"no visible focus indicator: {focus}"

    page.keyboard.press("Space")
    expect(checkbox(page, target)).not_to_be_checked()
    page.keyboard.press("Space")
    expect(checkbox(page, target)).to_be_checked()
    page.keyboard.press("Space")
    expect(checkbox(page, target)).not_to_be_checked()

    tab_to("save")
    page.keyboard.press("Enter")
    expect(page.locator("#saved")).to_be_visible()
    assert server.decisions(recipient) == {
        NEWSLETTER: SUBSCRIBED,
        PRODUCT_NEWS: UNSUBSCRIBED,
        RECEIPTS: TRANSACTIONAL,
    }


def test_transactional_topic_cannot_be_turned_off(
    page: Page, server: LiveServer, recipient: Recipient
) -> None:
    aid = open_preferences(page, recipient)
    receipts = checkbox(page, field(aid, RECEIPTS))
    expect(receipts).to_be_disabled()
    expect(receipts).to_be_checked()
    receipts.click(force=True)
    expect(receipts).to_be_checked()
    page.locator("#save").click()
    expect(page.locator("#saved")).to_be_visible()
    assert server.decisions(recipient) == EVERYTHING_ON
    assert len(server.history(recipient)) == 2


# (c) Without JavaScript ----------------------------------------------------------------------


def test_leave_and_undo_without_javascript(
    new_page: PageFactory, server: LiveServer, recipient: Recipient
) -> None:
    page = new_page(java_script_enabled=False)
    page.goto(recipient.unsubscribe_url)
    expect(page.locator("main#landing")).to_be_visible()
    page.locator("#leave-topic").click()
    expect(page.locator("main#confirmation")).to_be_visible()
    assert server.check(recipient, NEWSLETTER) == UNSUBSCRIBED
    page.locator("#undo").click()
    expect(page.locator("#undone")).to_be_visible()
    assert server.decisions(recipient) == EVERYTHING_ON

    page.goto(recipient.preferences_url)
    expect(page.locator("main#preferences")).to_be_visible()
    page.locator("#everything").click()
    expect(page.locator("#saved")).to_be_visible()
    assert server.check(recipient, PRODUCT_NEWS) == SUPPRESSED
    assert [e["action"] for e in server.history(recipient)] == [
        "subscribe",
        "subscribe",
        "unsubscribe",
        "resubscribe",
        "suppress",
    ]


# (d) Languages -------------------------------------------------------------------------------


def visit_every_page(
    page: Page, server: LiveServer, recipient: Recipient, locale: str
) -> dict[str, str]:
    """Open each page in `locale`, screenshot it, and return its heading by page name."""
    headings: dict[str, str] = {}

    def arrive(name: str) -> None:
        expect(page.locator(f"main#{name}")).to_be_visible()
        assert html_lang(page) == locale, f"{name} page is not in {locale}"
        save_screenshot(page, name, locale)
        headings[name] = heading(page)

    page.goto(with_lang(recipient.unsubscribe_url, locale))
    arrive("landing")
    page.locator("#leave-topic").click()
    arrive("confirmation")
    assert server.check(recipient, NEWSLETTER) == UNSUBSCRIBED
    page.goto(with_lang(recipient.preferences_url, locale))
    arrive("preferences")
    response = page.goto(with_lang(f"{server.base_url}/u/this-is-not-a-link", locale))
    assert response is not None
    assert response.status == 404
    arrive("invalid-link")
    return headings


@pytest.fixture(scope="module")
def english_headings(browser: Browser, server: LiveServer) -> dict[str, str]:
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        headings = visit_every_page(page, server, server.new_recipient(), "en-US")
    finally:
        context.close()
    assert set(headings) == set(PAGES)
    assert all(headings.values()), headings
    return headings


@pytest.mark.parametrize("locale", TESTED_LOCALES)
def test_pages_in_another_language(
    new_page: PageFactory,
    server: LiveServer,
    recipient: Recipient,
    english_headings: dict[str, str],
    locale: str,
) -> None:
    page = new_page(locale="en-US")
    headings = visit_every_page(page, server, recipient, locale)
    for name in PAGES:
        assert headings[name] != english_headings[name], (name, headings[name])
    if locale == "ja-JP":
        assert all(CJK.search(text) for text in headings.values()), headings


def test_language_switcher(page: Page, recipient: Recipient) -> None:
    page.goto(recipient.unsubscribe_url)
    assert html_lang(page) == "en-US"
    english = heading(page)
    options = page.locator("select#lang option").evaluate_all("os => os.map(o => o.value)")
    assert sorted(options) == sorted(LOCALES)
    expect(page.locator("select#lang")).to_have_value("en-US")
    page.locator("select#lang").select_option("fr-CA")
    page.locator("#lang-go").click()
    expect(page.locator("main#landing")).to_be_visible()
    assert html_lang(page) == "fr-CA"
    assert "lang=fr-CA" in page.url
    assert heading(page) != english
    expect(page.locator("select#lang")).to_have_value("fr-CA")


# (e) Phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_phone_viewport_has_no_horizontal_scroll(
    new_page: PageFactory,
    server: LiveServer,
    recipient: Recipient,
    locale: str,
) -> None:
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)

    def fits(name: str) -> None:
        expect(page.locator(f"main#{name}")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} ({locale}) is {width} px wide"
        save_screenshot(page, f"phone-{name}", locale)

    page.goto(with_lang(recipient.unsubscribe_url, locale))
    fits("landing")
    page.locator("#leave-topic").click()
    fits("confirmation")
    page.goto(with_lang(recipient.preferences_url, locale))
    fits("preferences")
    page.goto(with_lang(f"{server.base_url}/u/not-a-link", locale))
    fits("invalid-link")


# (f) Nothing leaves the server's origin, and no scripts ---------------------------------------


def test_pages_load_nothing_from_elsewhere_and_have_no_scripts(
    new_page: PageFactory, server: LiveServer, recipient: Recipient
) -> None:
    page = new_page()
    visited: list[str] = []

    def no_script(name: str) -> None:
        expect(page.locator(f"main#{name}")).to_be_visible()
        visited.append(name)
        expect(page.locator("script")).to_have_count(0)
        inline = page.evaluate(
            """() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
                .filter(a => a.name.startsWith('on')
                    || /^\\s*javascript:/i.test(a.value))
                .map(a => e.tagName + ' ' + a.name))"""
        )
        assert inline == [], inline

    page.goto(recipient.unsubscribe_url)
    no_script("landing")
    page.locator("#leave-topic").click()
    no_script("confirmation")
    page.locator("#undo").click()
    expect(page.locator("#undone")).to_be_visible()
    page.goto(recipient.preferences_url)
    no_script("preferences")
    page.locator("#save").click()
    expect(page.locator("#saved")).to_be_visible()
    page.goto(f"{server.base_url}/u/not-a-link")
    no_script("invalid-link")

    assert visited == list(PAGES)
    assert new_page.requests, "no requests were recorded"
    assert foreign_requests(new_page.requests, server.origin) == []
