"""The public transparency page: no sign-in, Chinese and English.

It shows every approved policy bundle (its content hash, who proposed and who approved
it and when, its impact summary), every rule of the policy in force with its citation,
the city's statistics by district and age band from the latest population run (counts
below 10 suppressed), and the latest signed audit checkpoint with how to verify it. It
carries no personal data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from osmanthus.governance import approved, history
from osmanthus.ledger import latest_checkpoint
from osmanthus.policy import summarise
from osmanthus.population import latest_run
from osmanthus.population.impact import suppressed
from osmanthus.web.pages import Pages
from osmanthus.web.session import LedgerDep

__all__ = ["transparency_router"]


class ApprovedOut(BaseModel):
    proposal: int
    policy: str
    content_hash: str
    proposed_by: str
    proposed_at: str
    approved_by: list[str]
    approved_at: str | None
    in_force: bool
    impact: dict[str, Any] | None


class TransparencyOut(BaseModel):
    """What the city publishes (no personal data; counts below 10 suppressed)."""

    approved: list[ApprovedOut]
    rules: list[dict[str, Any]]  # per version in force: file, version, effective, lines
    statistics: dict[str, Any] | None
    checkpoint: dict[str, Any] | None


def _statistics(runs: Path) -> dict[str, Any] | None:
    folder = latest_run(runs)
    if folder is None:
        return None
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    stats = run["stats"]
    return {
        "as_of": run["as_of"],
        "policy": run.get("policy"),
        "residents": stats.get("residents"),
        "by_district": [suppressed(row) for row in stats.get("by_district", [])],
        "by_age": [suppressed(row) for row in stats.get("by_age", [])],
    }


def _published(ledger: Any, runs: Path) -> TransparencyOut:
    current = approved(ledger.engine)
    approved_ones = [
        ApprovedOut(
            proposal=p.id,
            policy=p.policy,
            content_hash=p.content_hash,
            proposed_by=p.proposed_by,
            proposed_at=p.proposed_at.isoformat(),
            approved_by=list(p.approvals),
            approved_at=p.decided_at.isoformat() if p.decided_at else None,
            in_force=current is not None and p.id == current.id,
            impact=p.impact,
        )
        for p in reversed(history(ledger.engine))
        if p.status == "approved"
    ]
    rules = []
    if current is not None:
        for version in current.bundle.load().versions:
            rules.append(
                {
                    "file": version.source,
                    "version": version.version,
                    "effective": version.effective.isoformat(),
                    "title": version.title,
                    "lines": summarise(version),
                }
            )
    document = latest_checkpoint(ledger.engine)
    checkpoint = None
    if document is not None:
        checkpoint = {**document["body"], "key_id": document["signature"]["key_id"]}
    return TransparencyOut(
        approved=approved_ones, rules=rules, statistics=_statistics(runs), checkpoint=checkpoint
    )


def transparency_router(pages: Pages, runs: Path) -> APIRouter:
    router = APIRouter()

    @router.get("/transparency", include_in_schema=False)
    def page(request: Request, ledger: LedgerDep) -> Response:
        return pages.render(request, "transparency.html", t=_published(ledger, runs))

    @router.get("/api/v1/transparency", response_model=TransparencyOut, tags=["public"])
    def published(ledger: LedgerDep) -> TransparencyOut:
        """What the city publishes: approved policies, rules, statistics, checkpoint."""
        return _published(ledger, runs)

    @router.get("/transparency/checkpoint.json", include_in_schema=False)
    def checkpoint(ledger: LedgerDep) -> Response:
        document = latest_checkpoint(ledger.engine)
        body = json.dumps(document, indent=2, sort_keys=True) if document else "null"
        return Response(
            body + "\n",
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="checkpoint.json"'},
        )

    return router
