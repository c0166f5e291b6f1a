"""Disputes: a resident contests one record; the department must answer by a deadline.

The deadline is ``dispute_days`` calendar days after filing (20 by default: China's
credit-reporting regulation, Art. 25, has objections checked within 20 days). Filing is
recorded and audited here; answering (upheld → the department corrects or retracts the
record; rejected → with a reason) is the dispute workflow of a later step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, func, insert, select

from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger import Ledger, append_entry, claim_of, database_errors, read_only
from osmanthus.ledger.schema import departments, disputes, records, residents

__all__ = ["DISPUTE_DAYS", "Dispute", "file_dispute", "open_disputes", "resident_disputes"]

#: Calendar days a department has to answer (China's credit-reporting regulation, Art. 25).
DISPUTE_DAYS = 20


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


def file_dispute(
    ledger: Ledger, pseudonym: str, record_id: int, reason: str, *, days: int = DISPUTE_DAYS
) -> Dispute:
    """File a dispute of one of the resident's own records; audited."""
    reason = reason.strip()
    if not 10 <= len(reason) <= 2000:
        raise ValidationError(f"reason: expected 10 to 2000 characters, found {len(reason)}")
    with database_errors("disputes"), ledger.engine.begin() as conn:
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
        filed = ledger.now()
        dispute_id = conn.execute(
            insert(disputes)
            .values(
                record_id=record_id,
                resident_id=record.resident_id,
                department_id=record.department_id,
                reason=reason,
                status="open",
                filed_at=filed,
                deadline=ledger.today() + dt.timedelta(days=days),
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


def resident_disputes(ledger: Ledger, pseudonym: str) -> list[Dispute]:
    """Every dispute the resident filed, soonest deadline first."""
    with database_errors("disputes"), read_only(ledger.engine) as conn:
        resident_id = select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        return _rows(conn, disputes.c.resident_id == resident_id.scalar_subquery())


def open_disputes(ledger: Ledger, department: str | None = None) -> list[Dispute]:
    """Open disputes (of one department, or all), soonest deadline first. No personal
    data beyond the record's metric: oversight sees deadlines, not people."""
    where = [disputes.c.status == "open"]
    if department is not None:
        where.append(departments.c.code == department)
    with database_errors("disputes"), read_only(ledger.engine) as conn:
        return _rows(conn, and_(*where))
