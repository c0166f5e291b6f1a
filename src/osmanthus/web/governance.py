"""The policy console and API: propose the city's policy folder, read a proposal's
validation and impact report, approve or reject it (docs/governance.md).

Staff with an ``operator`` or ``policy-approver`` key may propose; only a
``policy-approver`` other than the proposer may approve or reject; an ``auditor`` may
read. The service proposes the policy folder it was configured with
(``OSMANTHUS_POLICY_DIR``): the folder is what the city's policy authors maintain, and
nothing in it is scored with until a proposal of it is approved. The service keeps
scoring with the policy it started with; restart it after an approval.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from osmanthus.governance import Proposal, approve, approved, history, proposal, propose, reject
from osmanthus.i18n import gettext, gettext_noop
from osmanthus.web.access import Caller, Role
from osmanthus.web.charts import Bar, histogram_svg
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["governance_router"]

#: A proposal's statuses, as the pages show them (translated).
STATUSES = (
    gettext_noop("open"),
    gettext_noop("approved"),
    gettext_noop("rejected"),
    gettext_noop("invalid"),
)
READERS: tuple[Role, ...] = ("operator", "auditor", "policy-approver")
PROPOSERS: tuple[Role, ...] = ("operator", "policy-approver")


class ProposalOut(BaseModel):
    """A proposal and where it stands (the bundle's files are in the ledger)."""

    id: int
    policy: str
    content_hash: str
    status: str
    in_force: bool
    proposed_by: str
    proposed_at: dt.datetime
    approvals: list[str]
    required: int
    decided_at: dt.datetime | None
    reason: str | None
    validation: dict[str, Any]
    impact: dict[str, Any] | None


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _out(found: Proposal, current: Proposal | None) -> ProposalOut:
    return ProposalOut(
        id=found.id,
        policy=found.policy,
        content_hash=found.content_hash,
        status=found.status,
        in_force=current is not None and current.id == found.id,
        proposed_by=found.proposed_by,
        proposed_at=found.proposed_at,
        approvals=list(found.approvals),
        required=found.required,
        decided_at=found.decided_at,
        reason=found.reason,
        validation=found.validation,
        impact=found.impact,
    )


def _changes_chart(impact: dict[str, Any] | None) -> str:
    """The histogram of score changes as SVG (a suppressed count is left out)."""
    if not impact or not impact["histogram"]:
        return ""
    bars = [
        Bar(change, change, count, "below" if change < 0 else "above")
        for change, count in impact["histogram"]
        if count is not None
    ]
    return histogram_svg(
        bars,
        title=gettext("Score changes"),
        description=gettext("Residents by change of score; counts below 10 are not drawn."),
    )


def governance_router(pages: Pages, policy_dir: Path, population_dir: Path) -> APIRouter:
    router = APIRouter()

    def _propose(ledger: Any, who: Caller) -> Proposal:
        who.require(*PROPOSERS)
        return propose(ledger, policy_dir, actor=who.identity, population_dir=population_dir)

    @router.get("/policy", include_in_schema=False)
    def proposals_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require(*READERS)
        current = approved(ledger.engine)
        return pages.render(
            request,
            "policy/list.html",
            caller=who,
            proposals=[_out(p, current) for p in reversed(history(ledger.engine))],
            folder=str(policy_dir),
            may_propose=who.role in PROPOSERS,
        )

    @router.post("/policy/propose", include_in_schema=False)
    def propose_page(request: Request, ledger: LedgerDep, who: PostingCallerDep) -> Response:
        found = _propose(ledger, who)
        return RedirectResponse(f"/policy/{found.id}", 303)

    @router.get("/policy/{proposal_id}", include_in_schema=False)
    def proposal_page(
        request: Request, proposal_id: int, ledger: LedgerDep, who: CallerDep
    ) -> Response:
        who.require(*READERS)
        found = proposal(ledger.engine, proposal_id)
        out = _out(found, approved(ledger.engine))
        own = str(who.identity) == found.proposed_by or str(who.identity) in found.approvals
        return pages.render(
            request,
            "policy/proposal.html",
            caller=who,
            p=out,
            chart=_changes_chart(out.impact),
            may_decide=who.role == "policy-approver" and out.status == "open" and not own,
        )

    @router.post("/policy/{proposal_id}/approve", include_in_schema=False)
    def approve_page(
        request: Request, proposal_id: int, ledger: LedgerDep, who: PostingCallerDep
    ) -> Response:
        approve(ledger, proposal_id, actor=who.identity, role=who.role)
        return RedirectResponse(f"/policy/{proposal_id}", 303)

    @router.post("/policy/{proposal_id}/reject", include_in_schema=False)
    def reject_page(
        request: Request,
        proposal_id: int,
        ledger: LedgerDep,
        who: PostingCallerDep,
        reason: Annotated[str, Form(max_length=2000)],
    ) -> Response:
        reject(ledger, proposal_id, actor=who.identity, role=who.role, reason=reason)
        return RedirectResponse(f"/policy/{proposal_id}", 303)

    @router.get("/api/v1/policy/proposals", response_model=list[ProposalOut], tags=["policy"])
    def list_proposals(ledger: LedgerDep, who: CallerDep) -> list[ProposalOut]:
        """Every proposal, oldest first, with its validation and impact report."""
        who.require(*READERS)
        current = approved(ledger.engine)
        return [_out(p, current) for p in history(ledger.engine)]

    @router.post("/api/v1/policy/proposals", response_model=ProposalOut, tags=["policy"])
    def create_proposal(ledger: LedgerDep, who: PostingCallerDep) -> ProposalOut:
        """Propose the policy folder the service is configured with."""
        found = _propose(ledger, who)
        return _out(found, approved(ledger.engine))

    @router.get(
        "/api/v1/policy/proposals/{proposal_id}", response_model=ProposalOut, tags=["policy"]
    )
    def one_proposal(proposal_id: int, ledger: LedgerDep, who: CallerDep) -> ProposalOut:
        """One proposal."""
        who.require(*READERS)
        return _out(proposal(ledger.engine, proposal_id), approved(ledger.engine))

    @router.post(
        "/api/v1/policy/proposals/{proposal_id}/approve",
        response_model=ProposalOut,
        tags=["policy"],
    )
    def approve_api(proposal_id: int, ledger: LedgerDep, who: PostingCallerDep) -> ProposalOut:
        """Approve a proposal (a policy-approver other than its proposer)."""
        found = approve(ledger, proposal_id, actor=who.identity, role=who.role)
        return _out(found, approved(ledger.engine))

    @router.post(
        "/api/v1/policy/proposals/{proposal_id}/reject",
        response_model=ProposalOut,
        tags=["policy"],
    )
    def reject_api(
        proposal_id: int, body: RejectIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> ProposalOut:
        """Reject a proposal, with a reason."""
        found = reject(ledger, proposal_id, actor=who.identity, role=who.role, reason=body.reason)
        return _out(found, approved(ledger.engine))

    return router
