"""The languages of the hosted pages, and which one a request gets.

A page speaks one of `LOCALES`. The choice, first match wins:

1. an explicit `lang` (query string or form field) that names one of them, in any case
   and with `-` or `_`;
2. the person's language as the tenant recorded it (`contact_locale`), matched;
3. the browser's `Accept-Language`, by q-value, each entry matched;
4. the tenant's default language, matched;
5. `en-US`.

Matching a language tag against the fifteen (`match_locale`) uses CLDR's data as Babel
ships it: an exact language-region match wins (`fr-CA` → fr-CA); then CLDR's parent
locales (`pt-AO`, `pt-MZ` → pt-PT); then the language's most likely region (`pt` → pt-BR,
`fr-BE` → fr-FR, `en-GB` → en-US, `es-MX` → es-ES, `zh` and `zh-SG` → zh-CN). A tag whose
script differs from the one we have does not match (`zh-TW`, `zh-Hant` are Traditional
Chinese: the next choice is tried instead).
"""

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from babel import Locale
from babel.core import get_global
from babel.support import Translations

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "MissingCatalogError",
    "PageLocale",
    "choose_locale",
    "explicit_locale",
    "load_translations",
    "match_locale",
    "page_locales",
    "parse_accept_language",
]

LOCALES: Final = (
    "en-US",
    "es-ES",
    "fr-FR",
    "it-IT",
    "de-DE",
    "nl-NL",
    "pt-BR",
    "pt-PT",
    "da-DK",
    "ru-RU",
    "fr-CA",
    "zh-CN",
    "ja-JP",
    "ko-KR",
    "sv-SE",
)
DEFAULT_LOCALE: Final = "en-US"
CATALOG_DOMAIN: Final = "messages"

_BY_FOLDED: Final = {tag.lower(): tag for tag in LOCALES}
_TAG: Final = re.compile(
    r"(?P<language>[a-z]{2,3})"
    r"(?:[-_](?P<script>[a-z]{4}))?"
    r"(?:[-_](?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?:[-_][a-z0-9]{1,8})*",
    re.IGNORECASE,
)
_MAX_ACCEPT_LANGUAGE: Final = 1_000
_MAX_ACCEPT_ENTRIES: Final = 32
_MAX_PARENT_STEPS: Final = 4


class MissingCatalogError(RuntimeError):
    """A compiled message catalog (.mo) the pages need is not there."""


@dataclass(frozen=True, slots=True)
class PageLocale:
    tag: str
    """One of LOCALES, as written there (`pt-BR`)."""
    babel: Locale
    direction: str
    """`ltr` or `rtl`, for `<html dir>`."""
    display_name: str
    """The language's name in itself, as the language menu shows it."""


def page_locales() -> dict[str, PageLocale]:
    """Every page language, in the order of LOCALES."""
    result = {}
    for tag in LOCALES:
        locale = Locale.parse(tag, sep="-")
        name = locale.get_display_name(locale) or tag
        result[tag] = PageLocale(
            tag=tag,
            babel=locale,
            direction="rtl" if locale.character_order == "right-to-left" else "ltr",
            display_name=name[:1].upper() + name[1:],
        )
    return result


def load_translations(directory: Path) -> dict[str, Translations]:
    """The compiled catalog of every page language; MissingCatalogError if one is absent.

    Catalogs are compiled by the build (`scripts/install`, or the wheel's build step), not
    kept in the repository.
    """
    result = {}
    missing = []
    for tag in LOCALES:
        folder = tag.replace("-", "_")
        path = directory / folder / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.mo"
        if not path.is_file():
            missing.append(str(path))
            continue
        with path.open("rb") as fileobj:
            result[tag] = Translations(fileobj, domain=CATALOG_DOMAIN)
    if missing:
        raise MissingCatalogError(
            "the hosted pages' compiled message catalogs are missing ("
            + ", ".join(missing)
            + "); compile them with `pybabel compile -d src/optledger/api/pages/locales"
            " -D messages` (scripts/install does it)"
        )
    return result


def explicit_locale(value: str | None) -> str | None:
    """The page language `value` names exactly (`de-de`, `pt_BR`), or None."""
    if not value:
        return None
    return _BY_FOLDED.get(value.strip().replace("_", "-").lower())


@functools.lru_cache(maxsize=1024)
def match_locale(tag: str | None) -> str | None:
    """The page language that best serves someone asking for `tag`, or None."""
    if not tag:
        return None
    exact = explicit_locale(tag)
    if exact is not None:
        return exact
    found = _TAG.fullmatch(tag.strip())
    if found is None:
        return None
    language = found["language"].lower()
    region = (found["region"] or "").upper()
    ours = {t: _subtags(t.replace("-", "_")) for t in LOCALES if t.startswith(f"{language}-")}
    if not ours:
        return None
    likely = _likely_subtags()
    asked = likely.get(f"{language}_{region}") or likely.get(language, language)
    script = (found["script"] or "").title() or _subtags(asked)[1]
    candidates = {t: parts for t, parts in ours.items() if parts[1] == script}
    by_region = {parts[2]: t for t, parts in candidates.items()}
    if not by_region:
        return None
    step = f"{language}_{region}" if region else language
    for _ in range(_MAX_PARENT_STEPS):
        if "_" not in step:
            break
        here = step.rsplit("_", 1)[1]
        if here in by_region:
            return by_region[here]
        step = _parents().get(step) or step.rsplit("_", 1)[0]
    default_region = _subtags(likely.get(language, language))[2]
    return by_region.get(default_region, next(iter(candidates)))


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an Accept-Language header, most wanted first (q=0 and `*`
    dropped; equal weights keep their order)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:_MAX_ACCEPT_LANGUAGE].split(",")[:_MAX_ACCEPT_ENTRIES]):
        tag, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = -1.0
        if tag and tag != "*" and 0.0 < weight <= 1.0:
            weighted.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose_locale(
    *,
    explicit: str | None,
    contact: str | None = None,
    accept_language: str | None = None,
    tenant_default: str | None = None,
) -> str:
    """The page language of a request (see the module's documentation for the order)."""
    chosen = explicit_locale(explicit) or match_locale(contact)
    if chosen is not None:
        return chosen
    for tag in parse_accept_language(accept_language):
        chosen = match_locale(tag)
        if chosen is not None:
            return chosen
    return match_locale(tenant_default) or DEFAULT_LOCALE


def _subtags(identifier: str) -> tuple[str, str, str]:
    """language, script, region of a CLDR identifier like `zh_Hans_CN` (blank if absent)."""
    parts = identifier.split("_")
    language = parts[0]
    script = next((p for p in parts[1:] if len(p) == 4), "")
    region = next((p for p in parts[1:] if len(p) != 4), "")
    if not script:
        script = _likely_subtags().get(language, "__").split("_")[1]
    return language, script, region


@functools.cache
def _likely_subtags() -> Mapping[str, str]:
    data: Mapping[str, str] = get_global("likely_subtags")
    return data


@functools.cache
def _parents() -> Mapping[str, str]:
    data: Mapping[str, str] = get_global("parent_exceptions")
    return data
