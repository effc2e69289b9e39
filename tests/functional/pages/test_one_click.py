"""RFC 8058 one-click: `POST /u/{token}` with exactly `List-Unsubscribe=One-Click`."""

import pytest

from optledger.domain.model import Action, Outcome
from tests.functional.pages.conftest import EMAIL, events, link_for, may_send

URLENCODED = "application/x-www-form-urlencoded"
DONE = "Unsubscribed.\n"
BAD = "Bad request: the body must be List-Unsubscribe=One-Click\n"


def multipart(*fields: tuple[str, str], boundary: str = "b0undary7MA4YWxk") -> tuple[bytes, str]:
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    return f"{parts}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


ONE_CLICK_MULTIPART = multipart(("List-Unsubscribe", "One-Click"))
ENCODINGS = {
    "urlencoded": (b"List-Unsubscribe=One-Click", URLENCODED),
    "multipart": ONE_CLICK_MULTIPART,
}


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribes_at_once_and_says_so_in_plain_text(
    client, services, world, encoding
):
    assert may_send(services, world, "news")
    body, content_type = ENCODINGS[encoding]

    response = client.post(
        world.path,
        content=body,
        headers={"Content-Type": content_type, "User-Agent": "Mailbox/1.0", "X-Request-Id": "r-9"},
    )

    assert response.status_code == 200
    assert response.text == DONE
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers
    assert not may_send(services, world, "news")
    assert may_send(services, world, "offers")  # only the link's topic
    last = events(services, world)[-1]
    assert (last.action, last.outcome, last.topic, last.via) == (
        Action.UNSUBSCRIBE,
        Outcome.CHANGED,
        "news",
        "one_click",
    )
    assert last.message_uid == "m-1"
    assert last.address == EMAIL
    assert (last.user_agent, last.request_id, last.ip) == ("Mailbox/1.0", "r-9", "testclient")


def test_repeating_one_click_records_repeats_and_answers_the_same(client, services, world):
    before = len(events(services, world))

    answers = {
        (r.status_code, r.text)
        for r in (
            client.post(
                world.path, content=ENCODINGS["urlencoded"][0], headers={"Content-Type": URLENCODED}
            )
            for _ in range(10)
        )
    }

    assert answers == {(200, DONE)}
    new = events(services, world)[before:]
    assert [e.outcome for e in new] == [Outcome.CHANGED] + [Outcome.REPEATED] * 9
    assert {(e.action, e.via, e.message_uid) for e in new} == {
        (Action.UNSUBSCRIBE, "one_click", "m-1")
    }


BAD_BODIES = {
    "empty": (b"", URLENCODED),
    "no content type": (b"List-Unsubscribe=One-Click", None),
    "text/plain": (b"List-Unsubscribe=One-Click", "text/plain"),
    "json": (b'{"List-Unsubscribe": "One-Click"}', "application/json"),
    "extra field": (b"List-Unsubscribe=One-Click&x=1", URLENCODED),
    "field twice": (b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click", URLENCODED),
    "wrong value": (b"List-Unsubscribe=Yes", URLENCODED),
    "wrong case": (b"List-Unsubscribe=one-click", URLENCODED),
    "wrong name": (b"Unsubscribe=One-Click", URLENCODED),
    "no value": (b"List-Unsubscribe", URLENCODED),
    "multipart extra field": multipart(("List-Unsubscribe", "One-Click"), ("a", "b")),
    "multipart wrong value": multipart(("List-Unsubscribe", "Two-Clicks")),
    "multipart without boundary": (ONE_CLICK_MULTIPART[0], "multipart/form-data"),
    "multipart garbage": (b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
    "multipart file": (
        b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"; filename="f"\r\n'
        b"Content-Type: text/plain\r\n\r\nOne-Click\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
    ),
}


def test_any_other_body_is_refused_and_changes_nothing(client, services, world):
    before = events(services, world)

    for case, (body, content_type) in BAD_BODIES.items():
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post(world.path, content=body, headers=headers)

        assert (response.status_code, response.text) == (400, BAD), case
        assert response.headers["content-type"] == "text/plain; charset=utf-8", case
    assert events(services, world) == before
    assert may_send(services, world, "news")


def test_a_body_over_16_kib_is_refused(client, services, world):
    before = events(services, world)
    body = b"List-Unsubscribe=One-Click&pad=" + b"x" * (16 * 1024)

    response = client.post(world.path, content=body, headers={"Content-Type": URLENCODED})

    assert response.status_code == 413
    assert events(services, world) == before


def test_a_bad_token_is_not_found_in_plain_text(client, world):
    response = client.post(
        world.path[:-2], content=b"List-Unsubscribe=One-Click", headers={"Content-Type": URLENCODED}
    )

    assert (response.status_code, response.text) == (404, "Not found.\n")


def test_a_topic_that_cannot_be_left_is_forbidden(client, services, world):
    path = link_for(services, world, topic="receipts", uid="m-receipt")
    before = events(services, world)

    response = client.post(
        path, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": URLENCODED}
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert events(services, world) == before


def test_a_long_user_agent_is_cut_to_500_characters(client, services, world):
    client.post(
        world.path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": URLENCODED, "User-Agent": "u" * 900},
    )

    assert events(services, world)[-1].user_agent == "u" * 500
