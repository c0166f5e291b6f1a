"""Languages of the pages and the notices: Simplified Chinese and English, from gettext
catalogues.

The catalogues are ``locales/<locale>/LC_MESSAGES/messages.po`` (English is the source
language, so it needs none). They are compiled in memory when the app starts, so the
``.po`` files are the only thing to edit. A request's language comes from the ``lang``
cookie (the switch on every page), else from the browser's ``Accept-Language``, else
Chinese, the language of the city.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "LANGUAGES",
    "Catalogues",
    "choose_language",
    "gettext",
    "gettext_noop",
    "ngettext",
    "use_language",
]

#: The page languages: code → (gettext locale, the language's own name, html lang).
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "zh": ("zh_Hans", "中文", "zh-Hans"),
    "en": ("en", "English", "en"),
}
DEFAULT = "zh"
LOCALES = Path(__file__).parent / "locales"

_NONE = NullTranslations()
_current: ContextVar[NullTranslations | None] = ContextVar("translations", default=None)


class Catalogues:
    """The compiled catalogues, one per language."""

    def __init__(self, folder: Path = LOCALES) -> None:
        self.translations: dict[str, NullTranslations] = {}
        for code, (locale, _, _) in LANGUAGES.items():
            po = folder / locale / "LC_MESSAGES" / "messages.po"
            if not po.is_file():
                self.translations[code] = NullTranslations()
                continue
            with po.open("rb") as file:
                catalog = read_po(file, locale=locale)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            self.translations[code] = Translations(buffer)

    def get(self, code: str) -> NullTranslations:
        return self.translations.get(code, self.translations[DEFAULT])


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one of ours, else the browser's first that is
    (Babel's negotiation over the header's tags in order of preference)."""
    if cookie in LANGUAGES:
        return cookie
    found = negotiate_locale(_preferred(accept_language), list(LANGUAGES), sep="-")
    return found if found in LANGUAGES else DEFAULT


def _preferred(header: str | None) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (``q=0``: not at
    all; a malformed weight: wanted, least of all)."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.001
        if tag.strip() and quality > 0:
            wanted.append((-quality, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(wanted)]


def use_language(translations: NullTranslations) -> None:
    """Make ``translations`` the current request's (a context variable)."""
    _current.set(translations)


def gettext(message: str, **variables: Any) -> str:
    """The current language's text of ``message``, with ``%(name)s`` filled in."""
    found = (_current.get() or _NONE).ugettext(message)
    return found % variables if variables else found


def gettext_noop(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it yet."""
    return message


def ngettext(singular: str, plural: str, count: int, **variables: Any) -> str:
    found = (_current.get() or _NONE).ungettext(singular, plural, count)
    return found % {"num": count, **variables}
