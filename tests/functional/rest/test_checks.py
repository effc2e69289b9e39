from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.domain.errors import Unavailable
from tests.functional.rest.conftest import create_topic, invalid


def test_check_one_address(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")

    response = client.get(
        "/v1/checks",
        params={"topic": "digest", "channel": "email", "address": "Ann@Example.com"},
        headers=acme.checker,
    )

    assert response.status_code == 200
    assert response.json() == {
        "input": "Ann@Example.com",
        "address": "ann@example.com",
        "allowed": True,
        "reason": "opt_out_default",
    }


def test_check_a_batch_sees_opt_outs_at_once(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    client.post(
        "/v1/unsubscribe",
        json={"address": {"channel": "email", "address": "bob@example.com"}},
        headers=acme.writer,
    )

    response = client.post(
        "/v1/checks",
        json={
            "topic": "digest",
            "channel": "email",
            "addresses": ["ann@example.com", "BOB@example.com", "nope"],
        },
        headers=acme.checker,
    )

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "input": "ann@example.com",
                "address": "ann@example.com",
                "allowed": True,
                "reason": "opt_out_default",
            },
            {
                "input": "BOB@example.com",
                "address": "bob@example.com",
                "allowed": False,
                "reason": "suppressed",
            },
            {"input": "nope", "address": None, "allowed": False, "reason": "invalid_address"},
        ]
    }


def test_an_unknown_topic_is_a_decision(client, acme):
    response = client.get(
        "/v1/checks",
        params={"topic": "nope", "channel": "sms", "address": "+14155550100"},
        headers=acme.checker,
    )

    assert response.json() == {
        "input": "+14155550100",
        "address": "+14155550100",
        "allowed": False,
        "reason": "unknown_topic",
    }


def test_an_unknown_topic_is_a_decision_in_a_batch_too(client, acme):
    response = client.post(
        "/v1/checks",
        json={"topic": "nope", "channel": "email", "addresses": ["ann@example.com", "x"]},
        headers=acme.checker,
    )

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "input": "ann@example.com",
                "address": "ann@example.com",
                "allowed": False,
                "reason": "unknown_topic",
            },
            {"input": "x", "address": None, "allowed": False, "reason": "invalid_address"},
        ]
    }


def test_another_tenants_opt_out_does_not_leak(client, acme, globex):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    create_topic(client, globex, "digest", consent_mode="opt_out")
    client.post(
        "/v1/unsubscribe",
        json={"address": {"channel": "email", "address": "ann@example.com"}},
        headers=acme.writer,
    )

    response = client.get(
        "/v1/checks",
        params={"topic": "digest", "channel": "email", "address": "ann@example.com"},
        headers=globex.checker,
    )

    assert response.json()["reason"] == "opt_out_default"


def test_ten_thousand_is_the_most(client, acme):
    create_topic(client, acme, "digest", consent_mode="opt_out")
    addresses = [f"a{i}@example.com" for i in range(10_000)]

    full = client.post(
        "/v1/checks",
        json={"topic": "digest", "channel": "email", "addresses": addresses},
        headers=acme.checker,
    )
    over = client.post(
        "/v1/checks",
        json={"topic": "digest", "channel": "email", "addresses": [*addresses, "b@example.com"]},
        headers=acme.checker,
    )

    assert full.status_code == 200
    assert len(full.json()["results"]) == 10_000
    assert (over.status_code, over.json()) == (
        422,
        invalid(("addresses", "List should have at most 10000 items after validation, not 10001")),
    )


def test_missing_query_parameters_are_named(client, acme):
    response = client.get("/v1/checks", params={"topic": "digest"}, headers=acme.checker)

    assert response.json() == invalid(("channel", "Field required"), ("address", "Field required"))


def test_the_app_warms_up_the_checks_before_it_serves(services, monkeypatch):
    calls = []
    monkeypatch.setattr(services.checks, "warm_up", lambda: calls.append("warm_up"))
    with TestClient(create_app(services=services, ready=lambda: True)) as http:
        assert calls == ["warm_up"]
        assert http.get("/healthz").status_code == 200
    assert calls == ["warm_up"]


def test_the_app_serves_when_the_checks_cannot_be_warmed_up(services, monkeypatch, caplog):
    def unreachable() -> None:
        raise Unavailable("the database does not answer")

    monkeypatch.setattr(services.checks, "warm_up", unreachable)
    with TestClient(create_app(services=services, ready=lambda: True)) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
    # Logged as every unexpected error is, by type and place (never its message).
    (logged,) = [record.getMessage() for record in caplog.records]
    where = logged.removeprefix(
        "the checks could not be warmed up: optledger.domain.errors.Unavailable at "
    )
    assert where.startswith("optledger/api/app.py:")
