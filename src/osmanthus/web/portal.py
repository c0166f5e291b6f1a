"""The resident portal: sign-in, the score with every record and its legal basis, the
expiry calendar, who read my data, and disputes. Pages and the same data as JSON.

Every page that shows a resident's records is an audited read (actor: the resident,
purpose: what the page is for). A resident can only ever reach their own data: no route
takes a resident's identifier, and a record id that is not theirs is "not found".
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from osmanthus.disputes import resident_disputes
from osmanthus.errors import NotFound, NotSignedIn
from osmanthus.i18n import LANGUAGES
from osmanthus.ledger import Actor, Ledger, ResidentInfo, StoredRecord
from osmanthus.residents import project, sign_in, who_read
from osmanthus.scoring import Explanation, explain
from osmanthus.scoring.remembered import Explanations
from osmanthus.web.access import Caller, authenticate, key_digest
from osmanthus.web.pages import Pages
from osmanthus.web.session import (
    CallerDep,
    LedgerDep,
    caller_of,
    check_csrf,
    close_session,
    open_key_session,
    open_resident_session,
)

__all__ = ["portal_router"]

HOME = {
    "resident": "/me",
    "department": "/console",
    "provider": "/provider",
    "operator": "/oversight",
    "auditor": "/oversight",
    "policy-approver": "/policy",
    "reviewer": "/review",
}


class RecordOut(BaseModel):
    """One record as its resident sees it."""

    id: int
    department: str
    metric: str
    title: str
    points: int
    counted: int
    status: str
    act_date: dt.date
    expires_on: dt.date | None
    legal_basis: str
    rule: str


class PerkOut(BaseModel):
    code: str
    title: str
    eligible: bool
    valid_until: dt.date | None
    needs: str


class ScoreOut(BaseModel):
    """A resident's own score, as of today."""

    ok: bool = True
    as_of: dt.date
    score: int | None
    grade: str | None
    baseline: int
    records: list[RecordOut]
    perks: list[PerkOut]


class AccessOut(BaseModel):
    at: dt.datetime
    actor: str
    action: str
    purpose: str = Field(description="As recorded: a provider's is a purpose code.")
    purpose_title: str = Field(description="What the purpose means (a code's title).")
    purpose_title_zh: str = Field(description="The same in Chinese, where the policy has it.")


def own_read(ledger: Ledger, who: Caller, purpose: str) -> tuple[ResidentInfo, list[StoredRecord]]:
    """The signed-in resident and their record rows (an audited read)."""
    return ledger.read_pseudonym(
        who.own_pseudonym(), actor=Actor("resident", who.name), purpose=purpose
    )


async def own_explanation_now(request: Request, who: Caller, purpose: str) -> Explanation:
    """Today's explanation of the signed-in resident (the score page and its JSON), on
    the event loop: a short read on a kept connection, the explanation remembered per
    resident state (scoring.remembered), the audit entry awaited before anything leaves."""
    ledger: Ledger = request.app.state.ledger
    resident, rows, committed = ledger.read_on_loop(
        who.own_pseudonym(), actor=Actor("resident", who.name), purpose=purpose
    )
    explanations: Explanations = request.app.state.explanations
    found = explanations.explain(resident, rows, ledger.today())
    await committed
    return found


def _today(ledger: Ledger, found: tuple[ResidentInfo, list[StoredRecord]]) -> Explanation:
    resident, rows = found
    return explain(rows, ledger.policy, ledger.today(), subject=resident.subject)


def _score_out(ledger: Ledger, found: Explanation) -> ScoreOut:
    return ScoreOut(
        as_of=found.as_of,
        score=found.score,
        grade=found.grade,
        baseline=found.scale.baseline,
        records=[
            RecordOut(
                id=line.record.id,
                department=line.record.department,
                metric=line.record.metric,
                title=line.metric_title,
                points=line.points,
                counted=line.counted,
                status=line.status_text,
                act_date=line.record.act_date,
                expires_on=line.expires_on,
                legal_basis=line.legal_basis,
                rule=line.rule,
            )
            for line in found.lines
        ],
        perks=[
            PerkOut(
                code=p.code,
                title=p.title,
                eligible=p.eligible,
                valid_until=p.valid_until,
                needs=p.reason,
            )
            for p in found.perks
        ],
    )


def _address(request: Request) -> str:
    """The client's address as uvicorn reports it (web.throttle)."""
    return request.client.host if request.client else "unknown"


def portal_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    # -- signing in and out ------------------------------------------------------------

    @router.get("/me", include_in_schema=False)  # first: the busiest page
    async def score_page(request: Request) -> Response:
        who = caller_of(request)  # no dependencies to solve (web.session.caller_of)
        found = await own_explanation_now(request, who, "resident views own score")
        return pages.render(request, "resident/score.html", caller=who, e=found)

    @router.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        who = request.session.get("who")
        if who == "resident":
            return RedirectResponse("/me", 303)
        if who == "key":
            return RedirectResponse("/staff", 303)
        return RedirectResponse("/signin", 303)

    @router.get("/signin", include_in_schema=False)
    def signin_page(request: Request, kiosk: bool = False) -> Response:
        return pages.render(request, "signin.html", kiosk_form=kiosk, failed=None)

    def throttled(request: Request, kiosk: bool) -> Response | None:
        """The sign-in page refusing this address for now (429), or None: the attempt is
        counted (web.throttle) and forgiven if it succeeds."""
        wait = request.app.state.signin_throttle.attempt(_address(request))
        if not wait:
            return None
        page = pages.render(
            request,
            "signin.html",
            kiosk_form=kiosk,
            failed="address",
            minutes=max(1, -(-wait // 60)),
            status=429,
        )
        page.headers["Retry-After"] = str(wait)
        return page

    @router.post("/signin", include_in_schema=False)
    def signin(
        request: Request,
        ledger: LedgerDep,
        national_id: Annotated[str, Form(max_length=32)],
        password: Annotated[str, Form(max_length=128)],
        kiosk: Annotated[bool, Form()] = False,
    ) -> Response:
        if refused := throttled(request, kiosk):
            return refused
        try:
            name = sign_in(ledger, national_id.strip(), password, address=_address(request))
        except NotSignedIn:
            return pages.render(
                request, "signin.html", kiosk_form=kiosk, failed="resident", status=401
            )
        request.app.state.signin_throttle.succeeded(_address(request))
        open_resident_session(request, name, kiosk=kiosk)
        return RedirectResponse("/me", 303)

    @router.post("/signin/key", include_in_schema=False)
    def signin_key(
        request: Request, ledger: LedgerDep, key: Annotated[str, Form(max_length=128)]
    ) -> Response:
        if refused := throttled(request, False):
            return refused
        try:
            found = authenticate(ledger.engine, key.strip())
        except NotSignedIn:
            return pages.render(request, "signin.html", kiosk_form=False, failed="key", status=401)
        request.app.state.signin_throttle.succeeded(_address(request))
        open_key_session(request, key_digest(key.strip()))
        return RedirectResponse(HOME[found.role], 303)

    @router.get("/staff", include_in_schema=False)
    def staff_home(who: CallerDep) -> Response:
        return RedirectResponse(HOME[who.role], 303)

    @router.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        if request.session.get("csrf"):  # a session to end: only its own pages may end it
            await check_csrf(request)
        kiosk = bool(request.session.get("kiosk"))
        close_session(request)
        return RedirectResponse("/signin?kiosk=true" if kiosk else "/signin", 303)

    @router.get("/lang/{code}", include_in_schema=False)
    def language(code: str, back: str = "/") -> Response:
        if code not in LANGUAGES:
            raise NotFound(f"language {code!r}: offered are {', '.join(LANGUAGES)}")
        target = back if back.startswith("/") and not back.startswith("//") else "/"
        response = RedirectResponse(target, 303)
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax")
        return response

    # -- pages -------------------------------------------------------------------------

    @router.get("/me/records/{record_id}", include_in_schema=False)
    def record_page(
        request: Request, record_id: int, ledger: LedgerDep, who: CallerDep
    ) -> Response:
        found = _today(ledger, own_read(ledger, who, "resident views one record"))
        line = next((ln for ln in found.lines if ln.record.id == record_id), None)
        if line is None:
            raise NotFound(f"record {record_id}: no such record of yours")
        disputes = [
            d for d in resident_disputes(ledger, who.own_pseudonym()) if d.record_id == record_id
        ]
        return pages.render(
            request,
            "resident/record.html",
            caller=who,
            line=line,
            disputes=disputes,
            e=found,
            today=ledger.today(),
        )

    @router.get("/me/calendar", include_in_schema=False)
    def calendar_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        resident, rows = own_read(ledger, who, "resident views expiry calendar")
        outlook = project(rows, ledger.policy, ledger.today(), subject=resident.subject)
        return pages.render(request, "resident/calendar.html", caller=who, p=outlook)

    @router.get("/me/access", include_in_schema=False)
    def access_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        entries = who_read(ledger, who.own_pseudonym())
        version = ledger.policy.in_force(ledger.today())
        return pages.render(
            request,
            "resident/access.html",
            caller=who,
            entries=entries,
            purpose_title=version.purpose_title,
        )

    # -- the same as JSON --------------------------------------------------------------

    @router.get("/api/v1/me", response_model=ScoreOut, tags=["residents"])
    async def my_score(request: Request, ledger: LedgerDep, who: CallerDep) -> ScoreOut:
        """The signed-in resident's score, grade, records (with legal basis) and perks."""
        found = await own_explanation_now(request, who, "resident reads own score (API)")
        return _score_out(ledger, found)

    @router.get("/api/v1/me/access", response_model=list[AccessOut], tags=["residents"])
    def my_access(ledger: LedgerDep, who: CallerDep) -> list[AccessOut]:
        """Who read or wrote the resident's data, when, and for what purpose."""
        version = ledger.policy.in_force(ledger.today())
        return [
            AccessOut(
                at=e.at,
                actor=e.actor,
                action=e.action,
                purpose=e.purpose,
                purpose_title=version.purpose_title(e.purpose),
                purpose_title_zh=version.purpose_title(e.purpose, "zh"),
            )
            for e in who_read(ledger, who.own_pseudonym())
        ]

    return router
