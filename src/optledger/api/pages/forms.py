"""Reading the bodies the pages accept: small forms, urlencoded or multipart."""

from collections.abc import AsyncGenerator
from typing import Final

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from optledger.domain.links import ONE_CLICK_POST

__all__ = [
    "MAX_BODY_BYTES",
    "BodyTooLargeError",
    "is_one_click",
    "parse_form",
    "read_body",
]

MAX_BODY_BYTES: Final = 16 * 1024
_MAX_FIELDS: Final = 1_000
_FORM_TYPES: Final = frozenset({b"application/x-www-form-urlencoded", b"multipart/form-data"})
_ONE_CLICK_FIELD, _, _ONE_CLICK_VALUE = ONE_CLICK_POST.partition("=")
_URLENCODED: Final = b"application/x-www-form-urlencoded"
_ONE_CLICK_BODY: Final = ONE_CLICK_POST.encode()
"""RFC 8058's body, which a mail client sends urlencoded byte for byte: its form is known
without Starlette's `FormParser` (about a fifth of a one-click's event-loop time)."""


class BodyTooLargeError(Exception):
    """The request body is over MAX_BODY_BYTES."""


async def read_body(request: Request) -> bytes:
    """The whole body, refusing to read more than MAX_BODY_BYTES (BodyTooLargeError)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyTooLargeError
            chunks.append(chunk)
    except ClientDisconnect:
        return b""
    return b"".join(chunks)


async def parse_form(headers: Headers, body: bytes) -> FormData | None:
    """The fields of a urlencoded or multipart body; None for any other content type or
    a malformed body. A multipart body may not carry files."""
    media_type, _ = parse_options_header(headers.get("content-type"))
    if media_type not in _FORM_TYPES:
        return None
    if media_type == _URLENCODED and body == _ONE_CLICK_BODY:
        return FormData([(_ONE_CLICK_FIELD, _ONE_CLICK_VALUE)])

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        if media_type == b"multipart/form-data":
            return await MultiPartParser(
                headers, stream(), max_files=0, max_fields=_MAX_FIELDS
            ).parse()
        return await FormParser(headers, stream(), max_fields=_MAX_FIELDS).parse()
    except (MultiPartException, ValueError, KeyError):
        return None


def is_one_click(form: FormData | None) -> bool:
    """Whether the form is exactly RFC 8058's `List-Unsubscribe=One-Click`."""
    return form is not None and form.multi_items() == [(_ONE_CLICK_FIELD, _ONE_CLICK_VALUE)]
