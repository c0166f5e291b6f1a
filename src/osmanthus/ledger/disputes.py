"""Disputes in the ledger: a resident's dispute of one record, stored with the audit
entry that claims it, and read back (no personal data beyond the record's metric).

``disputes`` is a current-state table: answering a dispute (a later step) writes its row
again, with an entry that claims the row as it then is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, select

from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import departments, disputes, records, residents
from osmanthus.ledger.sealed import claim_of

__all__ = ["Dispute", "disputes_of", "insert_dispute", "open_dispute_rows"]


@dataclass(frozen=True)
class Dispute:
    """One dispute of one record."""

    id: int
    record_id: int
    department: str
    metric: str
    reason: str
    status: str
    filed_at: dt.datetime
    deadline: dt.date

    def overdue(self, today: dt.date) -> bool:
        """Still open after its deadline."""
        return self.status == "open" and today > self.deadline


def _rows(conn: Connection, *where: ColumnElement[bool]) -> list[Dispute]:
    query = (
        select(
            disputes.c.id,
            disputes.c.record_id,
            departments.c.code.label("department"),
            records.c.metric,
            disputes.c.reason,
            disputes.c.status,
            disputes.c.filed_at,
            disputes.c.deadline,
        )
        .join(departments, departments.c.id == disputes.c.department_id)
        .join(records, records.c.id == disputes.c.record_id)
        .where(*where)
        .order_by(disputes.c.deadline, disputes.c.id)
    )
    return [Dispute(**row._mapping) for row in conn.execute(query)]


def insert_dispute(
    engine: Engine,
    pseudonym: str,
    record_id: int,
    reason: str,
    *,
    filed: dt.datetime,
    deadline: dt.date,
) -> Dispute:
    """File a dispute of one of the resident's own records (none open on it yet);
    audited, by the resident."""
    with database_errors("disputes"), engine.begin() as conn:
        record = conn.execute(
            select(records.c.id, records.c.resident_id, records.c.department_id)
            .join(residents, residents.c.id == records.c.resident_id)
            .where(records.c.id == record_id, residents.c.pseudonym == pseudonym)
        ).first()
        if record is None:  # someone else's record is as absent as no record
            raise NotFound(f"record {record_id}: no such record of yours")
        already = conn.execute(
            select(func.count())
            .select_from(disputes)
            .where(disputes.c.record_id == record_id, disputes.c.status == "open")
        ).scalar_one()
        if already:
            raise ValidationError(f"record_id: record {record_id} already has an open dispute")
        dispute_id = conn.execute(
            insert(disputes)
            .values(
                record_id=record_id,
                resident_id=record.resident_id,
                department_id=record.department_id,
                reason=reason,
                status="open",
                filed_at=filed,
                deadline=deadline,
            )
            .returning(disputes.c.id)
        ).scalar_one()
        append_entry(
            conn,
            actor=f"resident:{pseudonym[:12]}",
            action="dispute.file",
            subject=pseudonym,
            purpose="resident disputes a record",
            detail={"dispute": int(dispute_id), "record": record_id},
            rows=[claim_of(conn, "disputes", disputes.c.id == dispute_id)],
        )
        return _rows(conn, disputes.c.id == dispute_id)[0]


def disputes_of(engine: Engine, pseudonym: str) -> list[Dispute]:
    """Every dispute the resident filed, soonest deadline first."""
    with database_errors("disputes"), read_only(engine) as conn:
        resident_id = select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        return _rows(conn, disputes.c.resident_id == resident_id.scalar_subquery())


def open_dispute_rows(engine: Engine, department: str | None = None) -> list[Dispute]:
    """Open disputes (of one department, or all), soonest deadline first."""
    where = [disputes.c.status == "open"]
    if department is not None:
        where.append(departments.c.code == department)
    with database_errors("disputes"), read_only(engine) as conn:
        return _rows(conn, and_(*where))
