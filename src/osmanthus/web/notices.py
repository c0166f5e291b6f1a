"""The resident's notices: the inbox (``/me/notices``, in the page's language) and where
notices go by e-mail (``/me/contact``); the same in the API under ``/api/v1/me``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from osmanthus.core import Actor
from osmanthus.i18n import gettext
from osmanthus.ledger import Ledger, contact_of, notices_of, set_contact
from osmanthus.notices import render
from osmanthus.web.access import Caller
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["notices_router"]


class NoticeOut(BaseModel):
    id: int
    kind: str
    created_at: dt.datetime
    subject: str
    lines: list[str]
    facts: dict[str, Any] = Field(description="What happened, as data (codes, dates).")


class ContactIn(BaseModel):
    email: str = Field(max_length=254, description="The address; empty to stop e-mails.")
    language: Literal["zh", "en"] = "zh"


class ContactOut(BaseModel):
    ok: bool = True
    email: str | None
    language: str | None


def notices_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    def shown(request: Request, ledger: Ledger, who: Caller) -> list[NoticeOut]:
        name = who.own_pseudonym()
        found = notices_of(ledger.engine, name, ledger.today())
        ledger.record_access(
            actor=Actor("resident", who.name),
            action="notice.read",
            subject=name,
            purpose="resident reads own notices",
        )
        names = pages.names(ledger.policy.latest, pages.language(request))
        out = []
        for notice in found:
            text = render(notice, gettext, names)
            out.append(
                NoticeOut(
                    id=notice.id,
                    kind=notice.kind,
                    created_at=notice.created_at,
                    subject=text.subject,
                    lines=list(text.lines),
                    facts=notice.payload,
                )
            )
        return out

    @router.get("/me/notices", include_in_schema=False)
    def notices_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        found = shown(request, ledger, who)
        contact = contact_of(ledger.engine, who.own_pseudonym())
        return pages.render(
            request, "resident/notices.html", caller=who, notices=found, contact=contact
        )

    @router.post("/me/contact", include_in_schema=False)
    def contact_form(
        ledger: LedgerDep,
        who: PostingCallerDep,
        email: Annotated[str, Form(max_length=254)] = "",
        language: Annotated[Literal["zh", "en"], Form()] = "zh",
    ) -> Response:
        set_contact(
            ledger.engine,
            who.own_pseudonym(),
            email,
            language,
            actor=Actor("resident", who.name),
            now=ledger.now(),
        )
        return RedirectResponse("/me/notices", 303)

    @router.get("/api/v1/me/notices", response_model=list[NoticeOut], tags=["residents"])
    def my_notices(request: Request, ledger: LedgerDep, who: CallerDep) -> list[NoticeOut]:
        """The resident's notices, newest first, in the request's language."""
        return shown(request, ledger, who)

    @router.get("/api/v1/me/contact", response_model=ContactOut, tags=["residents"])
    def my_contact(ledger: LedgerDep, who: CallerDep) -> ContactOut:
        """Where the resident's notices go by e-mail (none: the inbox only)."""
        found = contact_of(ledger.engine, who.own_pseudonym())
        return ContactOut(
            email=found.email if found else None, language=found.language if found else None
        )

    @router.put("/api/v1/me/contact", response_model=ContactOut, tags=["residents"])
    def set_my_contact(body: ContactIn, ledger: LedgerDep, who: PostingCallerDep) -> ContactOut:
        """Set where notices go by e-mail, and in which language (an empty address stops
        e-mails; the inbox keeps every notice)."""
        set_contact(
            ledger.engine,
            who.own_pseudonym(),
            body.email,
            body.language,
            actor=Actor("resident", who.name),
            now=ledger.now(),
        )
        return my_contact(ledger, who)

    return router
