"""The protocol `optledger serve` speaks writes a response of known length in one write,
and otherwise exactly the bytes, in the order and at the moments, uvicorn's own would."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from optledger.api.protocol import bounded_http_protocol
from optledger.config import DEFAULT_LIMITS

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
GET = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


class Transport(asyncio.Transport):
    """Records each write (a `writelines` is one write: one `writev`)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def exchange(protocol_class: type[HttpToolsProtocol], app: App, request: bytes) -> Transport:
    async def run() -> Transport:
        state = ServerState()
        config = Config(app, log_level="critical", ws="none", server_header=False)
        protocol = protocol_class(config=config, server_state=state, app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        protocol.data_received(request)
        while state.tasks:
            await asyncio.gather(*state.tasks)
        protocol.connection_lost(None)
        return transport

    return asyncio.run(run())


async def sized(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b"})


async def failing_after_head(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    raise RuntimeError("gone")


async def ending_after_head(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )


async def sized_in_parts(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hel", "more_body": True})
    await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b"lo"})


BOUNDED = bounded_http_protocol(DEFAULT_LIMITS)


def test_a_response_of_known_length_is_one_write_of_the_bytes_uvicorn_writes():
    ours = exchange(BOUNDED, sized, GET)
    theirs = exchange(HttpToolsProtocol, sized, GET)

    assert len(theirs.writes) == 2
    assert ours.writes == [b"".join(theirs.writes)]
    assert ours.writes[0].endswith(b"\r\n\r\nhello")


def test_pipelined_requests_each_get_one_write():
    ours = exchange(BOUNDED, sized, GET * 3)

    assert len(ours.writes) == 3
    assert ours.writes == [b"".join(exchange(HttpToolsProtocol, sized, GET).writes)] * 3


@pytest.mark.parametrize(
    ("app", "request_"),
    [
        (sized, b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n"),
        (streamed, GET),
        (failing_after_head, GET),
        (ending_after_head, GET),
        (sized_in_parts, GET),
        (sized, b"GET /x HTTP/1.0\r\n\r\n"),
    ],
)
def test_every_other_answer_is_uvicorns_byte_for_byte(app, request_):
    ours = exchange(BOUNDED, app, request_)
    theirs = exchange(HttpToolsProtocol, app, request_)

    assert b"".join(ours.writes) == b"".join(theirs.writes)
    assert ours.closed == theirs.closed


def test_a_streamed_head_is_not_held_for_its_first_chunk():
    ours = exchange(BOUNDED, streamed, GET)
    theirs = exchange(HttpToolsProtocol, streamed, GET)

    assert ours.writes == theirs.writes
    assert ours.writes[0].endswith(b"\r\n\r\n")


def test_a_head_sent_before_a_failure_is_written_before_the_connection_closes():
    ours = exchange(BOUNDED, failing_after_head, GET)

    assert ours.closed
    assert ours.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
