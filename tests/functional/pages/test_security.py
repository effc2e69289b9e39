"""What every page promises: no script, a strict CSP, no cookies, no third parties, and a
generic error page that logs nothing personal."""

import logging
import re

from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.api.pages.render import BrandView
from optledger.domain.model import PageSettings
from optledger.services.links import Branding
from tests.functional.pages.conftest import build_world, form_token, post_form

CSP = re.compile(
    r"default-src 'none'; style-src 'self' 'nonce-([A-Za-z0-9_-]{22})'; img-src 'self' data:; "
    r"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LOGO = b"\x89PNG\r\n\x1a\nfake"


def all_pages(client, world) -> dict[str, object]:
    landing = client.get(world.path)
    token = form_token(landing.text)
    return {
        "landing": landing,
        "preferences": client.get(f"{world.path}/preferences"),
        "confirmation": post_form(
            client, f"{world.path}/leave", [("form_token", token), ("scope", "topic")]
        ),
        "conflict": post_form(
            client, f"{world.path}/undo", [("form_token", token), ("scope", "everything")]
        ),
        "expired": post_form(client, f"{world.path}/leave", [("scope", "topic")]),
        "invalid input": post_form(
            client, f"{world.path}/leave", [("form_token", token), ("scope", "x")]
        ),
        "invalid link": client.get(f"/u/{world.token[:-1]}"),
    }


def test_every_page_has_the_security_headers_and_no_script(client, world):
    for name, response in all_pages(client, world).items():
        headers = response.headers
        found = CSP.fullmatch(headers["content-security-policy"])
        assert found, name
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert headers["x-frame-options"] == "DENY"
        assert "set-cookie" not in headers
        html = response.text
        assert "<script" not in html.lower(), name
        assert " on" not in re.sub(r">[^<]*<", "><", html).replace(" one", ""), name
        assert not re.search(r'(src|href|action)="(https?:)?//', html), name
        for nonce in re.findall(r'<style nonce="([^"]+)">', html):
            assert nonce == found[1]


def test_the_one_click_answer_has_the_headers_too(client, world):
    response = client.post(
        world.path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers


def test_branding_inlines_the_logo_and_the_accent(client, services):
    world = build_world(
        services,
        pages=PageSettings(
            display_name="Globex", accent_color="#FFD700", logo=LOGO, logo_type="image/png"
        ),
    )

    html = client.get(world.path).text

    assert '<img class="brand-logo" src="data:image/png;base64,iVBORw0KGgpmYWtl" alt="">' in html
    assert ":root{--accent:#ffd700;--on-accent:#111111;--accent-border:#111111}" in html


def test_brand_colours_keep_their_contrast():
    def brand(color: str | None) -> BrandView:
        return BrandView.of(Branding(name="x", accent_color=color, logo=None, logo_type=None))

    assert (brand("#0b6e4f").on_accent, brand("#0b6e4f").accent_border) == ("#ffffff", "#0b6e4f")
    assert brand("#ffff00").on_accent == "#111111"
    assert brand("#767676").on_accent == "#ffffff"  # 4.54:1 on white
    assert brand("#777777").on_accent == "#111111"  # 4.48:1
    assert brand("red;}body{").accent is None
    assert brand(None).accent is None
    svg = BrandView.of(
        Branding(name="x", accent_color=None, logo=b"<svg/>", logo_type="image/svg+xml")
    )
    assert svg.logo is None


def test_the_stylesheet_is_served_with_a_long_cache(client, world):
    href = re.search(r'<link rel="stylesheet" href="([^"]+)">', client.get(world.path).text)[1]

    response = client.get(href)

    assert href.startswith("/u/assets/pages.css?v=")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/u/assets/other.css").status_code == 404


def test_an_unexpected_failure_is_a_generic_page_and_logs_nothing_personal(
    client, services, world, monkeypatch, caplog
):
    personal = "alice.smith@example.com"

    def boom(**_kwargs):
        raise RuntimeError(f"{personal} at {world.token} exploded")

    monkeypatch.setattr(services.links, "page", boom)

    with caplog.at_level(logging.ERROR, logger="optledger.api.pages"):
        response = client.get(world.path)

    assert response.status_code == 500
    assert '<main id="error"' in response.text
    assert "Something went wrong" in response.text
    assert "RuntimeError" in caplog.text
    assert world.token not in caplog.text
    assert "alice" not in caplog.text
    assert "alice" not in response.text


def test_the_pages_are_mounted_in_the_application_outside_the_rest_door(services):
    world = build_world(services)
    app = create_app(services=services, ready=lambda: True)

    with TestClient(app) as http:
        landing = http.get(world.path)
        invalid = http.get(f"/u/{world.token[:-1]}")
        put = http.put(world.path)
        spec = http.get("/openapi.json").json()

    assert landing.status_code == 200
    assert (invalid.status_code, invalid.headers["content-type"]) == (
        404,
        "text/html; charset=utf-8",
    )
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert put.headers["content-type"] == "text/plain; charset=utf-8"
    assert not [path for path in spec["paths"] if path.startswith("/u")]
