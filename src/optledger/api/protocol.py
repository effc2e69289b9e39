"""The HTTP/1.1 protocol `optledger serve` speaks: uvicorn's httptools protocol, bounded.

uvicorn's httptools protocol keeps every header field of a request head in memory
however many there are, and h11's bound on a head (`h11_max_incomplete_event_size`)
answers 400 rather than 431 and is the slower parser. So the protocol here counts the
head as it is parsed, as `optledger.api.headers` measures it, and on passing the cap
answers 431 (in the door's format, headers.py) and closes the connection: no more of the
head is read or kept. The ASGI middleware `HeaderLimits` holds the same cap for any
other server.
"""

import asyncio
from typing import Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from optledger.api.headers import refusal
from optledger.config import RequestLimits

__all__ = ["bounded_http_protocol"]

_STATUS_LINE: Final = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap."""


def bounded_http_protocol(limits: RequestLimits) -> type[asyncio.Protocol]:
    """The protocol class to hand uvicorn (`http=`) for `limits`' header caps."""
    max_headers = limits.max_headers
    max_bytes = limits.max_header_bytes

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _refused = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes = 0

        def on_url(self, url: bytes) -> None:
            # Kept before it is counted: the refusal needs the path to know the door.
            super().on_url(url)
            self._count(len(url))

        def on_header(self, name: bytes, value: bytes) -> None:
            if len(self.headers) >= max_headers:
                self._refuse()
            self._count(len(name) + len(value))
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            """uvicorn answers any error of the parser, a callback's included, with 400;
            the error raised by `_refuse` gets the 431 instead."""
            if not self._refused:
                super().send_400_response(msg)
                return
            path = self.url.split(b"?", 1)[0].decode("latin-1")
            media_type, body = refusal(path=path, max_headers=max_headers, max_bytes=max_bytes)
            self.transport.write(
                b"".join(
                    [
                        _STATUS_LINE,
                        b"content-type: " + media_type.encode() + b"\r\n",
                        b"content-length: " + str(len(body)).encode() + b"\r\n",
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
            self.transport.close()

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > max_bytes:
                self._refuse()

        def _refuse(self) -> None:
            self._refused = True
            raise _HeadTooLarge

    return BoundedHttpToolsProtocol
