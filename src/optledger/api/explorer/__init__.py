"""`/docs`: the API explorer (Swagger UI), served from the package itself.

Nothing on the page comes from another origin, so it works without internet access: the
Swagger UI files are vendored from the npm package `swagger-ui-dist` (see
`swagger-ui/SOURCE.json` and `scripts/vendor-swagger-ui`), and the script that starts
Swagger UI is a file of its own, so the Content-Security-Policy allows no inline script.
Each asset's URL holds the start of its sha256, so it can be cached for a year: a new
file gets a new URL. docs/decisions/0012-offline-api-docs.md says why.
"""

import hashlib
import html
from dataclasses import dataclass
from importlib.resources import files
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

__all__ = ["ASSET_CACHE", "ASSET_PREFIX", "CONTENT_SECURITY_POLICY", "install_api_explorer"]

ASSET_PREFIX: Final = "/docs/assets"
ASSET_CACHE: Final = "public, max-age=31536000, immutable"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Only this origin: the page, its scripts and styles, the OpenAPI document and the calls
that "Try it out" makes. Swagger UI's icons are `data:` images in its stylesheet."""
_DIGEST_LENGTH: Final = 16
_FILES: Final = {
    "swagger-ui-bundle.js": ("swagger-ui", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("swagger-ui", "image/png"),
    "LICENSE": ("swagger-ui", "text/plain; charset=utf-8"),
    "NOTICE": ("swagger-ui", "text/plain; charset=utf-8"),
    "docs.js": ("static", "text/javascript; charset=utf-8"),
    "docs.css": ("static", "text/css; charset=utf-8"),
}
"""Every file served under ASSET_PREFIX: its folder in this package and its media type."""
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    digest: str
    """The start of the body's sha256, in hex: part of the URL and the ETag."""


def _load_assets() -> dict[str, _Asset]:
    package = files(__name__)
    assets: dict[str, _Asset] = {}
    for name, (folder, media_type) in _FILES.items():
        body = package.joinpath(folder, name).read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:_DIGEST_LENGTH]
        assets[name] = _Asset(body=body, media_type=media_type, digest=digest)
    return assets


def install_api_explorer(app: FastAPI, *, openapi_url: str) -> None:
    """Serve the explorer of `app`'s OpenAPI document (at `openapi_url`) at `/docs`, and
    its files under `/docs/assets/<digest>/<name>`."""
    assets = _load_assets()

    def url(name: str) -> str:
        return f"{ASSET_PREFIX}/{assets[name].digest}/{name}"

    page = _page(
        title=f"{app.title} API",
        openapi_url=openapi_url,
        stylesheets=(url("swagger-ui.css"), url("docs.css")),
        scripts=(url("swagger-ui-bundle.js"), url("docs.js")),
        icon=url("favicon-32x32.png"),
    )

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    @app.api_route(
        f"{ASSET_PREFIX}/{{digest}}/{{name}}", methods=["GET", "HEAD"], include_in_schema=False
    )
    def asset(request: Request, digest: str, name: str) -> Response:
        found = assets.get(name)
        if found is None or found.digest != digest:
            raise HTTPException(status_code=404)
        etag = f'"{found.digest}"'
        headers = {
            "Cache-Control": ASSET_CACHE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)


def _page(
    *,
    title: str,
    openapi_url: str,
    stylesheets: tuple[str, ...],
    scripts: tuple[str, ...],
    icon: str,
) -> str:
    links = "".join(
        f'    <link rel="stylesheet" href="{html.escape(href)}">\n' for href in stylesheets
    )
    tags = "".join(f'    <script src="{html.escape(src)}"></script>\n' for src in scripts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "  <head>\n"
        '    <meta charset="utf-8">\n'
        '    <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"    <title>{html.escape(title)}</title>\n"
        f'    <link rel="icon" type="image/png" href="{html.escape(icon)}">\n'
        f"{links}"
        "  </head>\n"
        "  <body>\n"
        "    <noscript>This page needs JavaScript. The OpenAPI document is at "
        f'<a href="{html.escape(openapi_url)}">{html.escape(openapi_url)}</a>.</noscript>\n'
        f'    <div id="swagger-ui" data-openapi-url="{html.escape(openapi_url)}"></div>\n'
        f"{tags}"
        "  </body>\n"
        "</html>\n"
    )
