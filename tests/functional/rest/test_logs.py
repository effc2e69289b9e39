"""No log line carries request parameters or personal data: a real uvicorn server, set up
as `optledger serve` sets it up at log level `debug`, on SQLite and PostgreSQL.

Issue 8, item 9: the logged error of a NUL character on PostgreSQL carried the query
parameters, so an email address appeared in clear in the log, and every unexpected
error was printed as a traceback with its message.

Canaries (addresses, a phone number, API key secrets, a confirmation token, a link token,
an actor) are sent in bodies, paths, query strings and headers, by requests that succeed,
fail validation, fail inside (a forced error whose message holds a canary) or are not
even valid HTTP; none of them may appear in anything the server prints.
"""

import io
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from optledger.api import create_app
from optledger.cli.serve import uvicorn_options
from tests.functional.rest.conftest import bearer, create_topic

EMAIL = "canary.person+logs@example.org"
PHONE = "+14155550123"
ACTOR = "canary-actor-7f3a"
LINK_TOKEN = "canarylinktoken0123456789"
UNKNOWN_KEY = "olk_canaryUnknownKey0123456789abcdef"
_LOGGERS = ("optledger", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """uvicorn applies its logging configuration to the process: put it back after."""
    root = logging.getLogger()
    saved_root = (root.level, root.handlers[:])
    saved = {
        name: (logger.level, logger.handlers[:], logger.propagate, logger.disabled)
        for name in _LOGGERS
        for logger in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, (level, handlers, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled


@pytest.fixture
def server(services, restored_logging) -> Iterator[tuple[str, io.StringIO]]:
    """The app served by uvicorn in a thread, with `optledger serve`'s options at debug;
    `GET /v1/topics` fails inside with a message that holds a canary.
    Yields its URL and what its logging configuration prints (its stderr handler is
    pointed at a buffer)."""

    def broken(**_kwargs: object) -> None:
        raise RuntimeError(f"failed for {EMAIL} with {PHONE}")

    services.topics.list_topics = broken  # type: ignore[method-assign]
    app = create_app(services=services, ready=lambda: True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options("debug"))
    printed = io.StringIO()
    (stderr,) = logging.getLogger().handlers
    assert isinstance(stderr, logging.StreamHandler)
    stderr.setStream(printed)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not running.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", printed
    finally:
        running.should_exit = True
        thread.join(10)


def status_of(http: httpx2.Client, method: str, path: str, options: dict) -> int | None:
    """The response's status; None if the server dropped the connection instead."""
    try:
        return http.request(method, path, **options).status_code
    except httpx2.TransportError:
        return None


def send_raw(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        return connection.recv(65536)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_no_canary_reaches_the_log(server, acme):
    base, printed_by_serve = server
    # Every record any logger of the server makes, at DEBUG, is captured besides what the
    # serve configuration prints. (pytest's own log capture is left out: it attaches
    # itself to uvicorn's access logger, which would turn the access log on.)
    records = Records()
    root = logging.getLogger()
    root.handlers.insert(0, records)  # before serve's handler: the records as they are made
    root.setLevel(logging.DEBUG)
    with httpx2.Client(base_url=base, timeout=10) as http:
        create_topic(http, acme, "news", double_opt_in=True, channels=["email", "sms"])
        subscribed = http.post(
            "/v1/subscriptions",
            json={"channel": "email", "address": EMAIL, "topic": "news", "actor": ACTOR},
            headers=acme.writer,
        )
        token = subscribed.json()["confirmation_token"]
        created = http.post(
            "/v1/api-keys",
            json={"name": "crm", "scope": "write"},
            headers={**acme.admin, "Idempotency-Key": "canary-key-1"},
        )
        new_secret = created.json()["secret"]
        statuses = [
            subscribed.status_code,
            created.status_code,
            *(
                status_of(http, method, path, options)
                for method, path, options in [
                    (
                        "POST",
                        "/v1/unsubscribe",
                        {
                            "json": {
                                "address": {"channel": "sms", "address": PHONE},
                                "actor": ACTOR,
                            },
                            "headers": acme.writer,
                        },
                    ),
                    (  # NUL: a 500 on PostgreSQL before, its log line quoting the parameters
                        "POST",
                        "/v1/unsubscribe",
                        {
                            "json": {
                                "address": {"channel": "email", "address": EMAIL},
                                "actor": f"\x00{ACTOR}",
                            },
                            "headers": acme.writer,
                        },
                    ),
                    (
                        "POST",
                        "/v1/subscriptions/confirm",
                        {"json": {"token": token}, "headers": bearer(new_secret)},
                    ),
                    ("GET", "/v1/topics", {"headers": acme.checker}),  # fails inside
                    (
                        "GET",
                        "/v1/checks",
                        {
                            "params": {"topic": "news", "channel": "email", "address": EMAIL},
                            "headers": acme.checker,
                        },
                    ),
                    ("GET", f"/v1/contacts/{EMAIL}", {"headers": acme.admin}),
                    ("GET", "/v1/topics", {"headers": bearer(UNKNOWN_KEY)}),
                    ("GET", f"/u/{LINK_TOKEN}", {}),
                    (
                        "POST",
                        "/v1/unsubscribe",
                        {
                            "content": f'{{"contact": "{EMAIL}\xe9"}}'.encode("latin-1"),
                            "headers": {**acme.writer, "Content-Type": "application/json"},
                        },
                    ),
                ]
            ),
        ]
    # Not HTTP at all: the parser's error would quote the bytes it could not read.
    bad_request = send_raw(
        base, f"GET /v1/topics HTTP/1.1\r\nHost: x\r\nX-\x01: {EMAIL}\r\n\r\n".encode()
    )

    root.removeHandler(records)
    client = ("httpx", "httpcore")  # the test's own HTTP client, which logs its URLs
    printed = "\n".join(
        line
        for line in printed_by_serve.getvalue().splitlines()
        if not re.match(r"\S+ \S+ [A-Z]+ (httpx|httpcore)", line)
    )
    server_side = [r for r in records.records if not r.name.startswith(client)]
    assert [r for r in server_side if r.exc_info or r.stack_info] == []
    logged = printed + "\n".join(f"{r.name} {r.getMessage()}" for r in server_side)
    secrets = [acme.admin["Authorization"].split()[1], new_secret, token, UNKNOWN_KEY]
    for canary in (
        EMAIL,
        EMAIL.split("@", maxsplit=1)[0],
        PHONE,
        PHONE[2:],
        ACTOR,
        LINK_TOKEN,
        *secrets,
    ):
        assert canary not in logged
    assert "Traceback" not in logged
    errors = [r.getMessage() for r in server_side if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("request failed, error id ")
    assert errors[0] in printed  # printed too, by serve's configuration
    assert "Uvicorn running on http://127.0.0.1:" in printed
    assert statuses == [200, 201, 200, 422, 200, 500, 200, 404, 401, 404, 400]
    assert bad_request.startswith(b"HTTP/1.1 400 ")
