"""What became of a batch: its outcome and row-level report, stored in ``batches``.

A batch is identified by its department and batch id. The same file resubmitted under the
same id returns the stored outcome and changes nothing; a committed batch id cannot be
reused for a different file; a refused batch (nothing committed) may be retried under the
same id with a corrected file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row

from osmanthus.audit import Claim
from osmanthus.errors import NotFound
from osmanthus.intake.validate import Problem
from osmanthus.ledger import batch_rows, problem_rows, record_batch

__all__ = ["MAX_REPORTED", "Outcome", "find_outcomes", "load_outcome", "store_outcome"]

#: Problems kept in a batch's stored report; the counts are always complete.
MAX_REPORTED = 100_000


@dataclass
class Outcome:
    """The outcome of one batch: ``committed`` (every row), ``partial`` (the valid rows,
    with ``--partial``) or ``refused`` (nothing written)."""

    department: str
    batch_id: str
    file_name: str
    file_sha256: str
    format: str
    partial: bool
    status: str
    rows: int
    accepted: int
    refused: int
    flagged: int
    received_at: dt.datetime
    finished_at: dt.datetime
    metrics: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    repeated: bool = False  # True when this is the stored outcome of an earlier submission

    @property
    def committed(self) -> bool:
        """True when the batch's valid rows are in the ledger."""
        return self.status in ("committed", "partial")

    def summary(self) -> dict[str, object]:
        """The outcome without its problems, as plain JSON-ready values."""
        return {
            "department": self.department,
            "batch_id": self.batch_id,
            "file": self.file_name,
            "sha256": self.file_sha256,
            "format": self.format,
            "partial": self.partial,
            "status": self.status,
            "rows": self.rows,
            "accepted": self.accepted,
            "refused": self.refused,
            "flagged": self.flagged,
            "received_at": self.received_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "metrics": self.metrics,
            "rows_with_problems": len({p.row for p in self.problems if p.level == "refused"}),
            "problems_listed": len(self.problems),
            "repeated_submission": self.repeated,
        }


def store_outcome(
    conn: Connection,
    outcome: Outcome,
    department_id: int,
    actor: str,
    written: Claim | None = None,
) -> int:
    """Store the batch row and its (capped) report inside the caller's transaction, with
    the audit entry that claims them and the records written (``written``)."""
    batch = {
        "department_id": department_id,
        "batch_id": outcome.batch_id,
        "file_name": outcome.file_name[:256],
        "file_sha256": outcome.file_sha256,
        "format": outcome.format,
        "partial": outcome.partial,
        "status": outcome.status,
        "rows": outcome.rows,
        "accepted": outcome.accepted,
        "refused": outcome.refused,
        "flagged": outcome.flagged,
        "metrics": json.dumps(outcome.metrics, sort_keys=True),
        "actor": actor,
        "received_at": outcome.received_at,
        "finished_at": outcome.finished_at,
    }
    problems = [
        {
            "row": p.row,
            "field": p.field,
            "value": p.value[:64],
            "reason": p.reason,
            "level": p.level,
        }
        for p in outcome.problems[:MAX_REPORTED]
    ]
    return record_batch(conn, batch, problems, detail=outcome.summary(), written=written)


def find_outcomes(conn: Connection, department: str, batch_id: str) -> list[Outcome]:
    """Every stored submission of ``batch_id`` by ``department``, oldest first."""
    return [
        _outcome(conn, row) for row in batch_rows(conn, department=department, batch_id=batch_id)
    ]


def load_outcome(conn: Connection, batch_id: str, department: str | None = None) -> Outcome:
    """The latest stored outcome of ``batch_id`` (of ``department``, when given)."""
    found = batch_rows(conn, department=department, batch_id=batch_id, newest_first=True, limit=1)
    if not found:
        where = f" from department {department!r}" if department else ""
        raise NotFound(f"no batch {batch_id!r}{where}")
    return _outcome(conn, found[0])


def recent_outcomes(conn: Connection, department: str, *, limit: int = 20) -> list[Outcome]:
    """The department's newest ``limit`` batches, newest first (without their reports)."""
    rows = batch_rows(conn, department=department, newest_first=True, limit=limit)
    return [_outcome(conn, row, problems=False) for row in rows]


def _outcome(conn: Connection, row: Row[Any], *, problems: bool = True) -> Outcome:
    listed = (
        [Problem(p.row, p.field, p.value, p.reason, p.level) for p in problem_rows(conn, row.id)]
        if problems
        else []
    )
    return Outcome(
        department=row.code,
        batch_id=row.batch_id,
        file_name=row.file_name,
        file_sha256=row.file_sha256,
        format=row.format,
        partial=bool(row.partial),
        status=row.status,
        rows=row.rows,
        accepted=row.accepted,
        refused=row.refused,
        flagged=row.flagged,
        received_at=row.received_at,
        finished_at=row.finished_at,
        metrics=json.loads(row.metrics),
        problems=listed,
        repeated=True,
    )
