"""The Chinese catalogue covers every text of the pages, with the same placeholders, and
the language is chosen as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from osmanthus.web.i18n import Catalogues, choose_language, gettext, use_language

WEB = Path(__file__).resolve().parents[2] / "src" / "osmanthus" / "web"
PO = WEB / "locales" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
METHODS = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
]
OPTIONS = {
    "**/templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "True",
        "lstrip_blocks": "True",
    }
}
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        WEB,
        METHODS,
        keywords={"_": None, "gettext": None, "gettext_noop": None},
        options_map=OPTIONS,
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_page_text_has_a_chinese_translation_with_its_placeholders() -> None:
    with PO.open("rb") as file:
        catalogue = {m.id: m.string for m in read_po(file) if m.id}
    messages = extracted()
    assert len(messages) > 100
    missing = sorted(m for m in messages if not catalogue.get(m))
    assert not missing, f"translate these in {PO} (see docs/web.md): {missing}"
    wrong = sorted(
        m
        for m in messages
        if sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(str(catalogue[m])))
    )
    assert not wrong, f"placeholders differ in the translation of: {wrong}"


def test_translations_apply_and_fill_their_placeholders() -> None:
    catalogues = Catalogues()
    use_language(catalogues.get("zh"))
    assert gettext("Sign in") != "Sign in"
    assert "70" in gettext("score %(score)s, grade %(grade)s", score=70, grade="B")
    use_language(catalogues.get("en"))
    assert gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "zh"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,en;q=0.5,zh;q=0.8", "zh"),
        (None, "fr-FR", "zh"),
        ("en", "zh-CN", "en"),
        ("xx", "en", "en"),
        (None, "en;q=oops", "en"),
    ],
)
def test_the_language_is_the_cookie_then_the_browser_then_chinese(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose_language(cookie, header) == expected
