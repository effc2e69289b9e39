"""Which language a page speaks: explicit choice, the person's, the browser's, the tenant's."""

import pytest

from optledger.api.pages.i18n import (
    LOCALES,
    MissingCatalogError,
    choose_locale,
    load_translations,
    match_locale,
    parse_accept_language,
)
from tests.functional.pages.conftest import build_world, events, form_token, html_lang


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de-DE", "de-DE"),
        ("DE_de", "de-DE"),
        ("fr", "fr-FR"),
        ("fr-CA", "fr-CA"),
        ("fr-BE", "fr-FR"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-PT"),
        ("pt-AO", "pt-PT"),
        ("en-GB", "en-US"),
        ("es-MX", "es-ES"),
        ("es-419", "es-ES"),
        ("zh", "zh-CN"),
        ("zh-Hans-SG", "zh-CN"),
        ("zh-TW", None),
        ("zh-Hant", None),
        ("nb-NO", None),
        ("x", None),
        ("", None),
    ],
)
def test_matching_a_language_tag(tag, expected):
    assert match_locale(tag) == expected


def test_accept_language_is_read_by_weight():
    assert parse_accept_language("de;q=0.5, sv;q=0.9, *;q=0.8, ru;q=0, fr") == ["fr", "sv", "de"]
    assert choose_locale(explicit=None, accept_language="zh-TW, ja;q=0.5") == "ja-JP"
    assert choose_locale(explicit="xx", accept_language="nb, da;q=0.1") == "da-DK"
    assert choose_locale(explicit=None, tenant_default="nl") == "nl-NL"
    assert choose_locale(explicit=None) == "en-US"


def test_the_order_of_choices(client, services):
    world = build_world(services, default_locale="nl-NL", contact_locale="it-IT")

    def lang(query: str = "", accept: str | None = None) -> str:
        headers = {"Accept-Language": accept} if accept else {}
        return html_lang(client.get(f"{world.path}{query}", headers=headers).text)

    assert lang() == "it-IT"  # the person's language
    assert lang(accept="fr-CA,fr;q=0.9") == "it-IT"
    assert lang("?lang=sv_se", accept="fr-CA") == "sv-SE"
    assert lang("?lang=klingon") == "it-IT"


def test_the_browser_then_the_tenant(client, services):
    world = build_world(services, default_locale="nl-NL")

    def lang(accept: str | None = None) -> str:
        headers = {"Accept-Language": accept} if accept else {}
        return html_lang(client.get(world.path, headers=headers).text)

    assert lang("fr-CA,fr;q=0.9") == "fr-CA"
    assert lang("pt") == "pt-BR"
    assert lang("en-GB;q=0.5, ko") == "ko-KR"
    assert lang("nb, *") == "nl-NL"
    assert lang() == "nl-NL"


def test_an_explicit_language_is_carried_through_the_forms(client, services, world):
    html = client.get(f"{world.path}?lang=de-DE").text

    assert html_lang(html) == "de-DE"
    assert '<input type="hidden" name="lang" value="de-DE">' in html
    assert f'href="{world.path}/preferences?lang=de-DE"' in html
    assert '<option value="de-DE" lang="de-DE" selected>Deutsch (Deutschland)</option>' in html

    response = client.post(
        f"{world.path}/leave",
        data={"form_token": form_token(html), "scope": "topic", "lang": "de-DE"},
    )

    assert html_lang(response.text) == "de-DE"
    assert "4. Februar 2026" in response.text  # the undo date, in German
    assert events(services, world)[-1].locale == "de-DE"


def test_every_language_renders(client, world):
    for tag in LOCALES:
        html = client.get(f"{world.path}?lang={tag}").text
        assert f'<html lang="{tag}" dir="ltr">' in html
        assert client.get(f"{world.path}/preferences?lang={tag}").status_code == 200


def test_a_missing_compiled_catalog_stops_the_start(tmp_path):
    with pytest.raises(
        MissingCatalogError, match=r"en_US/LC_MESSAGES/messages\.mo.*pybabel compile"
    ):
        load_translations(tmp_path)
