"""`ErrorGuard` on the ASGI level, and `describe`."""

import json
import logging
import re

import anyio
import pytest
from sqlalchemy.exc import DataError

from optledger.api.guard import ErrorGuard, describe
from optledger.outbound.sealer import AesGcmResponseSealer

CANARY = "canary.person@example.org"


def run(app, path: str) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    anyio.run(ErrorGuard(app), scope, receive, send)
    return sent


async def failing(scope, receive, send) -> None:
    raise RuntimeError(f"the message holds {CANARY}")


def error_line(caplog) -> str:
    (record,) = caplog.records
    assert (record.name, record.levelno, record.exc_info) == (
        "optledger.api.guard",
        logging.ERROR,
        None,
    )
    return record.getMessage()


@pytest.mark.parametrize("path", ["/v1/unsubscribe", "/healthz", "/docs"])
def test_an_api_path_gets_a_problem_and_one_line(caplog, path):
    with caplog.at_level(logging.DEBUG, logger="optledger"):
        start, body = run(failing, path)

    assert start["status"] == 500
    assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
    problem = json.loads(body["body"])
    error_id = problem["error_id"]
    assert problem == {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": f"An unexpected error; it is logged with error id {error_id}.",
        "error_id": error_id,
    }
    assert error_line(caplog) == f"request failed, error id {error_id}: RuntimeError"
    assert CANARY not in caplog.text


@pytest.mark.parametrize("path", ["/u/sometoken", "/u"])
def test_a_page_path_gets_plain_text(caplog, path):
    with caplog.at_level(logging.DEBUG, logger="optledger"):
        start, body = run(failing, path)

    assert start["status"] == 500
    assert dict(start["headers"]) == {
        b"content-type": b"text/plain; charset=utf-8",
        b"content-length": str(len(body["body"])).encode(),
        b"cache-control": b"no-store",
        b"x-content-type-options": b"nosniff",
    }
    (error_id,) = re.fullmatch(
        rb"Internal server error \(error id ([0-9a-f]{16})\)\.\n", body["body"]
    ).groups()
    assert error_line(caplog) == f"request failed, error id {error_id.decode()}: RuntimeError"


def test_after_the_response_started_it_only_logs(caplog):
    async def half(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError(CANARY)

    with caplog.at_level(logging.DEBUG, logger="optledger"):
        sent = run(half, "/v1/x")

    assert sent == [{"type": "http.response.start", "status": 200, "headers": []}]
    assert re.fullmatch("request failed, error id [0-9a-f]{16}: RuntimeError", error_line(caplog))


def test_other_scopes_pass_through():
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])

    anyio.run(ErrorGuard(app), {"type": "lifespan"}, None, None)
    assert seen == ["lifespan"]


def test_describe_names_the_type_and_the_innermost_optledger_line():
    with pytest.raises(ValueError, match="32 bytes") as raised:
        AesGcmResponseSealer(CANARY.encode())

    assert re.fullmatch(
        r"ValueError at optledger/outbound/sealer\.py:[0-9]+", describe(raised.value)
    )


def test_describe_never_carries_the_message():
    error = DataError("INSERT … VALUES (%(actor)s)", {"actor": CANARY}, ValueError("NUL"))

    assert describe(error) == "sqlalchemy.exc.DataError"
    assert describe(ExceptionGroup("group", [KeyError(CANARY)])) == "KeyError"
    assert describe(ExceptionGroup("group", [KeyError(1), OSError(2)])) == "ExceptionGroup"
