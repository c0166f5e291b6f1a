"""Providers (banks, libraries, transit, hospitals): is this resident eligible for this
perk, and until when. Never the score, the grade or the records.

The question names the resident by national ID number (hashed on arrival, never stored
or logged) and states a purpose, which goes to the audit chain with the provider's name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from osmanthus.errors import NotFound, OsmanthusError, ValidationError
from osmanthus.ledger import Ledger
from osmanthus.ledger.rechecks import proof_holder, proof_revocation, recheck_rows, revoked_proofs
from osmanthus.policy import Perk, PolicyVersion
from osmanthus.reports import SigningKey, verify_proof
from osmanthus.scoring.eligibility import (
    Eligibility,
    check_eligibility,
    check_purpose,
    decide,
    offered,
)
from osmanthus.scoring.remembered import Decisions
from osmanthus.web.access import Caller
from osmanthus.web.check_limit import DailyChecks
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = [
    "ELIGIBILITY_PATH",
    "EligibilityAnswer",
    "EligibilityRequest",
    "check_by_id",
    "provider_router",
]

ELIGIBILITY_PATH = "/api/v1/eligibility"


class EligibilityRequest(BaseModel):
    """A provider's question about one resident and one perk: by ID number (decided from
    the ledger now) or by the resident's signed proof (checked against the city's key;
    with the ID number too, the proof must be that resident's)."""

    national_id: str | None = Field(
        default=None, min_length=1, max_length=32, description="Hashed on arrival."
    )
    proof: str | None = Field(
        default=None, min_length=1, max_length=2048, description="An OSM1 eligibility proof."
    )
    perk: str = Field(min_length=1, max_length=64)
    purpose: str = Field(
        min_length=1,
        max_length=64,
        description="A purpose code the perk lists (the policy's [purposes]); written to "
        "the audit chain and shown to the resident in their language.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> EligibilityRequest:
        if self.national_id is None and self.proof is None:
            raise ValueError("give national_id, or proof (with or without national_id)")
        return self


class EligibilityAnswer(BaseModel):
    """Eligible or not, and until when; never the score or the records."""

    ok: bool = True
    perk: str
    eligible: bool
    valid_until: dt.date | None
    decided_on: dt.date
    basis: Literal["ledger", "proof"] = "ledger"
    check_id: int | None = Field(
        default=None,
        description="Names this check: GET /api/v1/rechecks lists it if the answer may "
        "have changed since (a correction of the resident's records).",
    )
    revoked: str | None = Field(
        default=None, description="A proof revoked since it was issued, and why."
    )

    @classmethod
    def of(cls, found: Eligibility) -> EligibilityAnswer:
        """The answer for a decision made from the ledger."""
        return cls(
            perk=found.perk,
            eligible=found.eligible,
            valid_until=found.valid_until,
            decided_on=found.decided_on,
            check_id=found.check_id,
        )


async def check_by_id(
    ledger: Ledger,
    decisions: Decisions,
    who: Caller,
    question: EligibilityRequest,
    checks: DailyChecks | None = None,
) -> EligibilityAnswer:
    """The check by ID number, on the event loop: one short indexed read on a kept
    connection, the decision remembered per resident state, and the audit entry awaited
    (committed with the others of this moment) before the answer leaves."""
    assert question.national_id is not None
    day = ledger.today()
    _admit(ledger, who, question, day)
    detail = {"perk": question.perk}
    name = ledger.pseudonym_of(question.national_id)
    if checks is not None:
        checks.count(str(who.actor), name, day)
    try:
        resident, rows, committed = ledger.read_on_loop(
            name,
            actor=who.actor,
            purpose=question.purpose,
            detail=detail,
        )
    except NotFound:  # no oracle: an unregistered number is a resident who does not qualify
        entry = await ledger.read_unregistered_on_loop(
            actor=who.actor, purpose=question.purpose, detail=detail
        )
        return EligibilityAnswer.of(Eligibility(question.perk, False, None, day, entry.seq))
    found = decisions.decide(resident, rows, question.perk, day)
    entry = await committed  # the read is on record before the answer leaves
    return EligibilityAnswer.of(replace(found, check_id=entry.seq))


def _admit(ledger: Ledger, who: Caller, question: EligibilityRequest, day: dt.date) -> None:
    """A provider's question may be asked: the caller is a provider (403), the perk is
    offered (404: the policy is public), the provider's key provides it (403), and the
    purpose is one the perk lists (422); nothing is read before."""
    who.require("provider")
    perk = offered(ledger.policy, question.perk, day)
    who.require_perk(question.perk)
    check_purpose(question.perk, perk, question.purpose)


def answer(
    ledger: Ledger,
    who: Caller,
    key: SigningKey,
    question: EligibilityRequest,
    checks: DailyChecks | None = None,
) -> EligibilityAnswer:
    """Decide from the ledger, or check the proof (audited either way)."""
    today = ledger.today()
    _admit(ledger, who, question, today)
    if question.proof is None:
        assert question.national_id is not None
        if checks is not None:
            checks.count(str(who.actor), ledger.pseudonym_of(question.national_id), today)
        found = check_eligibility(
            ledger, question.national_id, question.perk, actor=who.actor, purpose=question.purpose
        )
        return EligibilityAnswer.of(found)
    checked = verify_proof(
        question.proof, [key.public], national_id=question.national_id, today=today
    )
    if checked.perk != question.perk:
        raise ValidationError(f"proof: it proves perk {checked.perk!r}, not {question.perk!r}")
    if checked.subject_matches is False:
        raise ValidationError("proof: it belongs to another resident than the ID number given")
    revoked = proof_revocation(ledger.engine, checked.salt)
    holder = proof_holder(ledger.engine, checked.salt) if revoked is None else None
    if holder is None:  # revoked (or not issued here): the proof's own word, or none
        ledger.record_access(
            actor=who.actor,
            action="proof.check",
            purpose=question.purpose,
            detail={
                "perk": checked.perk,
                "holder_checked": checked.subject_matches is not None,
                "revoked": revoked is not None,
            },
        )
        return EligibilityAnswer(
            perk=checked.perk,
            eligible=checked.eligible and revoked is None,
            valid_until=checked.valid_until if revoked is None else None,
            decided_on=today,
            basis="proof",
            revoked=revoked,
        )
    # online, a proof says what the ledger says today: a new record since it was issued
    # may have taken the resident below the threshold (an audited read of the holder)
    resident, rows, entry = ledger.read_entry(
        holder,
        actor=who.actor,
        purpose=question.purpose,
        detail={"perk": checked.perk, "proof": True},
    )
    now = decide(ledger.policy, resident, rows, checked.perk, today)
    return EligibilityAnswer(
        perk=checked.perk,
        eligible=checked.eligible and now.eligible,
        valid_until=now.valid_until if checked.eligible and now.eligible else None,
        decided_on=today,
        basis="proof",
        check_id=entry.seq,
    )


class RecheckOut(BaseModel):
    """An earlier check whose answer may have changed: ask again."""

    id: int = Field(description="Pass the last one seen as ?after= to get only newer ones.")
    check_id: int = Field(description="The check_id of the earlier answer.")
    perk: str | None
    reason: str = Field(description="What changed: a record corrected, retracted, set aside.")
    noted_at: dt.datetime


class StatusListOut(BaseModel):
    """The revoked eligibility proofs that would still be valid: their salts."""

    ok: bool = True
    as_of: dt.date
    revoked: list[str]


def provider_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/rechecks", response_model=list[RecheckOut], tags=["providers"])
    def my_rechecks(
        ledger: LedgerDep,
        who: CallerDep,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    ) -> list[RecheckOut]:
        """Your checks of the last six months whose answer may have changed since: the
        resident's records were corrected, retracted or set aside. Check ids and perks
        only, never the score or the change: ask again (a new check) to learn the answer."""
        who.require("provider")
        return [
            RecheckOut(
                id=r.id, check_id=r.check_id, perk=r.perk, reason=r.reason, noted_at=r.created_at
            )
            for r in recheck_rows(ledger.engine, who.actor, after)
        ]

    @router.get("/api/v1/proofs/revoked", response_model=StatusListOut, tags=["providers"])
    def status_list(ledger: LedgerDep) -> StatusListOut:
        """The status list of eligibility proofs revoked by a later correction (each named
        by its random salt; nothing about the resident). Online checks consult it."""
        today = ledger.today()
        return StatusListOut(as_of=today, revoked=revoked_proofs(ledger.engine, today))

    @router.post(
        ELIGIBILITY_PATH,
        response_model=EligibilityAnswer,
        tags=["providers"],
    )
    async def eligibility(
        request: Request, question: EligibilityRequest, ledger: LedgerDep, who: PostingCallerDep
    ) -> EligibilityAnswer:
        """Whether the resident qualifies for a perk, and until when (providers only): by
        ID number, or by the resident's signed proof. Never the score or the records."""
        if question.proof is not None or question.national_id is None:
            return await run_in_threadpool(
                answer,
                ledger,
                who,
                request.app.state.signing_key,
                question,
                request.app.state.daily_checks,
            )
        return await check_by_id(
            ledger, request.app.state.decisions, who, question, request.app.state.daily_checks
        )

    @router.get("/provider", include_in_schema=False)
    def provider_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require("provider")
        version = ledger.policy.in_force(ledger.today())
        return pages.render(
            request,
            "provider/check.html",
            caller=who,
            perks=_provided(version, who),
            purpose_title=version.purpose_title,
            answer=None,
        )

    @router.post("/provider", include_in_schema=False)
    def provider_check(
        request: Request,
        ledger: LedgerDep,
        who: PostingCallerDep,
        perk: Annotated[str, Form(max_length=64)],
        purpose: Annotated[str, Form(max_length=64)],
        national_id: Annotated[str, Form(max_length=32)] = "",
        proof: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        who.require("provider")
        version = ledger.policy.in_force(ledger.today())
        try:
            question = EligibilityRequest(
                national_id=national_id.strip() or None,
                proof=proof.strip() or None,
                perk=perk,
                purpose=purpose,
            )
            found = answer(
                ledger, who, request.app.state.signing_key, question, request.app.state.daily_checks
            )
            problem = None
        except PydanticValidationError:
            found, problem = None, "give the resident's ID number, or a proof"
        except OsmanthusError as exc:
            if not isinstance(exc, (ValueError, LookupError)):
                raise
            found, problem = None, str(exc)
        return pages.render(
            request,
            "provider/check.html",
            caller=who,
            perks=_provided(version, who),
            purpose_title=version.purpose_title,
            answer=found,
            problem=problem,
        )

    return router


def _provided(version: PolicyVersion, who: Caller) -> dict[str, Perk]:
    """The perks of ``version`` the provider's key provides."""
    return {code: perk for code, perk in version.perks.items() if code in who.perks}
