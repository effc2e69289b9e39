"""The express lane takes exactly the requests the router would give the same route,
and answers them as the application would."""

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from optledger.api.express import ExpressFastAPI, ExpressLane, query_pairs
from optledger.api.rest.direct import DirectRoute


class Refused(Exception):
    pass


async def refused(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"refused": True}, status_code=418)


async def held():
    yield "held"


class Tagging:
    """A middleware that adds a header, to show the lane runs the app's middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", b"on")]
            await send(message)

        await self.app(scope, receive, tagged)


def build() -> ExpressFastAPI:
    app = ExpressFastAPI()
    early = APIRouter(route_class=DirectRoute)

    @early.get("/v1/things/{name}")
    async def by_name(name: str) -> dict[str, str]:
        return {"by": "name", "name": name}

    later = APIRouter(prefix="/v1", route_class=DirectRoute)

    @later.get("/things/special")
    async def special() -> dict[str, str]:
        return {"by": "special"}

    @later.get("/plain")
    async def plain(request: Request) -> dict[str, str]:
        return {"route": type(request.scope["route"]).__name__}

    @later.post("/plain")
    async def plain_post() -> dict[str, str]:
        raise Refused

    @later.get("/held")
    async def with_yield(value: Annotated[str, Depends(held)]) -> PlainTextResponse:
        return PlainTextResponse(value)

    app.include_router(early)
    app.include_router(later)
    pages = Starlette(routes=[Route("/{token}", lambda r: PlainTextResponse("page"))])
    app.mount("/u", pages)
    app.add_exception_handler(Refused, refused)
    app.add_middleware(Tagging)
    return app


def http(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": ""}


def test_the_lane_takes_fixed_paths_no_earlier_route_takes_and_the_mounts():
    lane = ExpressLane(build())
    assert sorted(lane._routes) == [("GET", "/v1/plain"), ("POST", "/v1/plain")]
    assert lane.takes(http("GET", "/v1/plain"))
    assert not lane.takes(http("PUT", "/v1/plain"))  # 405: the router answers it
    assert not lane.takes(http("GET", "/v1/plain/"))  # the redirect: the router's
    # An earlier route with a parameter takes this path: it stays with the router.
    assert not lane.takes(http("GET", "/v1/things/special"))
    assert not lane.takes(http("GET", "/v1/held"))  # a dependency with yield
    assert lane.takes(http("GET", "/u/abc"))
    assert lane.takes(http("GET", "/u"))
    assert not lane.takes(http("GET", "/users"))


def test_the_lane_answers_as_the_application_would():
    with TestClient(build()) as client:
        plain = client.get("/v1/plain")
        assert (plain.status_code, plain.json()) == (200, {"route": "DirectRoute"})
        assert plain.headers["x-tag"] == "on"
        refused = client.post("/v1/plain")
        assert (refused.status_code, refused.json()) == (418, {"refused": True})
        assert refused.headers["x-tag"] == "on"
        page = client.get("/u/abc")
        assert (page.status_code, page.text, page.headers["x-tag"]) == (200, "page", "on")
        special = client.get("/v1/things/special")
        assert special.json() == {"by": "name", "name": "special"}
        assert client.put("/v1/plain").status_code == 405
        assert client.get("/v1/held").text == "held"


def test_a_mount_after_a_route_under_its_prefix_stays_with_the_router():
    app = FastAPI()

    @app.get("/u/special")
    async def special() -> dict[str, str]:
        return {}

    app.mount("/u", Starlette())
    assert ExpressLane(app)._mounts == []


@settings(max_examples=2000)
@given(
    st.lists(
        st.sampled_from(["a", "=", "&", "%", "+", "%20", "%4", "%zz", "%C3%A9", "%ff", "é", " "]),
        max_size=16,
    ).map("".join)
)
def test_query_pairs_are_those_starlette_reads(text):
    query = text.encode()

    assert query_pairs(query) == list(QueryParams(query).multi_items())


def test_the_lane_reads_the_query_of_its_routes_as_the_router_does():
    app = ExpressFastAPI()
    router = APIRouter(route_class=DirectRoute)

    @router.get("/echo")
    def echo(request: Request) -> list[list[str]]:
        return [list(pair) for pair in request.query_params.multi_items()]

    app.include_router(router)
    query = "a=1&a=%C3%A9+x&b&=c&d=%zz&e=+"

    with TestClient(app) as client:
        answer = client.get(f"/echo?{query}")

    assert answer.json() == [list(pair) for pair in parse_qsl(query, keep_blank_values=True)]
