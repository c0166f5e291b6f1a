"""Signed documents on the web: a resident's credit report (a printable page and the
signed JSON) and eligibility proofs shown as a QR code; the city's public key for anyone
to verify them offline (``osmanthus verify FILE``).

Reports and proofs come from :mod:`osmanthus.reports`; a proof binds its holder by the
ID number, so the resident types it again to make one (the session never holds it).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from osmanthus.errors import OsmanthusError
from osmanthus.ledger import Actor, Ledger
from osmanthus.reports import SigningKey, credit_report_of, issue_proof, proof_qr_svg
from osmanthus.web.access import Caller
from osmanthus.web.pages import Pages
from osmanthus.web.portal import own_read
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["documents_router"]


class SigningKeyOut(BaseModel):
    """The city's public key: publish it; verify reports and proofs offline with it."""

    ok: bool = True
    alg: str = "Ed25519"
    key_id: str
    public_key: str
    pem: str


def _report(ledger: Ledger, who: Caller, key: SigningKey, purpose: str) -> dict[str, Any]:
    resident, rows = own_read(ledger, who, purpose)
    return credit_report_of(ledger, resident, rows, key=key)


def documents_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    def signing_key(request: Request) -> SigningKey:
        found: SigningKey = request.app.state.signing_key
        return found

    @router.get("/api/v1/signing-key", response_model=SigningKeyOut, tags=["documents"])
    def public_key(request: Request) -> SigningKeyOut:
        """The public key that signs credit reports and eligibility proofs (no sign-in)."""
        public = signing_key(request).public
        return SigningKeyOut(key_id=public.key_id, public_key=public.base64, pem=public.pem())

    @router.get("/me/report", include_in_schema=False)
    def report_page(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        signed = _report(ledger, who, signing_key(request), "resident views credit report")
        return pages.render(request, "resident/report.html", caller=who, r=signed)

    @router.get("/me/report.json", tags=["residents"])
    def report_json(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        """The signed credit report (JSON; verify it offline with ``osmanthus verify``)."""
        signed = _report(ledger, who, signing_key(request), "resident downloads credit report")
        day = signed["body"]["as_of"]
        return Response(
            json.dumps(signed, ensure_ascii=False, indent=1),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="credit-report-{day}.json"'},
        )

    @router.get("/me/proof/{perk}", include_in_schema=False)
    def proof_form(request: Request, perk: str, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require("resident")
        return pages.render(
            request, "resident/proof.html", caller=who, perk=perk, token=None, problem=None
        )

    @router.post("/me/proof/{perk}", include_in_schema=False)
    def proof_make(
        request: Request,
        perk: str,
        ledger: LedgerDep,
        who: PostingCallerDep,
        national_id: Annotated[str, Form(max_length=32)],
    ) -> Response:
        who.require("resident")
        token = svg = problem = None
        try:
            token = issue_proof(
                ledger,
                national_id.strip(),
                perk,
                key=signing_key(request),
                actor=Actor("resident", who.name),
                purpose="resident makes an eligibility proof",
                pseudonym=who.pseudonym,
            )
            svg = proof_qr_svg(token)
        except OsmanthusError as exc:
            if not isinstance(exc, (ValueError, LookupError, PermissionError)):
                raise
            problem = str(exc)
        return pages.render(
            request,
            "resident/proof.html",
            caller=who,
            perk=perk,
            token=token,
            qr=svg,
            problem=problem,
            status=200 if token else 422,
        )

    return router
