"""The REST door's request limits: failed authentication per client address, requests
per API key, bulk requests per key at once, header caps, and redirects that ignore Host.

The application runs with its default limits (as `optledger serve` without settings)
unless a test says otherwise, on a stepped monotonic clock, so `Retry-After` is exact.
Requests come from the client addresses the tests choose.
"""

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.config import DEFAULT_LIMITS, RateLimit, RequestLimits
from tests.fakes import SteppedSeconds
from tests.functional.rest.conftest import Tenant, bearer, create_topic, make_tenant

ATTACKER = ("198.51.100.7", 40000)
ELSEWHERE = ("203.0.113.20", 40001)
CHECK = "/v1/checks?topic=news&channel=email&address=ann%40example.com"
FAILURES_REFUSED = {
    "type": "/problems/rate-limited",
    "title": "Too many requests",
    "status": 429,
    "detail": "Too many failed authentications from this client address; send it again in "
    "3 seconds.",
}


@pytest.fixture
def seconds() -> SteppedSeconds:
    return SteppedSeconds()


@pytest.fixture
def acme(services) -> Tenant:
    return make_tenant(services, "acme")


def _app(services, seconds, limits: RequestLimits = DEFAULT_LIMITS):
    return create_app(services=services, ready=lambda: True, limits=limits, clock=seconds)


@pytest.fixture
def clients(services, seconds) -> Iterator[tuple[TestClient, TestClient]]:
    """Two clients of one application: from the attacker's address and from another."""
    app = _app(services, seconds)
    with (
        TestClient(app, client=ATTACKER, raise_server_exceptions=False) as attacker,
        TestClient(app, client=ELSEWHERE, raise_server_exceptions=False) as elsewhere,
    ):
        yield attacker, elsewhere


def test_a_thousand_wrong_keys_from_one_address_get_429_after_twenty(clients, acme):
    attacker, elsewhere = clients
    create_topic(elsewhere, acme, "news")

    answers = [attacker.get("/v1/topics", headers=bearer(f"olk_wrong{n:04}")) for n in range(1000)]

    assert [a.status_code for a in answers] == [401] * 20 + [429] * 980
    assert answers[0].json()["type"] == "/problems/unauthenticated"
    for refused in answers[20:]:
        assert refused.headers["retry-after"] == "3"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json() == FAILURES_REFUSED
    # Meanwhile a valid key from elsewhere keeps working; from the attacker's address
    # nothing does until the bucket has refilled a token.
    assert elsewhere.get(CHECK, headers=acme.checker).status_code == 200
    assert attacker.get(CHECK, headers=acme.checker).status_code == 429


def test_the_address_gets_one_more_attempt_per_refilled_token(clients, seconds):
    attacker, _ = clients
    for n in range(20):
        attacker.get("/v1/topics", headers=bearer(f"olk_wrong{n}"))

    seconds.advance(1)
    assert attacker.get("/v1/topics", headers=bearer("olk_x")).headers["retry-after"] == "2"
    seconds.advance(2)
    assert attacker.get("/v1/topics", headers=bearer("olk_x")).status_code == 401
    assert attacker.get("/v1/topics", headers=bearer("olk_x")).status_code == 429
    seconds.advance(3)
    assert attacker.get("/v1/topics", headers=bearer("olk_x")).status_code == 401


def test_a_valid_key_from_a_refused_address_works_again_once_it_has_waited(clients, seconds, acme):
    attacker, _ = clients
    for n in range(20):
        attacker.get("/v1/topics", headers=bearer(f"olk_wrong{n}"))
    assert attacker.get("/v1/topics", headers=acme.checker).status_code == 429

    seconds.advance(3)

    assert attacker.get("/v1/topics", headers=acme.checker).status_code == 200


def test_the_refusal_comes_before_idempotency_and_body_checks(clients, acme):
    attacker, _ = clients
    for n in range(20):
        attacker.get("/v1/topics", headers=bearer(f"olk_wrong{n}"))

    answer = attacker.post(
        "/v1/unsubscribe",
        content=b"x" * (2 * 1024 * 1024),
        headers={**acme.writer, "Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )

    assert answer.status_code == 429
    assert answer.json() == FAILURES_REFUSED


def test_requests_without_a_key_are_not_failed_authentications(clients):
    attacker, _ = clients

    statuses = {attacker.get("/v1/topics").status_code for _ in range(100)}

    assert statuses == {401}


def test_with_rate_limits_off_wrong_keys_are_only_ever_401(services, seconds):
    off = replace(DEFAULT_LIMITS, rate_limits=False)
    with TestClient(_app(services, seconds, off), client=ATTACKER) as attacker:
        statuses = {
            attacker.get("/v1/topics", headers=bearer(f"olk_wrong{n}")).status_code
            for n in range(200)
        }

    assert statuses == {401}


def test_each_api_key_has_its_own_request_rate(services, seconds, acme):
    limits = replace(DEFAULT_LIMITS, key_rate=RateLimit(5, 10))
    with TestClient(_app(services, seconds, limits), client=ATTACKER) as client:
        create_topic(client, acme, "news")  # the admin key's first
        statuses = [client.get(CHECK, headers=acme.checker).status_code for _ in range(6)]
        refused = client.get(CHECK, headers=acme.checker)
        other_key = client.get(CHECK, headers=acme.writer)
        seconds.advance(2)
        again = client.get(CHECK, headers=acme.checker)

    assert statuses == [200] * 5 + [429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {
        "type": "/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "This API key sent too many requests; send it again in 2 seconds.",
    }
    assert other_key.status_code == 200
    assert again.status_code == 200


def test_the_default_key_rate_lets_thousands_of_requests_through(clients, acme):
    _, client = clients
    create_topic(client, acme, "news")

    statuses = {client.get(CHECK, headers=acme.checker).status_code for _ in range(2000)}

    assert statuses == {200}


def test_a_key_with_a_bulk_check_running_is_refused_another(services, seconds, acme):
    app = _app(services, seconds)
    body = {"topic": "news", "channel": "email", "addresses": ["ann@example.com"]}
    with TestClient(app, client=ELSEWHERE) as client:
        create_topic(client, acme, "news")
        # The slot a running bulk check of this key holds.
        with app.state.rest_throttle.bulk.slot((acme.key_ids["checker"], "bulk check")):
            refused = client.post("/v1/checks", json=body, headers=acme.checker)
            other_key = client.post("/v1/checks", json=body, headers=acme.writer)
            single = client.get(CHECK, headers=acme.checker)
        after = client.post("/v1/checks", json=body, headers=acme.checker)

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "type": "/problems/rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "This API key already has as many bulk check requests running as it may; "
        "send it again when one has finished.",
    }
    assert other_key.status_code == 200
    assert single.status_code == 200
    assert after.status_code == 200


def test_a_key_with_an_import_running_is_refused_another(services, seconds, acme):
    app = _app(services, seconds)
    with TestClient(app, client=ELSEWHERE) as client:
        with app.state.rest_throttle.bulk.slot((acme.key_ids["admin"], "import")):
            refused = client.post(
                "/v1/suppressions/import",
                content=b"email\nann@example.com\n",
                headers={**acme.admin, "Content-Type": "text/csv"},
            )
        after = client.post(
            "/v1/suppressions/import",
            content=b"email\nann@example.com\n",
            headers={**acme.admin, "Content-Type": "text/csv"},
        )

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == (
        "This API key already has as many import requests running as it may; send it "
        "again when one has finished."
    )
    assert after.status_code == 200
    assert after.json()["changed"] == 1


def test_a_bulk_slot_is_given_back_when_the_request_fails(services, seconds, acme):
    app = _app(services, seconds)
    with TestClient(app, client=ELSEWHERE) as client:
        create_topic(client, acme, "news")
        invalid = {"topic": "news", "channel": "email", "addresses": []}
        answers = [client.post("/v1/checks", json=invalid, headers=acme.checker) for _ in range(3)]

    assert [a.status_code for a in answers] == [422, 422, 422]


def test_too_many_header_fields_answer_431_before_any_route(clients, acme):
    _, client = clients
    headers = {**acme.checker, **{f"X-Filler-{n}": "1" for n in range(100)}}

    answer = client.get(CHECK, headers=headers)

    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "/problems/headers-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": "A request may have at most 100 header fields and 32768 bytes of request "
        "target and header fields.",
    }


def test_a_header_block_over_32_kib_answers_431(clients, acme):
    _, client = clients

    small = client.get(CHECK, headers={**acme.checker, "X-Filler": "a" * 30_000})
    large = client.get(CHECK, headers={**acme.checker, "X-Filler": "a" * 33_000})

    assert small.status_code == 200
    assert large.status_code == 431


def test_a_trailing_slash_redirect_ignores_a_hostile_host(clients, acme):
    _, client = clients

    answer = client.get(
        "/v1/topics/?limit=5",
        headers={**acme.checker, "Host": "evil.example"},
        follow_redirects=False,
    )

    assert answer.status_code == 307
    assert answer.headers["location"] == "/v1/topics?limit=5"


def test_a_path_that_would_redirect_to_another_host_is_not_redirected(clients):
    _, client = clients

    answer = client.get("//evil.example/", follow_redirects=False)

    assert answer.status_code == 404
    assert "location" not in answer.headers
