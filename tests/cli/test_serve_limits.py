"""Request limits of a real `optledger serve` (uvicorn with its httptools protocol), with
its default settings, driven over sockets from 127.0.0.1 and, as another client,
127.0.0.2: oversized request heads, a flood of wrong API keys, concurrent bulk checks
beside one-click opt-outs, and redirects with a hostile `Host`. One server process, whose
limits are the configured ones; how several share them is in test_serve_workers.py.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.cli.conftest import Run
from tests.live import free_port, wait_until_ready

ELSEWHERE = "127.0.0.2"
"""Another client address: the whole of 127.0.0.0/8 is the loopback on Linux."""
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
BULK = 10_000
HEAVY_CHECKERS = 8


@dataclass(frozen=True)
class Server:
    base: str
    port: int
    key: str
    """The admin key of the tenant `acme`, which has the opt-out topic `news`."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def server(run: Run, env: dict[str, str], tenant: dict, tmp_path: Path) -> Iterator[Server]:
    created = run("topic", "create", "--tenant", "acme", "news", "--name", "News")
    assert created.exit_code == 0, created.output
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "optledger", "serve", "--port", str(port), "--workers", "1"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("OPTLEDGER_")}, **env},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base, process)
        yield Server(base=base, port=port, key=tenant["api_key"])
    finally:
        process.terminate()
        process.wait(timeout=15)


def raw_exchange(port: int, head: bytes) -> bytes:
    """Send `head` on a new connection and read the answer until the server closes it.
    The server may close before it has read everything: that is the point."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(head)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def status_and_body(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *fields = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (f.partition(": ") for f in fields)}
    return status, headers, body


def test_a_one_megabyte_header_is_refused_with_431(server):
    head = b"GET /v1/topics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"

    status, headers, body = status_and_body(raw_exchange(server.port, head))

    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert json.loads(body) == {
        "type": "/problems/headers-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": "A request may have at most 100 header fields and 32768 bytes of request "
        "target and header fields.",
    }


def test_a_request_target_over_the_cap_is_refused_in_the_doors_format(server):
    """The cap counts the request target too; the answer still knows the door, however
    much of the target arrived before the cap was reached."""
    head = b"GET /v1/checks?address=" + b"%F0%9F%98%8D" * 8_200 + b" HTTP/1.1\r\nHost: x\r\n\r\n"

    status, headers, body = status_and_body(raw_exchange(server.port, head))

    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/headers-too-large"


def test_five_thousand_headers_are_refused_with_431(server):
    fields = b"".join(b"X-F%d: 1\r\n" % n for n in range(5000))
    head = b"POST /u/some-token HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"

    status, headers, body = status_and_body(raw_exchange(server.port, head))

    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"Request header fields too large.\n"


def test_the_server_still_answers_after_refusing_heads(server):
    for _ in range(20):
        raw_exchange(server.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n")

    assert httpx2.get(f"{server.base}/healthz").status_code == 200


def test_a_redirect_never_points_at_the_host_header(server):
    head = b"GET /u/some-token/?lang=fr HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"

    status, headers, _ = status_and_body(raw_exchange(server.port, head))

    assert status == "HTTP/1.1 307 Temporary Redirect"
    assert headers["location"] == "/u/some-token?lang=fr"


def test_wrong_keys_from_one_address_get_429_while_a_valid_key_elsewhere_works(server):
    elsewhere = httpx2.Client(
        base_url=server.base, transport=httpx2.HTTPTransport(local_address=ELSEWHERE)
    )
    with httpx2.Client(base_url=server.base) as attacker, elsewhere:
        started = time.monotonic()
        answers = [
            attacker.get("/v1/topics", headers={"Authorization": f"Bearer olk_wrong{n:04}"})
            for n in range(1000)
        ]
        elapsed = time.monotonic() - started
        valid_elsewhere = elsewhere.get("/v1/topics", headers=server.auth)
        valid_here = attacker.get("/v1/topics", headers=server.auth)

    statuses = [a.status_code for a in answers]
    assert statuses[:20] == [401] * 20
    assert answers[20].status_code == 429
    assert answers[20].json()["type"] == "/problems/rate-limited"
    # The bucket gives back one attempt every 3 seconds.
    assert statuses.count(401) <= 20 + 1 + int(elapsed / 3)
    assert set(statuses) == {401, 429}
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.headers["retry-after"] in {"1", "2", "3"}
    assert valid_elsewhere.status_code == 200
    assert valid_here.status_code == 429


def test_concurrent_bulk_checks_of_one_key_are_refused_beyond_one_and_one_click_works(server):
    with httpx2.Client(base_url=server.base, headers=server.auth, timeout=60) as client:
        registered = client.post(
            "/v1/messages",
            json={
                "messages": [
                    {"channel": "email", "address": f"r{n}@example.com", "topic": "news"}
                    for n in range(100)
                ]
            },
        )
    assert registered.status_code == 201, registered.text
    links = [
        m["unsubscribe_url"].removeprefix("http://127.0.0.1:8000")
        for m in registered.json()["messages"]
    ]
    body = {
        "topic": "news",
        "channel": "email",
        "addresses": [f"bulk{n}@example.com" for n in range(BULK)],
    }
    start = threading.Barrier(HEAVY_CHECKERS + 1)
    stop = threading.Event()
    checks: list[httpx2.Response] = []

    def check_in_bulk() -> None:
        with httpx2.Client(base_url=server.base, headers=server.auth, timeout=120) as client:
            start.wait()
            while not stop.is_set():
                answer = client.post("/v1/checks", json=body)
                checks.append(answer)
                if answer.status_code == 429:  # as a client should: wait as told
                    stop.wait(float(answer.headers["retry-after"]))

    threads = [threading.Thread(target=check_in_bulk) for _ in range(HEAVY_CHECKERS)]
    for thread in threads:
        thread.start()
    start.wait()
    try:
        with httpx2.Client(base_url=server.base, timeout=60) as mailbox:
            one_clicks = [mailbox.post(link, data=ONE_CLICK) for link in links]
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert [a.status_code for a in one_clicks] == [200] * len(links)
    assert {a.text for a in one_clicks} == {"Unsubscribed.\n"}
    statuses = [c.status_code for c in checks]
    assert set(statuses) == {200, 429}
    for refused in (c for c in checks if c.status_code == 429):
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "/problems/rate-limited"
    for done in (c for c in checks if c.status_code == 200):
        assert len(done.json()["results"]) == BULK
