"""Disputes on the web: the resident files and appeals (``/me/disputes``) and applies for
early repair (``/me/repairs``), the department that sent the record answers
(``/console/disputes/{id}``), the reviewer decides appeals and applications not decided
in time (``/review``); the same in the JSON API under ``/api/v1/me/disputes``,
``/api/v1/me/repairs`` and ``/api/v1/disputes``.

Who reads what: a dispute's reason, its record and its source reference are shown to the
resident, to the department that sent the record and, once it is appealed, to the
reviewer (each such read is audited as ``dispute.read``); operators and auditors list
deadlines only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from osmanthus.core import Actor
from osmanthus.disputes import (
    answer_dispute,
    appeal_dispute,
    apply_repair,
    department_disputes,
    file_dispute,
    file_profile_dispute,
    procedure_of,
    profile_facts_used,
    resident_disputes,
    review_dispute,
)
from osmanthus.errors import NotFound
from osmanthus.ledger import Dispute, Ledger, dispute_by_id
from osmanthus.web.access import Caller
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["DisputeOut", "due_process_router"]

#: A dispute's number in a path: a database integer (a larger one is a 422, not a 500).
DisputeId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: States of a dispute that was appealed: the only ones the reviewer reads whole.
APPEALED = ("appealed", "confirmed", "overturned")
State = Literal["open", "upheld", "rejected", "appealed", "confirmed", "overturned"]


class StepOut(BaseModel):
    kind: str
    at: dt.datetime
    actor: str
    reason: str | None
    due: dt.date | None
    record_id: int | None = Field(description="The correction or retraction this step wrote.")


class DisputeOut(BaseModel):
    """A dispute, its deadline and (for those who may read it) its reason and steps."""

    ok: bool = True
    id: int
    record_id: int | None = Field(description="The record disputed (none for a profile fact).")
    profile_fact_id: int | None = Field(default=None, description="The profile fact disputed.")
    department: str
    metric: str
    status: str
    filed_at: dt.datetime
    deadline: dt.date
    overdue: bool
    suspended_from: dt.date | None = Field(
        description="The record is set aside from this day (an answer or review overdue)."
    )
    reason: str | None = None
    source_ref: str | None = None
    steps: list[StepOut] = []
    kind: Literal["record", "repair", "profile"] = Field(
        default="record",
        description="record: a dispute of the record; repair: an application for its early "
        "repair (upheld = granted, rejected = refused); profile: a dispute of a profile fact "
        "(upheld with the corrected date).",
    )
    evidence_ref: str | None = None


class DisputeIn(BaseModel):
    record_id: int = Field(ge=1, le=2**63 - 1)  # a database integer
    reason: str = Field(min_length=10, max_length=2000)


class ProfileDisputeIn(BaseModel):
    fact_id: int = Field(ge=1, le=2**63 - 1)  # a database integer
    reason: str = Field(min_length=10, max_length=2000)


class ProfileFactOut(BaseModel):
    """A profile fact a rule uses: the newest of its attribute."""

    id: int
    attribute: str
    title: str
    value: dt.date
    department: str
    recorded_at: dt.datetime


class RepairIn(BaseModel):
    record_id: int = Field(ge=1, le=2**63 - 1)  # a database integer
    statement: str = Field(min_length=10, max_length=2000)
    evidence_ref: str | None = Field(default=None, max_length=200)


class AppealIn(BaseModel):
    reason: str = Field(min_length=10, max_length=2000)


class AnswerIn(BaseModel):
    answer: Literal["uphold", "reject", "extend"]
    reason: str = Field(min_length=10, max_length=2000)
    correct: float | None = Field(default=None, description="uphold: correct to this value.")
    correct_date: dt.date | None = Field(
        default=None, description="uphold a profile dispute: the corrected date."
    )
    days: int | None = Field(default=None, ge=1, le=90, description="extend: by this many days.")
    new_information: bool = Field(default=False, description="extend: the resident sent some.")


class ReviewIn(BaseModel):
    decision: Literal["confirm", "overturn"]
    reason: str = Field(min_length=10, max_length=2000)
    correct: float | None = Field(default=None, description="overturn: correct to this value.")
    correct_date: dt.date | None = Field(
        default=None, description="overturn a profile dispute: the corrected date."
    )


def dispute_out(d: Dispute, today: dt.date, *, full: bool) -> DisputeOut:
    """The dispute for the API (``full``: with the reason, source reference and steps)."""
    return DisputeOut(
        id=d.id,
        record_id=d.record_id,
        profile_fact_id=d.profile_fact_id,
        department=d.department,
        metric=d.metric,
        status=d.status,
        filed_at=d.filed_at,
        deadline=d.deadline,
        overdue=d.overdue(today),
        suspended_from=d.suspended_from,
        reason=d.reason if full else None,
        source_ref=d.source_ref if full else None,
        kind=d.kind if d.kind in ("repair", "profile") else "record",
        evidence_ref=d.evidence_ref if full else None,
        steps=[
            StepOut(
                kind=s.kind,
                at=s.at,
                actor=s.actor,
                reason=s.reason,
                due=s.due,
                record_id=s.record_id,
            )
            for s in d.steps
        ]
        if full
        else [],
    )


def _readable(ledger: Ledger, who: Caller, dispute_id: int, purpose: str) -> Dispute:
    """A dispute its reader may see whole (the department that sent the record, or the
    reviewer), the read audited; another department finds nothing."""
    who.require("department", "reviewer")
    found = dispute_by_id(ledger.engine, dispute_id)
    if who.role == "department" and found.department != who.department:
        raise NotFound(f"dispute {dispute_id}: no such dispute of your department")
    if who.role == "reviewer" and found.status not in APPEALED:
        raise NotFound(f"dispute {dispute_id}: no appeal of it was made")
    ledger.record_access(
        actor=who.actor,
        action="dispute.read",
        subject=found.resident,
        purpose=purpose,
        detail={"dispute": dispute_id},
    )
    return found


def _answer(ledger: Ledger, who: Caller, dispute_id: int, body: AnswerIn) -> Dispute:
    who.require("department")
    assert who.department is not None
    return answer_dispute(
        ledger,
        dispute_id,
        body.answer,
        department=who.department,
        actor=who.actor,
        reason=body.reason,
        correct=body.correct,
        days=body.days,
        new_information=body.new_information,
        correct_date=body.correct_date,
    )


def _review(ledger: Ledger, who: Caller, dispute_id: int, body: ReviewIn) -> Dispute:
    who.require("reviewer")
    return review_dispute(
        ledger,
        dispute_id,
        body.decision,
        actor=who.identity,
        reason=body.reason,
        correct=body.correct,
        correct_date=body.correct_date,
    )


def _resident_actor(who: Caller) -> Actor:
    return Actor("resident", who.name)


def due_process_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    # -- the resident ------------------------------------------------------------------

    @router.get("/me/disputes", include_in_schema=False)
    def disputes_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        found = resident_disputes(ledger, who.own_pseudonym())
        return pages.render(
            request, "resident/disputes.html", caller=who, disputes=found, today=ledger.today()
        )

    @router.post("/me/disputes", include_in_schema=False)
    def dispute_form(
        ledger: LedgerDep,
        who: PostingCallerDep,
        record_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
        reason: Annotated[str, Form(max_length=2000)],
    ) -> Response:
        file_dispute(ledger, who.own_pseudonym(), record_id, reason, actor=_resident_actor(who))
        return RedirectResponse("/me/disputes", 303)

    @router.get("/me/profile", include_in_schema=False)
    def profile_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        facts = profile_facts_used(ledger, who.own_pseudonym())
        return pages.render(request, "resident/profile.html", caller=who, facts=facts)

    @router.post("/me/profile/disputes", include_in_schema=False)
    def profile_dispute_form(
        ledger: LedgerDep,
        who: PostingCallerDep,
        fact_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
        reason: Annotated[str, Form(max_length=2000)],
    ) -> Response:
        file_profile_dispute(
            ledger, who.own_pseudonym(), fact_id, reason, actor=_resident_actor(who)
        )
        return RedirectResponse("/me/disputes", 303)

    @router.get("/api/v1/me/profile", response_model=list[ProfileFactOut], tags=["residents"])
    def my_profile(ledger: LedgerDep, who: CallerDep) -> list[ProfileFactOut]:
        """The profile facts the rules use about the resident (the newest of each)."""
        return [
            ProfileFactOut.model_validate(f)
            for f in profile_facts_used(ledger, who.own_pseudonym())
        ]

    @router.post(
        "/api/v1/me/profile/disputes",
        response_model=DisputeOut,
        status_code=201,
        tags=["residents"],
    )
    def new_profile_dispute(
        body: ProfileDisputeIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> DisputeOut:
        """Dispute one of the resident's profile facts: the department that reported it
        answers by the deadline (upheld: the corrected date counts from then on)."""
        found = file_profile_dispute(
            ledger, who.own_pseudonym(), body.fact_id, body.reason, actor=_resident_actor(who)
        )
        return dispute_out(found, ledger.today(), full=True)

    @router.post("/me/repairs", include_in_schema=False)
    def repair_form(
        ledger: LedgerDep,
        who: PostingCallerDep,
        record_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
        statement: Annotated[str, Form(max_length=2000)],
        evidence_ref: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        apply_repair(
            ledger,
            who.own_pseudonym(),
            record_id,
            statement,
            evidence_ref=evidence_ref,
            actor=_resident_actor(who),
        )
        return RedirectResponse("/me/disputes", 303)

    @router.post("/me/disputes/{dispute_id}/appeal", include_in_schema=False)
    def appeal_form(
        dispute_id: DisputeId,
        ledger: LedgerDep,
        who: PostingCallerDep,
        reason: Annotated[str, Form(max_length=2000)],
    ) -> Response:
        appeal_dispute(
            ledger, dispute_id, reason, actor=_resident_actor(who), pseudonym=who.own_pseudonym()
        )
        return RedirectResponse("/me/disputes", 303)

    @router.get("/api/v1/me/disputes", response_model=list[DisputeOut], tags=["residents"])
    def my_disputes(ledger: LedgerDep, who: CallerDep) -> list[DisputeOut]:
        """The resident's disputes: deadlines, answers (with their reasons), appeals."""
        today = ledger.today()
        return [
            dispute_out(d, today, full=True) for d in resident_disputes(ledger, who.own_pseudonym())
        ]

    @router.post(
        "/api/v1/me/disputes", response_model=DisputeOut, status_code=201, tags=["residents"]
    )
    def new_dispute(body: DisputeIn, ledger: LedgerDep, who: PostingCallerDep) -> DisputeOut:
        """Dispute one of the resident's records (the department answers by the deadline)."""
        found = file_dispute(
            ledger, who.own_pseudonym(), body.record_id, body.reason, actor=_resident_actor(who)
        )
        return dispute_out(found, ledger.today(), full=True)

    @router.post(
        "/api/v1/me/repairs", response_model=DisputeOut, status_code=201, tags=["residents"]
    )
    def new_repair(body: RepairIn, ledger: LedgerDep, who: PostingCallerDep) -> DisputeOut:
        """Apply for the early repair of one of the resident's negative records. Refused at
        once (409, nothing written) before the policy's minimum period (the message names
        the day it becomes possible) or without the obligation fulfilled; otherwise the
        department decides by the deadline (then the reviewer). Appeal a refusal like a
        dispute."""
        found = apply_repair(
            ledger,
            who.own_pseudonym(),
            body.record_id,
            body.statement,
            evidence_ref=body.evidence_ref,
            actor=_resident_actor(who),
        )
        return dispute_out(found, ledger.today(), full=True)

    @router.post(
        "/api/v1/me/disputes/{dispute_id}/appeal", response_model=DisputeOut, tags=["residents"]
    )
    def appeal(
        dispute_id: DisputeId, body: AppealIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> DisputeOut:
        """Appeal a rejected dispute to the independent reviewer, by the appeal deadline."""
        found = appeal_dispute(
            ledger,
            dispute_id,
            body.reason,
            actor=_resident_actor(who),
            pseudonym=who.own_pseudonym(),
        )
        return dispute_out(found, ledger.today(), full=True)

    # -- the department and the reviewer ----------------------------------------------

    @router.get("/console/disputes/{dispute_id}", include_in_schema=False)
    def dispute_page(
        request: Request, dispute_id: DisputeId, ledger: LedgerDep, who: CallerDep
    ) -> Response:
        found = _readable(ledger, who, dispute_id, "dispute handling")
        return pages.render(
            request,
            "department/dispute.html",
            caller=who,
            d=found,
            today=ledger.today(),
            procedure=procedure_of(ledger, found),
        )

    @router.post("/console/disputes/{dispute_id}/answer", include_in_schema=False)
    def answer_form(
        dispute_id: DisputeId,
        ledger: LedgerDep,
        who: PostingCallerDep,
        answer: Annotated[Literal["uphold", "reject", "extend"], Form()],
        reason: Annotated[str, Form(max_length=2000)],
        correct: Annotated[str, Form(max_length=32)] = "",
        days: Annotated[str, Form(max_length=3)] = "",
        new_information: Annotated[bool, Form()] = False,
        correct_date: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        body = AnswerIn.model_validate(
            {
                "answer": answer,
                "reason": reason,
                "correct": correct.strip() or None,
                "correct_date": correct_date.strip() or None,
                "days": days.strip() or None,
                "new_information": new_information,
            }
        )
        _answer(ledger, who, dispute_id, body)
        return RedirectResponse(f"/console/disputes/{dispute_id}", 303)

    @router.post("/console/disputes/{dispute_id}/review", include_in_schema=False)
    def review_form(
        dispute_id: DisputeId,
        ledger: LedgerDep,
        who: PostingCallerDep,
        decision: Annotated[Literal["confirm", "overturn"], Form()],
        reason: Annotated[str, Form(max_length=2000)],
        correct: Annotated[str, Form(max_length=32)] = "",
        correct_date: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        body = ReviewIn.model_validate(
            {
                "decision": decision,
                "reason": reason,
                "correct": correct.strip() or None,
                "correct_date": correct_date.strip() or None,
            }
        )
        _review(ledger, who, dispute_id, body)
        return RedirectResponse(f"/console/disputes/{dispute_id}", 303)

    @router.get("/review", include_in_schema=False)
    def review_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require("reviewer")
        waiting = department_disputes(ledger, None, ("appealed",))
        decided = department_disputes(ledger, None, ("confirmed", "overturned"))
        return pages.render(
            request,
            "review/queue.html",
            caller=who,
            waiting=waiting,
            decided=decided[-20:],
            today=ledger.today(),
        )

    @router.get("/api/v1/disputes", response_model=list[DisputeOut], tags=["disputes"])
    def list_disputes(
        ledger: LedgerDep,
        who: CallerDep,
        state: Annotated[State | None, Query()] = None,
    ) -> list[DisputeOut]:
        """Disputes, soonest deadline first: a department's own, or (for the reviewer,
        operators and auditors) every department's. Deadlines and states only: read one
        dispute for its reason and steps."""
        who.require("department", "reviewer", "operator", "auditor")
        department = who.department if who.role == "department" else None
        found = department_disputes(ledger, department, (state,) if state else None)
        today = ledger.today()
        return [dispute_out(d, today, full=False) for d in found]

    @router.get("/api/v1/disputes/{dispute_id}", response_model=DisputeOut, tags=["disputes"])
    def read_dispute(dispute_id: DisputeId, ledger: LedgerDep, who: CallerDep) -> DisputeOut:
        """One dispute with the resident's reason, the record's source reference and every
        step (the department that sent the record, or the reviewer; audited)."""
        found = _readable(ledger, who, dispute_id, "dispute handling (API)")
        return dispute_out(found, ledger.today(), full=True)

    @router.post(
        "/api/v1/disputes/{dispute_id}/answer", response_model=DisputeOut, tags=["disputes"]
    )
    def answer(
        dispute_id: DisputeId, body: AnswerIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> DisputeOut:
        """The department's answer: uphold (the record is retracted, or corrected to
        ``correct``), reject (the reason is shown to the resident) or extend (where the
        procedure allows). Only the department that sent the record may answer."""
        return dispute_out(_answer(ledger, who, dispute_id, body), ledger.today(), full=True)

    @router.post(
        "/api/v1/disputes/{dispute_id}/review", response_model=DisputeOut, tags=["disputes"]
    )
    def review(
        dispute_id: DisputeId, body: ReviewIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> DisputeOut:
        """The reviewer's decision on an appeal: confirm, or overturn (the record is
        retracted, or corrected, in the platform's name, citing the decision)."""
        return dispute_out(_review(ledger, who, dispute_id, body), ledger.today(), full=True)

    return router
