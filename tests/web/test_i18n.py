"""The Chinese catalogue covers every text of the pages, with the same placeholders, and
the language is chosen as documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from jinja2 import Environment

from osmanthus.i18n import Catalogues, choose_language, gettext, use_language
from osmanthus.web.pages import FoldedTranslations, _translated

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "osmanthus"
WEB = PACKAGE / "web"
NOTICES = PACKAGE / "notices"  # the notices' texts share the pages' catalogue
PO = PACKAGE / "locales" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
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
    for folder in (WEB, NOTICES):
        for _, _, message, _, _ in extract_from_dir(
            folder,
            METHODS,
            keywords={"_": None, "gettext": None, "gettext_noop": None, "N_": None},
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
        (None, "en;q=0, fr", "zh"),  # q=0: not English, whatever its place
        (None, "EN-gb;q=0.3, fr;q=0.9", "en"),
    ],
)
def test_the_language_is_the_cookie_then_the_browser_then_chinese(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert choose_language(cookie, header) == expected


class Marked(NullTranslations):
    """A catalogue whose texts carry markup and an ampersand, as a translation may."""

    def ugettext(self, message: str) -> str:
        return f"<b>{message} & co</b>"


TEMPLATE = (
    '<p title="{{ _("Title") }}">{{ _("Fixed") }}</p>'
    '{{ _("Left") ~ "|" ~ _("Right") }}'
    '{{ _("Dated %(day)s", day=day) }}'
    "{{ gettext('Other') }}"
)


def test_fixed_texts_are_compiled_into_the_page_and_render_as_at_run_time() -> None:
    """``{{ _("text") }}`` becomes template data in the page's language; everything else
    still calls ``_()``; both give the same page."""
    marked = Marked()
    folded = Environment(autoescape=True, extensions=[FoldedTranslations])
    folded.translate = marked.ugettext  # type: ignore[attr-defined]
    plain = Environment(autoescape=True)
    for env in (folded, plain):
        env.globals["_"] = env.globals["gettext"] = _translated
    source = folded.compile(TEMPLATE, raw=True)
    assert "<b>Fixed & co</b>" in source and "<b>Other & co</b>" in source  # data now
    assert "Left" in source and "Dated" in source  # left to run time
    use_language(marked)
    try:
        day = "<i>today</i>"
        page = folded.from_string(TEMPLATE).render(day=day)
        assert page == plain.from_string(TEMPLATE).render(day=day)
    finally:
        use_language(NullTranslations())
    assert "<b>Fixed & co</b>" in page and "&lt;i&gt;today&lt;/i&gt;" in page
