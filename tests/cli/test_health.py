import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.bootstrap import build
from optledger.config import Settings


@pytest.fixture
def runtime(tmp_path):
    with build(Settings.from_env({"OPTLEDGER_DATA_DIR": str(tmp_path)})) as runtime:
        yield runtime


def client(runtime, ready) -> TestClient:
    return TestClient(create_app(services=runtime.services, ready=ready))


def test_healthz(runtime):
    with client(runtime, runtime.ready) as http:
        response = http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_database_answers(runtime):
    with client(runtime, runtime.ready) as http:
        response = http.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_when_not_ready(runtime):
    with client(runtime, lambda: False) as http:
        response = http.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_readyz_when_the_check_itself_fails(runtime, caplog):
    def broken() -> bool:
        raise RuntimeError("secret detail")

    with client(runtime, broken) as http:
        response = http.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert "secret detail" not in response.text


def test_readyz_after_the_runtime_closed(runtime):
    runtime.close()
    with client(runtime, runtime.ready) as http:
        response = http.get("/readyz")

    assert response.status_code == 503


def test_an_unexpected_error_is_a_bare_500(runtime):
    app = create_app(services=runtime.services, ready=runtime.ready)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.get("/boom")

    assert response.status_code == 500
    error_id = response.json()["error_id"]
    assert response.json() == {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": f"An unexpected error; it is logged with error id {error_id}.",
        "error_id": error_id,
    }
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text


def test_the_openapi_document_describes_both_probes(runtime):
    with client(runtime, runtime.ready) as http:
        paths = http.get("/openapi.json").json()["paths"]

    def schemas(path: str) -> dict[str, str]:
        responses = paths[path]["get"]["responses"]
        return {
            status: response["content"]["application/json"]["schema"]["$ref"]
            for status, response in responses.items()
        }

    assert sorted(p for p in paths if not p.startswith("/v1/")) == ["/healthz", "/readyz"]
    assert schemas("/healthz") == {"200": "#/components/schemas/Health"}
    assert schemas("/readyz") == {
        "200": "#/components/schemas/Readiness",
        "503": "#/components/schemas/Readiness",
    }


def test_on_shutdown_runs_once_when_the_server_stops(runtime):
    calls: list[str] = []
    app = create_app(
        services=runtime.services, ready=runtime.ready, on_shutdown=lambda: calls.append("x")
    )

    with TestClient(app) as http:
        assert http.get("/healthz").status_code == 200
        assert calls == []

    assert calls == ["x"]
