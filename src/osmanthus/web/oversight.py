"""The oversight dashboard (operators and auditors): the score distribution of the
latest population run, above / at / below the baseline, each department's coverage and
freshness, open disputes and their deadlines, and the audit chain's head and status.

Statistics come from the population engine's latest run (``osmanthus stats`` makes one);
the dashboard itself reads no resident's records.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from osmanthus.disputes import open_disputes
from osmanthus.errors import AuditChainBroken
from osmanthus.i18n import gettext
from osmanthus.intake.coverage import coverage
from osmanthus.ledger import Ledger, chain_head, latest_checkpoint, verify_chain
from osmanthus.population import latest_run
from osmanthus.web.charts import bins, histogram_svg
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["oversight_router"]

STALE_DAYS = 31  # a department silent for longer is flagged


class ChainOut(BaseModel):
    ok: bool
    seq: int
    head: str
    verified: bool
    message: str


class CheckpointOut(BaseModel):
    """The latest signed checkpoint the ledger keeps (osmanthus audit verify --checkpoint
    or --since proves the chain still extends it)."""

    seq: int
    hash: str
    at: str
    key_id: str
    entries_since: int


class DepartmentOut(BaseModel):
    department: str
    name: str
    last_batch_at: dt.datetime | None
    days_since: int | None
    never_sent: bool
    stale: bool
    never_reported: list[str]


class DisputeDeadline(BaseModel):
    id: int
    department: str
    metric: str
    filed_at: dt.datetime
    deadline: dt.date
    overdue: bool


class OversightOut(BaseModel):
    """The dashboard's figures (no personal data)."""

    ok: bool = True
    run: str | None
    as_of: str | None
    residents: int | None
    above: int | None
    at: int | None
    below: int | None
    histogram: list[list[int]]
    departments: list[DepartmentOut]
    disputes: list[DisputeDeadline]
    chain: ChainOut
    checkpoint: CheckpointOut | None


def _latest(runs: Path) -> dict[str, Any] | None:
    folder = latest_run(runs)
    if folder is None:
        return None
    found: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return found


def _figures(ledger: Ledger, runs: Path) -> OversightOut:
    now = ledger.now()
    run = _latest(runs)
    stats = run["stats"] if run else {}
    departments = []
    for c in coverage(ledger):
        days = (now - c.last_batch_at).days if c.last_batch_at else None
        departments.append(
            DepartmentOut(
                department=c.code,
                name=c.name,
                last_batch_at=c.last_batch_at,
                days_since=days,
                never_sent=c.silent,
                stale=days is not None and days > STALE_DAYS,
                never_reported=c.never_reported,
            )
        )
    today = ledger.today()
    head = chain_head(ledger.engine)
    return OversightOut(
        run=run["run"] if run else None,
        as_of=run["as_of"] if run else None,
        residents=stats.get("residents"),
        above=stats.get("above"),
        at=stats.get("at"),
        below=stats.get("below"),
        histogram=stats.get("histogram", []),
        departments=departments,
        disputes=[
            DisputeDeadline(
                id=d.id,
                department=d.department,
                metric=d.metric,
                filed_at=d.filed_at,
                deadline=d.deadline,
                overdue=d.overdue(today),
            )
            for d in open_disputes(ledger)
        ],
        chain=ChainOut(
            ok=True, seq=head.seq, head=head.hash, verified=False, message="not verified yet"
        ),
        checkpoint=_checkpoint(ledger, head.seq),
    )


def _checkpoint(ledger: Ledger, head: int) -> CheckpointOut | None:
    document = latest_checkpoint(ledger.engine)
    if document is None:
        return None
    body = document["body"]
    return CheckpointOut(
        seq=body["seq"],
        hash=body["hash"],
        at=body["at"],
        key_id=document["signature"]["key_id"],
        entries_since=head - int(body["seq"]),
    )


def _verify(ledger: Ledger) -> ChainOut:
    try:
        head = verify_chain(ledger.engine)
    except AuditChainBroken as exc:
        return ChainOut(ok=False, seq=0, head="", verified=True, message=str(exc))
    return ChainOut(
        ok=True, seq=head.seq, head=head.hash, verified=True, message=f"{head.count:,} entries"
    )


def oversight_router(pages: Pages, runs: Path) -> APIRouter:
    router = APIRouter()

    @router.get("/oversight", include_in_schema=False)
    def dashboard(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        who.require("operator", "auditor")
        pages.language(request)
        figures = _figures(ledger, runs)
        baseline = ledger.policy.in_force(ledger.today()).scale.baseline
        bars = bins(figures.histogram, baseline)
        return pages.render(
            request,
            "oversight/dashboard.html",
            caller=who,
            f=figures,
            bars=bars,
            baseline=baseline,
            chart=histogram_svg(
                bars,
                title=gettext("Score distribution"),
                description=gettext(
                    "Residents by score; the baseline is %(baseline)s.", baseline=baseline
                ),
            ),
        )

    @router.post("/oversight/verify", include_in_schema=False)
    def verify_page(request: Request, ledger: LedgerDep, who: PostingCallerDep) -> Response:
        who.require("operator", "auditor")
        return pages.render(request, "oversight/chain.html", caller=who, chain=_verify(ledger))

    @router.get("/api/v1/oversight", response_model=OversightOut, tags=["oversight"])
    def figures(ledger: LedgerDep, who: CallerDep) -> OversightOut:
        """Distribution, coverage, dispute deadlines and the audit chain head."""
        who.require("operator", "auditor")
        return _figures(ledger, runs)

    @router.post("/api/v1/audit/verify", response_model=ChainOut, tags=["oversight"])
    def verify(ledger: LedgerDep, who: PostingCallerDep) -> ChainOut:
        """Recompute the whole audit chain now."""
        who.require("operator", "auditor")
        return _verify(ledger)

    return router
