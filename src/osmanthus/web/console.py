"""The department console: upload a batch and read its report, correct or retract a
record, see the department's own coverage and the disputes it must answer.

A department key speaks for its own department only: batches, records and disputes of
another department are not found. The same operations are in the JSON API, where a batch
is the request body itself (CSV, JSON Lines or Parquet), spooled to a temporary file and
submitted through the same intake as the CLI.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osmanthus.disputes import open_disputes
from osmanthus.errors import ValidationError
from osmanthus.intake import Outcome, load_outcome, recent_outcomes, submit_batch
from osmanthus.intake.coverage import coverage
from osmanthus.ledger import Ledger, database_errors, read_only
from osmanthus.web.access import Caller
from osmanthus.web.asgi import route_path
from osmanthus.web.pages import Pages
from osmanthus.web.session import CallerDep, LedgerDep, PostingCallerDep

__all__ = ["UploadLimit", "console_router"]

_SUFFIX = {
    "text/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/vnd.apache.parquet": ".parquet",
    "application/octet-stream": ".parquet",
}


class ProblemOut(BaseModel):
    row: int
    field: str
    value: str
    reason: str
    level: str


class BatchOut(BaseModel):
    """A batch's outcome and its row-level report."""

    ok: bool = True
    department: str
    batch_id: str
    status: str
    rows: int
    accepted: int
    refused: int
    flagged: int
    metrics: dict[str, int]
    problems: list[ProblemOut]
    repeated: bool


class CorrectionIn(BaseModel):
    source_ref: str = Field(min_length=1, max_length=128)
    new_source_ref: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=3, max_length=2000)
    value: float | None = Field(default=None, description="Omit to retract the record.")


class CorrectionOut(BaseModel):
    ok: bool = True
    record_id: int
    kind: str


class ProfileFactIn(BaseModel):
    national_id: str = Field(min_length=1, max_length=32)
    attribute: str = Field(min_length=1, max_length=64)
    value: dt.date
    source_ref: str = Field(min_length=1, max_length=128)


class ProfileFactIdOut(BaseModel):
    ok: bool = True
    fact_id: int


class CoverageOut(BaseModel):
    department: str
    name: str
    allowed: list[str]
    reported: dict[str, int]
    never_reported: list[str]
    batches: int
    last_batch_at: dt.datetime | None
    accepted: int
    refused: int


def _department(who: Caller) -> str:
    who.require("department")
    assert who.department is not None
    return who.department


def _batch_out(found: Outcome) -> BatchOut:
    return BatchOut(
        department=found.department,
        batch_id=found.batch_id,
        status=found.status,
        rows=found.rows,
        accepted=found.accepted,
        refused=found.refused,
        flagged=found.flagged,
        metrics=found.metrics,
        problems=[ProblemOut(**vars(p)) for p in found.problems],
        repeated=found.repeated,
    )


def _coverage(ledger: Ledger, department: str | None) -> list[CoverageOut]:
    return [
        CoverageOut(
            department=c.code,
            name=c.name,
            allowed=c.allowed,
            reported=c.reported,
            never_reported=c.never_reported,
            batches=c.batches,
            last_batch_at=c.last_batch_at,
            accepted=c.accepted,
            refused=c.refused,
        )
        for c in coverage(ledger)
        if department is None or c.code == department
    ]


def _submit(
    request: Request,
    ledger: Ledger,
    who: Caller,
    path: Path,
    *,
    batch_id: str | None,
    partial: bool,
) -> Outcome:
    return submit_batch(
        ledger,
        path,
        department=_department(who),
        actor=who.actor,
        batch_id=batch_id or None,
        partial=partial,
        chunk_rows=request.app.state.settings.intake_chunk_rows,  # as the CLI reads it
    )


def _supersede(ledger: Ledger, who: Caller, change: CorrectionIn) -> CorrectionOut:
    department = _department(who)
    if change.value is None:
        record_id = ledger.retract_record(
            department,
            change.source_ref,
            new_source_ref=change.new_source_ref,
            reason=change.reason,
            actor=who.actor,
        )
        return CorrectionOut(record_id=record_id, kind="retraction")
    record_id = ledger.correct_record(
        department,
        change.source_ref,
        value=change.value,
        new_source_ref=change.new_source_ref,
        reason=change.reason,
        actor=who.actor,
    )
    return CorrectionOut(record_id=record_id, kind="correction")


#: The routes that take a batch file (their size is limited by :class:`UploadLimit`).
UPLOADS = ("/console/batches", "/api/v1/batches")


class UploadLimit:
    """Refuses a batch file larger than ``most_mb`` MiB (pure ASGI, on :data:`UPLOADS`):
    at once when its ``Content-Length`` says so, else once that many bytes have arrived,
    before the form is parsed or the file stored. The route's reading of the body raises
    HTTP 413, which leaves as the one error envelope (:mod:`osmanthus.web.errors`).
    (FastAPI's own ``max_body_size`` answers 413 in plain text when the length is
    declared, whatever the error handlers say.)"""

    def __init__(self, app: ASGIApp, most_mb: int) -> None:
        self.app = app
        self.most_mb = most_mb
        self.most = most_mb * 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) not in UPLOADS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_large = HTTPException(
            413,
            detail=f"body: larger than {self.most_mb} MiB; "
            "submit larger batch files with 'osmanthus intake'",
        )
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.most:
                raise too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.most:
                raise too_large
            return message

        await self.app(scope, limited, send)


def console_router(pages: Pages) -> APIRouter:
    router = APIRouter()

    def page(request: Request, ledger: Ledger, who: Caller, **extra: Any) -> Response:
        department = _department(who)
        with database_errors("batches"), read_only(ledger.engine) as conn:
            batches = recent_outcomes(conn, department)
        return pages.render(
            request,
            "department/console.html",
            caller=who,
            batches=batches,
            coverage=_coverage(ledger, department),
            disputes=open_disputes(ledger, department),
            today=ledger.today(),
            **extra,
        )

    @router.get("/console", include_in_schema=False)
    def console(request: Request, ledger: LedgerDep, who: CallerDep) -> Response:
        return page(request, ledger, who)

    @router.post("/console/batches", include_in_schema=False)
    async def upload(
        request: Request,
        ledger: LedgerDep,
        who: PostingCallerDep,
        file: Annotated[UploadFile, File()],
        batch_id: Annotated[str, Form(max_length=64)] = "",
        partial: Annotated[bool, Form()] = False,
    ) -> Response:
        _department(who)
        name = Path(file.filename or "batch.csv").name
        with tempfile.TemporaryDirectory(prefix="osmanthus-upload-") as folder:
            path = Path(folder) / name
            with path.open("wb") as out:
                while chunk := await file.read(1 << 20):
                    out.write(chunk)
            found = await run_in_threadpool(
                _submit, request, ledger, who, path, batch_id=batch_id, partial=partial
            )
        return RedirectResponse(f"/console/batches/{found.batch_id}", 303)

    @router.get("/console/batches/{batch_id}", include_in_schema=False)
    def batch_page(request: Request, batch_id: str, ledger: LedgerDep, who: CallerDep) -> Response:
        department = _department(who)
        with database_errors("batches"), read_only(ledger.engine) as conn:
            found = load_outcome(conn, batch_id, department)
        return pages.render(request, "department/batch.html", caller=who, o=found)

    @router.post("/console/records", include_in_schema=False)
    def correct_form(
        request: Request,
        ledger: LedgerDep,
        who: PostingCallerDep,
        source_ref: Annotated[str, Form(max_length=128)],
        new_source_ref: Annotated[str, Form(max_length=128)],
        reason: Annotated[str, Form(max_length=2000)],
        value: Annotated[str, Form(max_length=32)] = "",
    ) -> Response:
        try:
            number = float(value) if value.strip() else None
        except ValueError:
            raise ValidationError(f"value: expected a number, found {value!r}") from None
        done = _supersede(
            ledger,
            who,
            CorrectionIn(
                source_ref=source_ref, new_source_ref=new_source_ref, reason=reason, value=number
            ),
        )
        return page(request, ledger, who, done=done)

    # -- JSON --------------------------------------------------------------------------

    @router.post(
        "/api/v1/batches",
        response_model=BatchOut,
        tags=["departments"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _SUFFIX},
            }
        },
    )
    async def post_batch(
        request: Request,
        ledger: LedgerDep,
        who: PostingCallerDep,
        batch_id: Annotated[str | None, Query(max_length=64)] = None,
        partial: bool = False,
    ) -> BatchOut:
        """Submit a batch: the body is the file (text/csv, application/x-ndjson or
        application/vnd.apache.parquet). Returns the outcome and its row-level report."""
        _department(who)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in _SUFFIX:
            raise ValidationError(
                f"content-type: expected one of {', '.join(_SUFFIX)}, found {kind or 'none'!r}"
            )
        with tempfile.TemporaryDirectory(prefix="osmanthus-upload-") as folder:
            path = Path(folder) / f"batch{_SUFFIX[kind]}"
            with path.open("wb") as out:  # at most upload_max_mb: UploadLimit
                async for chunk in request.stream():
                    out.write(chunk)
            found = await run_in_threadpool(
                _submit, request, ledger, who, path, batch_id=batch_id, partial=partial
            )
        return _batch_out(found)

    @router.get("/api/v1/batches/{batch_id}", response_model=BatchOut, tags=["departments"])
    def get_batch(batch_id: str, ledger: LedgerDep, who: CallerDep) -> BatchOut:
        """A batch's outcome and report (the department's own batches only)."""
        department = _department(who)
        with database_errors("batches"), read_only(ledger.engine) as conn:
            return _batch_out(load_outcome(conn, batch_id, department))

    @router.post("/api/v1/records/supersede", response_model=CorrectionOut, tags=["departments"])
    def supersede(change: CorrectionIn, ledger: LedgerDep, who: PostingCallerDep) -> CorrectionOut:
        """Correct a record (with ``value``) or retract it (without): a new row that
        supersedes the original, which stays in the history."""
        return _supersede(ledger, who, change)

    @router.post(
        "/api/v1/profile-facts",
        response_model=ProfileFactIdOut,
        status_code=201,
        tags=["departments"],
    )
    def new_profile_fact(
        fact: ProfileFactIn, ledger: LedgerDep, who: PostingCallerDep
    ) -> ProfileFactIdOut:
        """Report a dated profile fact a rule needs (a licence date, the date residence
        began; the civil registry's dates of death and of leaving the city), when the
        policy declares the attribute and lets this department report it."""
        fact_id = ledger.record_profile(
            fact.national_id,
            fact.attribute,
            fact.value,
            department=_department(who),
            source_ref=fact.source_ref,
            actor=who.actor,
        )
        return ProfileFactIdOut(fact_id=fact_id)

    @router.get("/api/v1/coverage", response_model=list[CoverageOut], tags=["departments"])
    def get_coverage(ledger: LedgerDep, who: CallerDep) -> list[CoverageOut]:
        """Who sends what: a department sees its own; operators and auditors see all."""
        who.require("department", "operator", "auditor")
        return _coverage(ledger, who.department if who.role == "department" else None)

    return router
