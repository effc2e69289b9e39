"""The one-click body check answers exactly as the form parser would, and reads the
body RFC 8058 clients send without the parser."""

import asyncio

import pytest
from starlette.datastructures import Headers

from optledger.api.pages import forms
from optledger.api.pages.forms import is_one_click, is_one_click_body, parse_form

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = (
    b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n'
)
CASES = [
    (b"List-Unsubscribe=One-Click", URLENCODED),
    (b"List-Unsubscribe=One-Click", URLENCODED + "; charset=utf-8"),
    (b"List-Unsubscribe=One-Click", "Application/X-WWW-Form-Urlencoded"),
    (b"List-Unsubscribe=One%2DClick", URLENCODED),
    (b"List-Unsubscribe=One-Click&", URLENCODED),
    (b"List-Unsubscribe=One-Click ", URLENCODED),
    (b"List-Unsubscribe=One-Click&x=1", URLENCODED),
    (b"List-Unsubscribe=one-click", URLENCODED),
    (b"List-Unsubscribe=One-Click", None),
    (b"List-Unsubscribe=One-Click", "text/plain"),
    (b"List-Unsubscribe=One-Click", "multipart/form-data; boundary=b"),
    (b"", URLENCODED),
    (MULTIPART, "multipart/form-data; boundary=b"),
    (MULTIPART, URLENCODED),
]


def headers_of(content_type: str | None) -> Headers:
    return Headers({"content-type": content_type} if content_type is not None else {})


@pytest.mark.parametrize(("body", "content_type"), CASES)
def test_the_check_answers_as_the_parser_does(body, content_type):
    headers = headers_of(content_type)

    parsed = is_one_click(asyncio.run(parse_form(headers, body)))

    assert asyncio.run(is_one_click_body(headers, body)) is parsed


def test_the_exact_urlencoded_body_is_read_without_the_parser(monkeypatch):
    async def no_parser(*_args: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(forms, "parse_form", no_parser)

    assert asyncio.run(is_one_click_body(headers_of(URLENCODED), b"List-Unsubscribe=One-Click"))
    with pytest.raises(AssertionError, match="parsed"):
        asyncio.run(is_one_click_body(headers_of(URLENCODED + "; charset=utf-8"), b"x"))
