"""`/docs` serves Swagger UI from the package: nothing on the page comes from another
origin, every asset is cached for a year under a URL that changes with its content, and
the vendored files are exactly those of the swagger-ui-dist release SOURCE.json names."""

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from tests.builders import service_context
from tests.fakes import MemoryTransactions

REPO = Path(__file__).resolve().parents[3]
EXPLORER = REPO / "src" / "optledger" / "api" / "explorer"
VENDORED = EXPLORER / "swagger-ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
YEAR = "public, max-age=31536000, immutable"


@pytest.fixture
def client() -> Iterator[TestClient]:
    services = Services.build(
        service_context(
            transactions=MemoryTransactions(),
            hasher=KeyedHasher(b"f" * 32),
        )
    )
    with TestClient(create_app(services=services, ready=lambda: True)) as http:
        yield http


class _References(HTMLParser):
    """Every URL the page loads or links to: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value is not None:
                self.urls.append((tag, value))
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _references(page: str) -> _References:
    parser = _References()
    parser.feed(page)
    return parser


def _sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_the_page_references_only_its_own_origin(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    found = _references(response.text)
    assert found.inline_scripts == 0
    assert sorted(found.urls) == sorted(
        [
            ("link", f"/docs/assets/{_sha16(VENDORED / 'favicon-32x32.png')}/favicon-32x32.png"),
            ("link", f"/docs/assets/{_sha16(VENDORED / 'swagger-ui.css')}/swagger-ui.css"),
            ("link", f"/docs/assets/{_sha16(EXPLORER / 'static' / 'docs.css')}/docs.css"),
            (
                "script",
                f"/docs/assets/{_sha16(VENDORED / 'swagger-ui-bundle.js')}/swagger-ui-bundle.js",
            ),
            ("script", f"/docs/assets/{_sha16(EXPLORER / 'static' / 'docs.js')}/docs.js"),
            ("a", "/openapi.json"),
        ]
    )
    assert 'data-openapi-url="/openapi.json"' in response.text
    assert not re.search(r"(https?:)?//", response.text)


def test_every_asset_is_served_with_a_year_of_cache(client):
    media_types = {
        "favicon-32x32.png": "image/png",
        "swagger-ui.css": "text/css; charset=utf-8",
        "docs.css": "text/css; charset=utf-8",
        "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "docs.js": "text/javascript; charset=utf-8",
    }
    urls = [url for _, url in _references(client.get("/docs").text).urls if "/assets/" in url]

    assert len(urls) == len(media_types)
    for url in urls:
        name = url.rsplit("/", 1)[1]
        digest = url.split("/")[3]
        source = VENDORED / name if (VENDORED / name).exists() else EXPLORER / "static" / name
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content == source.read_bytes()
        assert response.headers["content-type"] == media_types[name]
        assert response.headers["cache-control"] == YEAR
        assert response.headers["etag"] == f'"{digest}"'
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_a_cached_asset_is_not_sent_again(client):
    digest = _sha16(VENDORED / "swagger-ui.css")
    url = f"/docs/assets/{digest}/swagger-ui.css"

    response = client.get(url, headers={"If-None-Match": f'"{digest}"'})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{digest}"'
    assert client.head(url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/docs/assets/0000000000000000/swagger-ui.css",
        "/docs/assets/{css}/swagger-ui.js",
        "/docs/assets/{css}/SOURCE.json",
        "/docs/assets/{css}/..%2F__init__.py",
        "/docs/oauth2-redirect",
        "/redoc",
    ],
)
def test_anything_else_is_not_found(client, url):
    response = client.get(url.format(css=_sha16(VENDORED / "swagger-ui.css")))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_the_vendored_files_are_the_release_source_json_names():
    source = json.loads((VENDORED / "SOURCE.json").read_text())

    assert source["package"] == "swagger-ui-dist"
    assert re.fullmatch(r"\d+\.\d+\.\d+", source["version"])
    assert source["license"] == "Apache-2.0"
    assert source["integrity"].startswith("sha512-")
    on_disk = {p.name for p in VENDORED.iterdir()} - {"SOURCE.json"}
    assert set(source["files"]) == on_disk
    for name, sha256 in source["files"].items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == sha256, name
    assert "Apache License" in (VENDORED / "LICENSE").read_text()
    assert "SmartBear" in (VENDORED / "NOTICE").read_text()


def test_the_wheel_carries_the_explorer(tmp_path):
    """Package data: an installed (not editable) optledger serves /docs too."""
    subprocess.run(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            *("-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--wheel-dir", str(tmp_path), str(REPO)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("optledger-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"optledger/api/explorer/swagger-ui/{name}"
        for name in json.loads((VENDORED / "SOURCE.json").read_text())["files"]
    } | {
        "optledger/api/explorer/swagger-ui/SOURCE.json",
        "optledger/api/explorer/static/docs.js",
        "optledger/api/explorer/static/docs.css",
    }
    assert expected <= names
