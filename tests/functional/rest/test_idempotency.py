"""`Idempotency-Key` end to end: IdempotencyMiddleware in front of a tiny app whose one
write route calls the real `services.subscriptions.unsubscribe`, over SQLite and
PostgreSQL, so "nothing is written again" is checked on the ledger itself.

The app is built here rather than taken from `create_app`, so these tests pin the
middleware's contract independently of the REST routes.
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.routing import Router
from starlette.testclient import TestClient

from optledger.api.rest.idempotency import MAX_BODY, IdempotencyMiddleware
from optledger.domain.channels import Channel
from optledger.domain.errors import AuthenticationFailed
from optledger.domain.model import Provenance, Scope
from optledger.services import Services
from optledger.services.targets import AddressTarget
from tests.builders import service_context
from tests.fakes import FrozenClock

URL = "/v1/unsubscribe"
BODY = {"address": "ann@example.com"}


@dataclass
class Hooks:
    """What the test app's routes do besides their work, set per test."""

    calls: int = 0
    delay: float = 0.0
    fail_next: int = 0
    raise_next: int = 0
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_app(services: Services, hooks: Hooks) -> FastAPI:
    app = FastAPI()
    app.add_middleware(IdempotencyMiddleware, services=services, router=app.router)

    async def tenant_of(request: Request) -> int | None:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            principal = await run_in_threadpool(services.tenants.authenticate, secret=secret)
        except AuthenticationFailed:
            return None
        return principal.tenant_id

    def unauthenticated() -> JSONResponse:
        return JSONResponse(
            {"type": "/problems/unauthenticated", "status": 401},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.post(URL)
    async def unsubscribe(request: Request) -> Response:
        tenant_id = await tenant_of(request)
        if tenant_id is None:
            return unauthenticated()
        payload = await request.json()

        def work() -> list[dict[str, object]]:
            with hooks.lock:
                hooks.calls += 1
            if hooks.gate is not None:
                hooks.entered.set()
                assert hooks.gate.wait(10)
            time.sleep(hooks.delay)
            result = services.subscriptions.unsubscribe(
                tenant_id=tenant_id,
                target=AddressTarget(channel=Channel.EMAIL, address=payload["address"]),
                topics=None,
                provenance=Provenance(
                    via="api", idempotency_key=request.headers.get("idempotency-key")
                ),
            )
            return [
                {"event_id": c.event_id, "outcome": c.outcome.value, "address": c.address}
                for c in result.changes
            ]

        changes = await run_in_threadpool(work)
        if hooks.raise_next:
            hooks.raise_next -= 1
            raise RuntimeError("boom after the write")
        if hooks.fail_next:
            hooks.fail_next -= 1
            return JSONResponse({"type": "/problems/internal", "status": 500}, status_code=500)
        # A nonce: a second run could never produce the same bytes, only a replay can.
        return JSONResponse(
            {"changes": changes, "nonce": secrets.token_hex(16)},
            status_code=200,
            headers={"X-Route": "ran"},
        )

    @app.post("/v1/size")
    async def size(request: Request) -> Response:
        if await tenant_of(request) is None:
            return unauthenticated()
        with hooks.lock:
            hooks.calls += 1
        body = await request.body()
        return JSONResponse({"size": len(body), "nonce": secrets.token_hex(8)})

    @app.post("/other")
    async def other() -> Response:
        with hooks.lock:
            hooks.calls += 1
        return JSONResponse({"nonce": secrets.token_hex(8)})

    @app.get("/v1/thing")
    async def thing() -> Response:
        with hooks.lock:
            hooks.calls += 1
        return JSONResponse({"nonce": secrets.token_hex(8)})

    return app


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def services(transactions, clock) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
            clock=clock,
        )
    )


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def app(services, hooks) -> FastAPI:
    return make_app(services, hooks)


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def secret(services) -> str:
    return services.tenants.create_tenant(name="acme").admin_key.secret


def headers(secret: str | None, key: str | None = "key-1") -> dict[str, str]:
    result = {}
    if secret is not None:
        result["Authorization"] = f"Bearer {secret}"
    if key is not None:
        result["Idempotency-Key"] = key
    return result


def events(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM consent_events")).scalar_one()


def stored_keys(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()


def wire(response) -> tuple[int, bytes, str | None]:
    return response.status_code, response.content, response.headers.get("content-type")


def test_sequential_retries_replay_the_first_response_and_write_once(client, secret, engine, hooks):
    responses = [client.post(URL, json=BODY, headers=headers(secret)) for _ in range(20)]

    first = responses[0]
    assert first.status_code == 200
    assert first.json()["changes"][0]["outcome"] == "changed"
    assert "idempotency-replayed" not in first.headers
    assert [wire(r) for r in responses] == [wire(first)] * 20
    assert [r.headers.get("idempotency-replayed") for r in responses[1:]] == ["true"] * 19
    assert hooks.calls == 1
    assert events(engine) == 1


def test_a_changed_request_with_the_same_key_gets_422_and_changes_nothing(
    client, secret, engine, hooks
):
    first = client.post(URL, json=BODY, headers=headers(secret))
    assert first.status_code == 200

    for changed in (
        {"json": {"address": "bob@example.com"}},
        {"content": json.dumps(BODY, indent=1)},  # same JSON, other bytes
    ):
        response = client.post(URL, headers=headers(secret), **changed)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "/problems/idempotency-key-reused"
        assert problem["status"] == 422
        assert set(problem) == {"type", "title", "status", "detail"}
    assert client.post(f"{URL}?x=1", json=BODY, headers=headers(secret)).status_code == 422
    assert hooks.calls == 1
    assert events(engine) == 1
    assert client.post(URL, json=BODY, headers=headers(secret)).content == first.content


def test_a_duplicate_while_the_first_is_running_gets_409(app, secret, engine, hooks):
    hooks.gate = threading.Event()
    first: list = []
    running = threading.Thread(
        target=lambda: first.append(TestClient(app).post(URL, json=BODY, headers=headers(secret)))
    )
    running.start()
    try:
        assert hooks.entered.wait(10)
        duplicate = TestClient(app).post(URL, json=BODY, headers=headers(secret))
        other_body = TestClient(app).post(
            URL, json={"address": "bob@example.com"}, headers=headers(secret)
        )
    finally:
        hooks.gate.set()
        running.join()

    for response in (duplicate, other_body):
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/idempotency-key-in-use"
        assert response.json()["status"] == 409
    assert first[0].status_code == 200
    after = TestClient(app).post(URL, json=BODY, headers=headers(secret))
    assert wire(after) == wire(first[0])
    assert after.headers["idempotency-replayed"] == "true"
    assert hooks.calls == 1
    assert events(engine) == 1


@pytest.mark.parametrize("repetition", range(3))
def test_concurrent_identical_requests_write_once(app, secret, engine, hooks, repetition):
    hooks.delay = 0.4  # the first request is still running when the others arrive
    address = {"address": f"concurrent-{repetition}@example.com"}
    key = f"concurrent-{repetition}"
    barrier = threading.Barrier(20)
    responses: list = []
    lock = threading.Lock()

    def send() -> None:
        client = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        response = client.post(URL, json=address, headers=headers(secret, key))
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [r.status_code for r in responses]
    assert len(responses) == 20
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) <= {200, 409}
    originals = [r for r in responses if r.status_code == 200]
    assert len([r for r in originals if "idempotency-replayed" not in r.headers]) == 1
    assert len({wire(r) for r in originals}) == 1
    assert statuses.count(409) >= 1
    assert hooks.calls == 1
    assert events(engine) == 1
    replay = TestClient(app).post(URL, json=address, headers=headers(secret, key))
    assert wire(replay) == wire(originals[0])


def test_a_5xx_is_not_kept_and_the_retry_runs_again(client, secret, engine, hooks):
    hooks.fail_next = 1
    failed = client.post(URL, json=BODY, headers=headers(secret))
    assert failed.status_code == 500
    assert stored_keys(engine) == 0

    retried = client.post(URL, json=BODY, headers=headers(secret))
    assert retried.status_code == 200
    assert "idempotency-replayed" not in retried.headers
    # The use case ran again: the ledger says so, and changed nothing twice.
    assert [c["outcome"] for c in retried.json()["changes"]] == ["repeated"]
    assert hooks.calls == 2
    assert events(engine) == 2

    replayed = client.post(URL, json=BODY, headers=headers(secret))
    assert wire(replayed) == wire(retried)
    assert hooks.calls == 2


def test_an_exception_is_not_kept_and_releases_the_key(client, secret, engine, hooks):
    hooks.raise_next = 1
    assert client.post(URL, json=BODY, headers=headers(secret)).status_code == 500
    assert stored_keys(engine) == 0
    retried = client.post(URL, json=BODY, headers=headers(secret))
    assert retried.status_code == 200
    assert hooks.calls == 2


@pytest.mark.parametrize(
    "value",
    [b"", b"x" * 256, b"has space", b" leading", b"caf\xe9", b"tab\there", b"del\x7f"],
)
def test_an_invalid_key_gets_400_naming_the_header(client, secret, engine, hooks, value):
    response = client.post(
        URL, json=BODY, headers=[("Authorization", f"Bearer {secret}"), ("Idempotency-Key", value)]
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/invalid-idempotency-key"
    assert problem["status"] == 400
    assert "Idempotency-Key" in problem["detail"]
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert hooks.calls == 0
    assert events(engine) == 0


def test_the_key_may_be_255_visible_characters_but_sent_only_once(client, secret, hooks):
    longest = "!~" * 127 + "x"
    assert client.post(URL, json=BODY, headers=headers(secret, longest)).status_code == 200
    twice = client.post(
        URL,
        json=BODY,
        headers=[
            ("Authorization", f"Bearer {secret}"),
            ("Idempotency-Key", "a"),
            ("Idempotency-Key", "b"),
        ],
    )
    assert twice.status_code == 400
    assert hooks.calls == 1


@pytest.mark.parametrize("auth", [None, "Bearer olk_unknown", "Basic abc", "Bearer"])
def test_without_a_valid_api_key_the_request_passes_through(client, secret, engine, hooks, auth):
    extra = {} if auth is None else {"Authorization": auth}
    for key in ("key-1", "not a valid key"):
        response = client.post(URL, json=BODY, headers={**extra, "Idempotency-Key": key})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "idempotency-replayed" not in response.headers
    assert stored_keys(engine) == 0
    # The key is still free for the tenant's first real request.
    response = client.post(URL, json=BODY, headers=headers(secret))
    assert response.status_code == 200
    assert "idempotency-replayed" not in response.headers
    assert events(engine) == 1


def test_keys_are_scoped_per_tenant(client, services, secret, engine, hooks):
    other = services.tenants.create_tenant(name="globex").admin_key.secret
    mine = client.post(URL, json=BODY, headers=headers(secret, "shared"))
    theirs = client.post(URL, json=BODY, headers=headers(other, "shared"))
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotency-replayed" not in theirs.headers
    assert mine.content != theirs.content
    assert theirs.json()["changes"][0]["outcome"] == "changed"
    assert events(engine) == 2
    again = client.post(URL, json=BODY, headers=headers(other, "shared"))
    assert wire(again) == wire(theirs)


def test_keys_are_scoped_per_api_key(client, services, secret, engine, hooks):
    tenant_id = services.tenants.authenticate(secret=secret).tenant_id
    other = services.tenants.create_key(tenant_id=tenant_id, name="other", scope=Scope.ADMIN)
    mine = client.post(URL, json=BODY, headers=headers(secret, "shared"))
    theirs = client.post(URL, json=BODY, headers=headers(other.secret, "shared"))
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotency-replayed" not in theirs.headers
    assert theirs.json()["changes"][0]["outcome"] == "repeated"  # the route ran again
    assert (hooks.calls, events(engine), stored_keys(engine)) == (2, 2, 2)
    assert wire(client.post(URL, json=BODY, headers=headers(secret, "shared"))) == wire(mine)
    assert wire(client.post(URL, json=BODY, headers=headers(other.secret, "shared"))) == wire(
        theirs
    )


def test_kept_24_hours_by_the_clock(client, secret, engine, clock, hooks):
    first = client.post(URL, json=BODY, headers=headers(secret))
    clock.advance(timedelta(hours=23, minutes=59))
    replayed = client.post(URL, json=BODY, headers=headers(secret))
    assert wire(replayed) == wire(first)
    assert replayed.headers["idempotency-replayed"] == "true"
    clock.advance(timedelta(minutes=2))  # 24 h 1 m
    fresh = client.post(URL, json=BODY, headers=headers(secret))
    assert fresh.status_code == 200
    assert "idempotency-replayed" not in fresh.headers
    assert fresh.content != first.content
    assert hooks.calls == 2
    assert events(engine) == 2


def test_the_first_response_is_replayed_by_another_process(services, secret, transactions, hooks):
    first = TestClient(make_app(services, hooks)).post(URL, json=BODY, headers=headers(secret))
    restarted = Services.build(
        service_context(
            transactions=transactions,
        )
    )
    replayed = TestClient(make_app(restarted, hooks)).post(URL, json=BODY, headers=headers(secret))
    assert wire(replayed) == wire(first)
    assert hooks.calls == 1


def test_the_original_response_keeps_its_headers(client, secret):
    first = client.post(URL, json=BODY, headers=headers(secret))
    assert first.headers["x-route"] == "ran"
    replayed = client.post(URL, json=BODY, headers=headers(secret))
    assert "x-route" not in replayed.headers  # a replay is status, content type and body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_1_mib_is_spooled_and_replayed(client, secret, engine, hooks, chunked):
    big = b"x" * (3 * MAX_BODY + 1)
    content = iter([big[:1000], big[1000:]]) if chunked else big
    first = client.post("/v1/size", content=content, headers=headers(secret))
    assert first.json()["size"] == 3 * MAX_BODY + 1
    replayed = client.post("/v1/size", content=big, headers=headers(secret))
    assert wire(replayed) == wire(first)
    assert replayed.headers["idempotency-replayed"] == "true"
    assert (hooks.calls, stored_keys(engine)) == (1, 1)
    changed = client.post("/v1/size", content=big[:-1] + b"y", headers=headers(secret))
    assert changed.status_code == 422


def test_a_body_of_exactly_1_mib_is_kept(client, secret, hooks):
    body = b"x" * MAX_BODY
    chunks = iter([body[:4096], body[4096:]])
    first = client.post("/v1/size", content=chunks, headers=headers(secret))
    assert first.json()["size"] == MAX_BODY
    replayed = client.post("/v1/size", content=body, headers=headers(secret))
    assert wire(replayed) == wire(first)
    assert hooks.calls == 1


def test_other_requests_are_not_touched(client, secret, engine, hooks):
    for _ in range(2):
        assert "idempotency-replayed" not in client.post("/other", headers=headers(secret)).headers
        assert (
            "idempotency-replayed" not in client.get("/v1/thing", headers=headers(secret)).headers
        )
        response = client.post(URL, json=BODY, headers=headers(secret, key=None))
        assert "idempotency-replayed" not in response.headers
    assert hooks.calls == 6
    assert stored_keys(engine) == 0


def test_streaming_without_the_header_is_not_buffered(services):
    """On the ASGI level: without the header every body chunk goes out as sent."""
    chunks = [b"one,", b"two,", b"three"]
    inner = StreamingResponse(iter(chunks), media_type="text/csv")
    middleware = IdempotencyMiddleware(inner, services=services, router=Router())
    sent: list[dict] = []

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if requests:
            return requests.pop()
        await anyio.sleep_forever()  # the client stays connected
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/suppressions/import",
        "raw_path": b"/v1/suppressions/import",
        "query_string": b"",
        "headers": [],
    }
    anyio.run(middleware, scope, receive, send)
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert bodies == chunks
