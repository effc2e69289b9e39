"""Turning page data into HTML responses: one Jinja2 environment per language, built once,
the tenant's branding made safe to show, and the security headers every answer carries."""

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.bccache import Bucket
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from optledger.api.pages.i18n import LOCALES, PageLocale
from optledger.services.links import Branding

__all__ = [
    "ASSETS",
    "BrandView",
    "Renderer",
    "plain",
    "security_headers",
]

PACKAGE_DIR: Final = Path(__file__).parent
TEMPLATES_DIR: Final = PACKAGE_DIR / "templates"
STATIC_DIR: Final = PACKAGE_DIR / "static"
LOCALES_DIR: Final = PACKAGE_DIR / "locales"

ASSETS: Final = {"pages.css": "text/css; charset=utf-8"}
"""The files served under /u/assets/, and their media types."""

_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")
_LOGO_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif"})
"""What `optledger.services.validation` accepts; checked again before it goes into a
`data:` URI, so nothing else can ever be inlined."""
_WHITE: Final = (1.0, 1.0, 1.0)
_DARK_TEXT: Final = "#111111"
_AA_TEXT: Final = 4.5
_AA_NON_TEXT: Final = 3.0


def security_headers(*, nonce: str | None = None) -> dict[str, str]:
    """The headers of every response of the pages. The pages run no script at all: the CSP
    has no script-src, so `default-src 'none'` forbids every script."""
    style = f"style-src 'self' 'nonce-{nonce}'" if nonce else "style-src 'self'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; {style}; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }


def plain(text: str, *, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A text/plain answer (the one-click door and routing errors)."""
    return PlainTextResponse(
        text, status_code=status, headers={**security_headers(), **(headers or {})}
    )


@dataclass(frozen=True, slots=True)
class BrandView:
    """A tenant's branding, checked and ready for the templates."""

    name: str
    logo: str | None
    """A `data:` URI, or None."""
    accent: str | None
    """`#rrggbb`, or None for the default colours."""
    on_accent: str
    """The text colour on the accent: white, or near-black when white would fail WCAG AA."""
    accent_border: str
    """The accent itself, or near-black when the accent is too light to stand out from
    the white page (WCAG non-text contrast)."""

    @classmethod
    def of(cls, branding: Branding) -> "BrandView":
        accent = branding.accent_color
        if accent is None or not _COLOR.fullmatch(accent):
            accent = None
        on_accent = "#ffffff"
        border = accent or ""
        if accent is not None:
            rgb = _luminance(accent)
            if _contrast(rgb, _WHITE) < _AA_TEXT:
                on_accent = _DARK_TEXT
            if _contrast(rgb, _WHITE) < _AA_NON_TEXT:
                border = _DARK_TEXT
        return cls(
            name=branding.name,
            logo=_logo_uri(branding.logo, branding.logo_type),
            accent=accent.lower() if accent else None,
            on_accent=on_accent,
            accent_border=border,
        )


def _logo_uri(logo: bytes | None, logo_type: str | None) -> str | None:
    if not logo or logo_type not in _LOGO_TYPES:
        return None
    return f"data:{logo_type};base64,{base64.b64encode(logo).decode('ascii')}"


def _luminance(color: str) -> tuple[float, float, float]:
    """The linear sRGB channels of `#rrggbb` (WCAG 2.x relative luminance inputs)."""
    channels = []
    for i in (1, 3, 5):
        value = int(color[i : i + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    return channels[0], channels[1], channels[2]


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    def relative(rgb: tuple[float, float, float]) -> float:
        return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]

    high, low = sorted((relative(a), relative(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled templates, shared by the fifteen environments (and by every Renderer of
    the process): a template is compiled once, not once per language. Jinja checks each
    entry against the template source's checksum."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_BYTECODE: Final = _MemoryBytecodeCache()


class Renderer:
    """Renders the page templates. Built once per application: one Environment per
    language with its translations installed at creation (never per request)."""

    def __init__(
        self, *, locales: Mapping[str, PageLocale], translations: Mapping[str, Translations]
    ) -> None:
        self.locales = locales
        css = (STATIC_DIR / "pages.css").read_bytes()
        self.assets = {name: (STATIC_DIR / name).read_bytes() for name in ASSETS}
        self._css_version = hashlib.sha256(css).hexdigest()[:12]
        loader = FileSystemLoader(TEMPLATES_DIR)
        self._environments = {
            tag: self._environment(loader, locales[tag], translations[tag]) for tag in LOCALES
        }

    def _environment(
        self, loader: FileSystemLoader, locale: PageLocale, translations: Translations
    ) -> Environment:
        env = Environment(
            loader=loader,
            autoescape=select_autoescape(default=True, default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            auto_reload=False,
            bytecode_cache=_BYTECODE,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(
            locale=locale,
            locales=list(self.locales.values()),
            format_date=_date_formatter(locale.babel),
            format_number=_number_formatter(locale.babel),
        )
        return env

    def render(
        self,
        request: Request,
        template: str,
        *,
        locale: str,
        status: int = 200,
        brand: BrandView | None = None,
        explicit_lang: str | None = None,
        **context: Any,
    ) -> Response:
        """The page `template` in `locale`. `explicit_lang` is the language the person
        chose by hand, which the page's forms and links carry on."""
        nonce = secrets.token_urlsafe(16)
        root = request.scope.get("root_path", "")
        html = (
            self._environments[locale]
            .get_template(template)
            .render(
                brand=brand,
                nonce=nonce,
                css_url=f"{root}/assets/pages.css?v={self._css_version}",
                explicit_lang=explicit_lang,
                **context,
            )
        )
        return HTMLResponse(
            html,
            status_code=status,
            headers={**security_headers(nonce=nonce), "Content-Language": locale},
        )


def _date_formatter(locale: Locale) -> Callable[[date | datetime], str]:
    def format_long(value: date | datetime) -> str:
        day = value.date() if isinstance(value, datetime) else value
        return format_date(day, format="long", locale=locale)

    return format_long


def _number_formatter(locale: Locale) -> Callable[[int], str]:
    def format_number(value: int) -> str:
        return format_decimal(value, locale=locale)

    return format_number
