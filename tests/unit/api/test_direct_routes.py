"""`DirectRoute` answers every request exactly as FastAPI's own handler does.

The same endpoints are declared twice, under `/fastapi` with FastAPI's `APIRoute` and
under `/direct` with `DirectRoute`; each request goes to both, and the two responses must
be byte for byte the same (status, headers, body), valid and invalid requests alike.
"""

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from optledger.api.rest.direct import DirectRoute, direct_handler

bearer = HTTPBearer(auto_error=False)
calls: list[str] = []


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=10)
    tags: list[str] = []
    colour: Colour = Colour.RED


class ItemOut(BaseModel):
    name: str
    colour: Colour
    caller: str | None


def caller(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str | None:
    calls.append("caller")
    if credentials is not None and credentials.credentials == "forbidden":
        raise HTTPException(status_code=403, detail="no")
    return None if credentials is None else credentials.credentials


async def request_id(x_request_id: Annotated[str | None, Header()] = None) -> str | None:
    return x_request_id


def strict(limit: Annotated[int, Query(ge=1, le=5)] = 2) -> int:
    return limit


async def held() -> AsyncIterator[str]:
    calls.append("held: enter")
    yield "held"
    calls.append("held: exit")


Caller = Annotated[str | None, Depends(caller)]


def declare(router: APIRouter) -> None:
    @router.get("/items")
    async def list_items(  # noqa: PLR0917 - FastAPI passes parameters by name
        who: Caller,
        colour: Annotated[Colour, Query()],
        name: Annotated[str, Query(max_length=5)],
        limit: Annotated[int, Depends(strict)],
        tag: Annotated[list[str] | None, Query()] = None,
        note: str | None = None,
    ) -> dict[str, object]:
        return {
            "who": who,
            "colour": colour,
            "name": name,
            "limit": limit,
            "tag": tag,
            "note": note,
        }

    @router.post("/items", status_code=201)
    async def create_item(
        item: Item, who: Caller, again: Caller, rid: Annotated[str | None, Depends(request_id)]
    ) -> ItemOut:
        assert who == again
        return ItemOut(name=item.name, colour=item.colour, caller=rid or who)

    @router.post("/sync")
    def create_sync(item: Item, request: Request) -> dict[str, str]:
        return {"name": item.name, "method": request.method}

    @router.get("/held")
    async def with_yield(value: Annotated[str, Depends(held)]) -> PlainTextResponse:
        calls.append("endpoint")
        return PlainTextResponse(value)


def build_app() -> FastAPI:
    app = FastAPI()
    plain = APIRouter(prefix="/fastapi")
    direct = APIRouter(prefix="/direct", route_class=DirectRoute)
    declare(plain)
    declare(direct)
    app.include_router(plain)
    app.include_router(direct)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(build_app(), raise_server_exceptions=False)


REQUESTS = [
    ("GET", "/items?colour=red&name=ann", {}, None),
    ("GET", "/items?colour=red&name=ann&limit=4&tag=a&tag=b&note=x", {}, None),
    ("GET", "/items?colour=green&name=ann", {}, None),
    ("GET", "/items?colour=red&name=toolong", {}, None),
    ("GET", "/items?name=ann", {}, None),
    ("GET", "/items?colour=red&name=ann&limit=9", {}, None),
    ("GET", "/items?colour=red&name=ann&limit=x", {}, None),
    ("GET", "/items?colour=red&colour=blue&name=ann", {}, None),
    ("GET", "/items?colour=red&name=ann", {"Authorization": "Bearer k1"}, None),
    ("GET", "/items?colour=red&name=ann", {"Authorization": "Bearer forbidden"}, None),
    ("GET", "/items?colour=red&name=ann", {"Authorization": "Basic abc"}, None),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"name":"pen"}'),
    (
        "POST",
        "/items",
        {"Content-Type": "application/json", "X-Request-Id": "r1"},
        b'{"name":"pen","colour":"blue"}',
    ),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"name":""}'),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"name":"pen","extra":1}'),
    ("POST", "/items", {"Content-Type": "application/json"}, b'{"name":'),
    ("POST", "/items", {"Content-Type": "application/json"}, b"[1,2]"),
    ("POST", "/items", {"Content-Type": "application/json"}, b"\xff\xfe"),
    ("POST", "/items", {"Content-Type": "application/json"}, b""),
    ("POST", "/items", {"Content-Type": "text/plain"}, b'{"name":"pen"}'),
    ("POST", "/items", {}, b'{"name":"pen"}'),
    ("POST", "/items", {"Content-Type": "application/merge-patch+json"}, b'{"name":"pen"}'),
    (
        "POST",
        "/items",
        {"Content-Type": "application/json", "Authorization": "Bearer forbidden"},
        b'{"name":""}',
    ),
    ("POST", "/sync", {"Content-Type": "application/json"}, b'{"name":"pen"}'),
    ("POST", "/sync", {"Content-Type": "application/json"}, b'{"tags":"x"}'),
    ("GET", "/held", {}, None),
]


def answer(client: TestClient, method: str, path: str, headers, body) -> tuple:
    response = client.request(method, path, headers=headers, content=body)
    return response.status_code, sorted(response.headers.items()), response.content


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS)
def test_direct_answers_as_fastapi(client, method, path, headers, body):
    expected = answer(client, method, f"/fastapi{path}", headers, body)
    got = answer(client, method, f"/direct{path}", headers, body)
    assert got == expected
    assert expected[0] != 500


def test_each_dependency_runs_once_per_request_and_yield_exits_after(client):
    calls.clear()
    assert client.post("/direct/items", json={"name": "pen"}).status_code == 201
    assert calls == ["caller"]
    calls.clear()
    assert client.get("/direct/held").text == "held"
    assert calls == ["held: enter", "endpoint", "held: exit"]


def test_every_route_here_is_direct() -> None:
    app = build_app()
    direct = [
        route
        for router in app.router.routes
        if getattr(router, "original_router", None) is not None
        for route in router.original_router.routes
        if isinstance(route, DirectRoute)
    ]
    paths = ["/direct/held", "/direct/items", "/direct/items", "/direct/sync"]
    assert sorted(route.path for route in direct) == paths
    assert all(direct_handler(route, path=route.path) is not None for route in direct)
