"""Server-rendered pages: one Jinja2 environment, rendered in the request's language.

Templates live in ``templates/``; every visible text goes through ``_()`` (gettext) so
that the Chinese catalogue covers it. htmx (installed from the npm registry at set-up,
see ``static/vendor``) enhances forms; every page also works without script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup

from osmanthus import i18n
from osmanthus.policy import PolicyVersion
from osmanthus.policy.names import Names
from osmanthus.web.access import Caller
from osmanthus.web.asgi import route_path

__all__ = ["Pages"]

TEMPLATES = Path(__file__).parent / "templates"


# The scorer's record statuses, as page texts (gettext extracts the literal strings).
STATUS = {
    "counted": i18n.gettext_noop("counts"),
    "expired": i18n.gettext_noop("expired, no longer counts"),
    "cleared": i18n.gettext_noop("cleared: a clean period passed, or a measure reset the standing"),
    "removed": i18n.gettext_noop("removed after its over-lie period"),
    "superseded": i18n.gettext_noop("replaced by a later correction or retraction"),
    "retraction": i18n.gettext_noop("retraction of an earlier record"),
    "suspended": i18n.gettext_noop("set aside: a dispute of it was not answered in time"),
    "repaired": i18n.gettext_noop("repaired early: no longer counts"),
    "repair": i18n.gettext_noop("early repair of an earlier record"),
    "after_date": i18n.gettext_noop("act is after the scoring date"),
    "fulfilment": i18n.gettext_noop("obligation fulfilled (ends the record it fulfils)"),
    "profile": i18n.gettext_noop("profile data: never scores"),
    "duplicate": i18n.gettext_noop("repeats an incident already counted"),
}


def _translated(message: str, **variables: Any) -> Markup:
    found = Markup(i18n.gettext(message))
    return found % variables if variables else found


#: A dispute's states and steps, as page texts.
DISPUTE = {
    "open": i18n.gettext_noop("awaiting the department's answer"),
    "upheld": i18n.gettext_noop("upheld: the record was corrected or retracted"),
    "rejected": i18n.gettext_noop("rejected: the record stands (you may appeal)"),
    "appealed": i18n.gettext_noop("appealed: awaiting the reviewer's decision"),
    "confirmed": i18n.gettext_noop("confirmed by the reviewer: the record stands"),
    "overturned": i18n.gettext_noop(
        "overturned by the reviewer: the record was corrected or retracted"
    ),
    "filed": i18n.gettext_noop("filed"),
    "extended": i18n.gettext_noop("deadline extended"),
    "suspended": i18n.gettext_noop("deadline passed: the record is set aside"),
    "closed": i18n.gettext_noop("closed: the record was retracted"),
}

#: An application for early repair's states and steps, where they read otherwise.
REPAIR = {
    "open": i18n.gettext_noop("awaiting the department's decision"),
    "upheld": i18n.gettext_noop("granted: the record no longer counts"),
    "rejected": i18n.gettext_noop("refused: the record keeps counting (you may appeal)"),
    "appealed": i18n.gettext_noop("with the reviewer: awaiting the decision"),
    "confirmed": i18n.gettext_noop("refusal confirmed by the reviewer"),
    "overturned": i18n.gettext_noop("granted by the reviewer: the record no longer counts"),
    "escalated": i18n.gettext_noop("not decided in time: sent to the reviewer"),
}


#: Why a signed report leaves a record out (:data:`osmanthus.reports.disclosure.RULES`).
OMITTED = {
    "reporting_limit": i18n.gettext_noop("past the reporting limit of its record class"),
    "expired": i18n.gettext_noop("expired: no longer counts"),
    "cleared": i18n.gettext_noop("cleared by a clean period or a measure's reset"),
    "removed": i18n.gettext_noop("removed after its over-lie period"),
    "repaired": i18n.gettext_noop("repaired early"),
    "replaced": i18n.gettext_noop("replaced by a correction, or retracted"),
    "set_aside": i18n.gettext_noop("set aside: a dispute of it was not answered in time"),
    "after_date": i18n.gettext_noop("acted after the report's date"),
    "duplicate": i18n.gettext_noop("repeats an incident counted under another record"),
    "profile": i18n.gettext_noop("profile data: never reported"),
    "fulfilment": i18n.gettext_noop("fulfils a record that is not reported"),
}


def _omitted(rule: str) -> str:
    """Why a report leaves records out, in the page's language."""
    return i18n.gettext(OMITTED[rule]) if rule in OMITTED else rule


def _status(code: str) -> str:
    """A record status in the page's language."""
    return i18n.gettext(STATUS[code]) if code in STATUS else code


def _dispute(code: str, kind: str = "record") -> str:
    """A dispute's (or, with ``kind="repair"``, an application's) state or step in the
    page's language."""
    if kind == "repair" and code in REPAIR:
        return i18n.gettext(REPAIR[code])
    return i18n.gettext(DISPUTE[code]) if code in DISPUTE else code


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _signed(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+g}"


#: ``{{ _("text") }}`` or ``{{ gettext("text") }}``: an output that is only a call without
#: variables, foldable into its text.
_FOLDABLE = (
    ("variable_begin", None),
    ("name", ("_", "gettext")),
    ("lparen", None),
    ("string", None),
    ("rparen", None),
    ("variable_end", None),
)


def _fits(tokens: list[Token]) -> bool:
    return all(
        token.type == kind and (names is None or token.value in names)
        for token, (kind, names) in zip(tokens, _FOLDABLE, strict=False)
    )


class FoldedTranslations(Extension):
    """Compiles each ``{{ _("text") }}`` (the call is the whole output, without variables)
    into its translation, marked safe as ``_()`` marks it: the page's fixed texts become
    template data, compiled once per language, instead of about 40 calls a page (a fifth
    of rendering the score page). Every other use of ``_()`` still runs
    :func:`_translated`. The environment's ``translate`` (set by :class:`Pages`) names the
    language."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.extend(translate=None)

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        translate: Callable[[str], str] = self.environment.translate  # type: ignore[attr-defined]
        pending: list[Token] = []
        for token in stream:
            pending.append(token)
            while pending and not _fits(pending):
                yield pending.pop(0)
            if len(pending) == len(_FOLDABLE):
                begin, _, _, text, _, end = pending
                yield begin
                yield Token(text.lineno, "string", translate(text.value))
                yield Token(text.lineno, "pipe", "|")
                yield Token(text.lineno, "name", "safe")
                yield end
                pending = []
        yield from pending


class Pages:
    """Renders a template for a request, in its language, with what every page needs."""

    def __init__(self, catalogues: i18n.Catalogues) -> None:
        self.catalogues = catalogues
        self._names: dict[tuple[str, str, str], Names] = {}
        self.envs = {code: self._environment(code) for code in i18n.LANGUAGES}

    def _environment(self, code: str) -> Environment:
        """The templates compiled for one language."""
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,  # templates ship with the code: no stat() per page
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[FoldedTranslations],
        )
        env.translate = self.catalogues.get(code).ugettext  # type: ignore[attr-defined]
        # What Jinja's i18n extension does with newstyle gettext (the translation is
        # trusted, the variables are escaped), without its per-call context plumbing.
        env.globals["_"] = env.globals["gettext"] = _translated
        env.filters["date"] = _date
        env.filters["signed"] = _signed
        env.filters["status"] = _status
        env.filters["dispute"] = _dispute
        env.filters["omitted"] = _omitted
        return env

    def names(self, version: PolicyVersion, code: str) -> Names:
        """The names of a policy version in a language, built once per pair."""
        key = (version.name, version.version, code)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = Names.of(version, code)
        return found

    def language(self, request: Request) -> str:
        """The request's language, made current for gettext."""
        code = i18n.choose_language(
            request.cookies.get("lang"), request.headers.get("accept-language")
        )
        i18n.use_language(self.catalogues.get(code))
        return code

    def render(
        self,
        request: Request,
        template: str,
        *,
        caller: Caller | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        code = self.language(request)
        ledger = getattr(request.app.state, "ledger", None)
        names = self.names(ledger.policy.latest, code) if ledger is not None else None
        session = request.session if "session" in request.scope else {}
        page = (
            self.envs[code]
            .get_template(template)
            .render(
                request=request,
                lang=code,
                html_lang=i18n.LANGUAGES[code][2],
                languages={c: name for c, (_, name, _) in i18n.LANGUAGES.items()},
                caller=caller,
                csrf=session.get("csrf", ""),
                kiosk=bool(session.get("kiosk")),
                root=request.scope.get("root_path", ""),  # the prefix behind a proxy
                path=route_path(request.scope),
                names=names,
                oidc=bool(
                    getattr(getattr(request.app.state, "settings", None), "oidc_issuer", None)
                ),
                **context,
            )
        )
        return HTMLResponse(page, status_code=status, headers=headers)
