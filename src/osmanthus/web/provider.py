"""Providers (banks, libraries, transit, hospitals): is this resident eligible for this
perk, and until when. Never the score, the grade or the records.

The question names the resident by national ID number (hashed on arrival, never stored
or logged) and states a purpose, which goes to the audit chain with the provider's name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from osmanthus.errors import OsmanthusError
from osmanthus.scoring.eligibility import check_eligibility
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["EligibilityAnswer", "EligibilityRequest", "provider_router"]


class EligibilityRequest(BaseModel):
    """A provider's question about one resident and one perk."""

    national_id: str = Field(min_length=1, max_length=32, description="Hashed on arrival.")
    perk: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=256, description="Written to the audit chain.")


class EligibilityAnswer(BaseModel):
    """Eligible or not, and until when; never the score or the records."""

    ok: bool = True
    perk: str
    eligible: bool
    valid_until: dt.date | None
    decided_on: dt.date


def provider_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/api/v1/eligibility",
        response_model=EligibilityAnswer,
        tags=["providers"],
        responses={401: {}, 403: {}, 404: {}, 422: {}},
    )
    def eligibility(
        question: EligibilityRequest, ledger: LedgerDep, who: PostingCallerDep
    ) -> EligibilityAnswer:
        """Whether the resident qualifies for a perk, and until when (providers only)."""
        who.require("provider")
        found = check_eligibility(
            ledger, question.national_id, question.perk, actor=who.actor, purpose=question.purpose
        )
        return EligibilityAnswer(
            perk=found.perk,
            eligible=found.eligible,
            valid_until=found.valid_until,
            decided_on=found.decided_on,
        )

    @router.get("/provider", include_in_schema=False)
    def provider_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require("provider")
        version = ledger.policy.in_force(ledger.today())
        return pages.render(
            request, "provider/check.html", caller=who, perks=version.perks, answer=None
        )

    @router.post("/provider", include_in_schema=False)
    def provider_check(
        request: Request,
        ledger: LedgerDep,
        who: PostingCallerDep,
        national_id: Annotated[str, Form(max_length=32)],
        perk: Annotated[str, Form(max_length=64)],
        purpose: Annotated[str, Form(max_length=256)],
    ) -> Response:
        who.require("provider")
        version = ledger.policy.in_force(ledger.today())
        try:
            answer = check_eligibility(
                ledger, national_id.strip(), perk, actor=who.actor, purpose=purpose
            )
            problem = None
        except OsmanthusError as exc:
            if not isinstance(exc, (ValueError, LookupError)):
                raise
            answer, problem = None, str(exc)
        return pages.render(
            request,
            "provider/check.html",
            caller=who,
            perks=version.perks,
            answer=answer,
            problem=problem,
        )

    return router
