"""The HTTP/1.1 protocol `optledger serve` speaks: uvicorn's httptools protocol, bounded,
writing each response's head together with its body.

uvicorn's httptools protocol keeps every header field of a request head in memory
however many there are, and h11's bound on a head (`h11_max_incomplete_event_size`)
answers 400 rather than 431 and is the slower parser. So the protocol here counts the
head as it is parsed, as `optledger.api.headers` measures it, and on passing the cap
answers 431 (in the door's format, headers.py) and closes the connection: no more of the
head is read or kept. The ASGI middleware `HeaderLimits` holds the same cap for any
other server.

uvicorn writes a response's head (status line and header fields) to the socket as soon as
the application sends `http.response.start`, and its body with the next message: two
`send` calls for every answer, which were the largest single cost of a check (about a
quarter of a worker's samples, BENCHMARKS.md "perf-check"). A head whose response declares
its `Content-Length` is held instead, and goes out in one `writev` with the first part of
the body (`_HeldHead`); the bytes on the wire are the same. A streamed (chunked) response
and the answer to `HEAD` still get their head at once, so a stream's first bytes never
wait for its first chunk. The ceilings of bench/ceilings are served with this same
protocol.
"""

import asyncio
from typing import Any, Final

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from optledger.api.headers import refusal
from optledger.config import RequestLimits

__all__ = ["bounded_http_protocol"]

_STATUS_LINE: Final = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap."""


class _HeldHead:
    """A response's transport while its head waits for the body: the first write (the
    head) is kept, the next one goes out with it in one `writev`; closing writes the head
    first. Then the cycle has its own transport back. uvicorn's cycle uses its transport
    for exactly these three calls."""

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, cycle: RequestResponseCycle, transport: asyncio.Transport) -> None:
        self._cycle = cycle
        self._transport = transport
        self._head: bytes | None = None

    @property
    def holds_head(self) -> bool:
        return self._head is not None

    def write(self, data: bytes) -> None:
        if self._head is None:
            self._head = data
            return
        self._transport.writelines((self._head, data))
        self.release(write=False)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def release(self, *, write: bool = True) -> None:
        """Give the cycle its transport back, writing the head kept unless `write` is
        False (it went out with the body)."""
        if write and self._head is not None and not self._transport.is_closing():
            self._transport.write(self._head)
        self._head = None
        self._cycle.transport = self._transport


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, holding the head of a response of known length
    until its body (see the module docstring)."""

    async def send(self, message: ASGISendEvent) -> None:
        # With writing not paused, uvicorn's start branch does not wait: nothing else can
        # write while the head is being made.
        if (
            message["type"] != "http.response.start"
            or self.response_started
            or self.scope["method"] == "HEAD"
            or self.flow.write_paused
        ):
            await super().send(message)
            return
        held = _HeldHead(self, self.transport)
        self.transport = held  # type: ignore[assignment]  # the three calls it makes
        try:
            await super().send(message)
        finally:
            if self.chunked_encoding is not False or not held.holds_head:
                held.release()


def bounded_http_protocol(limits: RequestLimits) -> type[asyncio.Protocol]:
    """The protocol class to hand uvicorn (`http=`) for `limits`' header caps."""
    max_headers = limits.max_headers
    max_bytes = limits.max_header_bytes

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_bytes = 0
        _refused = False

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            # uvicorn made the cycle; its task has not run yet, so the application only
            # ever sees this class's `send`.
            cycle: Any = self.cycle
            if type(cycle) is RequestResponseCycle:
                cycle.__class__ = _OneWriteCycle

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
