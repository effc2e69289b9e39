"""Every language's catalog is complete and safe to format: a string added to a template
without translations fails here, not in front of a person."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

import optledger.api.pages

LOCALES = Path(optledger.api.pages.__file__).parent / "locales"
ROOT = Path(__file__).resolve().parents[3]
TRANSLATED = [
    "es_ES", "fr_FR", "it_IT", "de_DE", "nl_NL", "pt_BR", "pt_PT", "da_DK",
    "ru_RU", "fr_CA", "zh_CN", "ja_JP", "ko_KR", "sv_SE",
]  # fmt: skip
"""Every locale but en_US, whose strings are the English sources themselves."""
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _catalog(path: Path):
    with path.open("rb") as file:
        return read_po(file)


def _ids(catalog) -> set[object]:
    return {message.id for message in catalog if message.id}


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_is_translated_with_the_same_placeholders(locale):
    catalog = _catalog(LOCALES / locale / "LC_MESSAGES" / "messages.po")
    template = _catalog(LOCALES / "messages.pot")
    assert _ids(catalog) == _ids(template)
    # The plural rule is the CLDR data's of the locked babel (scripts/lock refreshes it).
    assert catalog.plural_forms == get_plural(locale).plural_forms
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        assert not message.fuzzy, message.id
        assert len(translations) == (catalog.num_plurals if message.pluralizable else 1)
        expected = set(PLACEHOLDER.findall(sources[-1]))
        for translation in translations:
            assert translation.strip(), message.id
            assert set(PLACEHOLDER.findall(translation)) == expected, (message.id, translation)
            assert "<" not in translation, message.id


def test_the_template_holds_exactly_the_strings_of_the_sources():
    """Extracting again (as babel.cfg says) gives the committed template's strings."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = {
        message[2]
        for message in extract_from_dir(
            LOCALES.parent, method_map=method_map, options_map=options_map
        )
    }
    assert extracted == _ids(_catalog(LOCALES / "messages.pot"))
