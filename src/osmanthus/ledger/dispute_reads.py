"""Reading disputes (and applications for early repair, and disputes of profile facts)
from the ledger: each with its record (or profile fact) as the department sent it, its
steps, and whether its record is set aside. Writing them is
:mod:`osmanthus.ledger.disputes`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, select

from osmanthus.errors import NotFound
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import (
    departments,
    dispute_events,
    disputes,
    profile_facts,
    records,
    residents,
    suspensions,
)

__all__ = [
    "ACTIVE",
    "Dispute",
    "DisputeStep",
    "dispute_by_id",
    "dispute_rows",
    "disputes_of",
    "one_dispute",
    "open_dispute_rows",
    "overdue_count",
]

#: States in which a dispute awaits someone (the department, or the reviewer).
ACTIVE = ("open", "appealed")


@dataclass(frozen=True)
class DisputeStep:
    """One step of a dispute, as the ledger keeps it."""

    id: int
    kind: str
    actor: str
    reason: str | None
    at: dt.datetime
    due: dt.date | None
    record_id: int | None


@dataclass(frozen=True)
class Dispute:
    """One dispute of one record, with the record as the department sent it."""

    id: int
    record_id: int | None  # None for a dispute of a profile fact
    department: str
    metric: str  # the record's metric, or the profile fact's attribute
    reason: str
    status: str
    filed_at: dt.datetime
    deadline: dt.date
    resident: str = ""  # the pseudonym
    source_ref: str = ""
    value: float = 0.0
    act_date: dt.date | None = None
    severity: str | None = None
    steps: tuple[DisputeStep, ...] = ()
    suspended_from: dt.date | None = None  # the record is set aside from this day
    kind: str = "record"  # "record": the record is wrong; "repair": end it early;
    # "profile": a profile fact is wrong
    evidence_ref: str | None = None  # a repair application's evidence reference
    profile_fact_id: int | None = None

    def overdue(self, today: dt.date) -> bool:
        """Awaiting an answer or a review after its deadline."""
        return self.status in ACTIVE and today > self.deadline

    @property
    def extensions(self) -> int:
        """How often the answer deadline was extended."""
        return sum(1 for step in self.steps if step.kind == "extended")

    @property
    def answer(self) -> DisputeStep | None:
        """The department's answer (upheld or rejected), if given."""
        return next((s for s in self.steps if s.kind in ("upheld", "rejected")), None)


_COLUMNS = (
    disputes.c.id,
    disputes.c.record_id,
    departments.c.code.label("department"),
    func.coalesce(records.c.metric, profile_facts.c.attribute).label("metric"),
    disputes.c.reason,
    disputes.c.status,
    disputes.c.filed_at,
    disputes.c.deadline,
    residents.c.pseudonym.label("resident"),
    func.coalesce(records.c.source_ref, profile_facts.c.source_ref).label("source_ref"),
    func.coalesce(records.c.value, 0.0).label("value"),
    func.coalesce(records.c.act_date, profile_facts.c.value).label("act_date"),
    records.c.severity,
    disputes.c.kind,
    disputes.c.evidence_ref,
    disputes.c.profile_fact_id,
)


def _rows(conn: Connection, *where: ColumnElement[bool]) -> list[Dispute]:
    query = (
        select(*_COLUMNS)
        .join(departments, departments.c.id == disputes.c.department_id)
        .outerjoin(records, records.c.id == disputes.c.record_id)
        .outerjoin(profile_facts, profile_facts.c.id == disputes.c.profile_fact_id)
        .join(residents, residents.c.id == disputes.c.resident_id)
        .where(*where)
        .order_by(disputes.c.deadline, disputes.c.id)
    )
    found = [Dispute(**row._mapping) for row in conn.execute(query)]
    if not found:
        return found
    ids = [d.id for d in found]
    suspended = _suspended_from(conn, ids)
    return [Dispute(**{**d.__dict__, "suspended_from": suspended.get(d.id)}) for d in found]


def _suspended_from(conn: Connection, ids: list[int]) -> dict[int, dt.date]:
    """For each dispute whose newest suspension fact sets its record aside: the day."""
    newest: dict[int, tuple[int, dt.date, bool]] = {}
    rows = conn.execute(
        select(
            suspensions.c.dispute_id, suspensions.c.id, suspensions.c.starts, suspensions.c.lifted
        )
        .where(suspensions.c.dispute_id.in_(ids))
        .order_by(suspensions.c.id)
    )
    for dispute_id, fact_id, starts, lifted in rows:
        newest[dispute_id] = (fact_id, starts, lifted)
    return {d: starts for d, (_, starts, lifted) in newest.items() if not lifted}


def _steps(conn: Connection, dispute_id: int) -> tuple[DisputeStep, ...]:
    rows = conn.execute(
        select(
            dispute_events.c.id,
            dispute_events.c.kind,
            dispute_events.c.actor,
            dispute_events.c.reason,
            dispute_events.c.at,
            dispute_events.c.due,
            dispute_events.c.record_id,
        )
        .where(dispute_events.c.dispute_id == dispute_id)
        .order_by(dispute_events.c.id)
    )
    return tuple(DisputeStep(**row._mapping) for row in rows)


def one_dispute(conn: Connection, dispute_id: int) -> Dispute:
    """One dispute with every step, read in the caller's transaction."""
    if not 0 < dispute_id < 2**63:  # beyond a database integer: no such dispute either
        raise NotFound(f"dispute {dispute_id}: no such dispute")
    found = _rows(conn, disputes.c.id == dispute_id)
    if not found:
        raise NotFound(f"dispute {dispute_id}: no such dispute")
    return Dispute(**{**found[0].__dict__, "steps": _steps(conn, dispute_id)})


def dispute_by_id(engine: Engine, dispute_id: int) -> Dispute:
    """One dispute with every step."""
    with database_errors("disputes"), read_only(engine) as conn:
        return one_dispute(conn, dispute_id)


def dispute_rows(
    engine: Engine,
    *,
    department: str | None = None,
    status: Sequence[str] | None = None,
    due_before: dt.date | None = None,
    kind: str | None = None,
) -> list[Dispute]:
    """Disputes (of one department, in some states, due before a day, of one kind),
    soonest deadline first; without their steps."""
    where: list[ColumnElement[bool]] = []
    if kind is not None:
        where.append(disputes.c.kind == kind)
    if department is not None:
        where.append(departments.c.code == department)
    if status is not None:
        where.append(disputes.c.status.in_(list(status)))
    if due_before is not None:
        where.append(disputes.c.deadline < due_before)
    with database_errors("disputes"), read_only(engine) as conn:
        return _rows(conn, and_(True, *where))


def disputes_of(engine: Engine, pseudonym: str) -> list[Dispute]:
    """Every dispute the resident filed, soonest deadline first, with their steps."""
    with database_errors("disputes"), read_only(engine) as conn:
        resident_id = select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        found = _rows(conn, disputes.c.resident_id == resident_id.scalar_subquery())
        return [Dispute(**{**d.__dict__, "steps": _steps(conn, d.id)}) for d in found]


def open_dispute_rows(engine: Engine, department: str | None = None) -> list[Dispute]:
    """Disputes awaiting a department's answer (of one department, or all)."""
    return dispute_rows(engine, department=department, status=("open",))


def overdue_count(engine: Engine, today: dt.date) -> int:
    """Disputes awaiting an answer or a review after their deadline (for the metrics)."""
    with database_errors("disputes"), read_only(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(disputes)
                .where(disputes.c.status.in_(ACTIVE), disputes.c.deadline < today)
            ).scalar_one()
        )
