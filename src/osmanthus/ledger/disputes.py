"""Disputes in the ledger: a resident's dispute of one record and every step of it,
each written with the audit entry that claims its rows.

- ``disputes`` is a current-state table (status and the deadline of the step awaited);
  each step writes its row again, claimed as it then is;
- ``dispute_events`` holds every step (filed, upheld, rejected, extended, appealed,
  confirmed, overturned, suspended, closed), append-only;
- ``suspensions`` holds the facts the scorers read: a record set aside from a day, or
  counting again from a day.

Reading disputes is :mod:`osmanthus.ledger.dispute_reads` (re-exported here). The rules
of the procedure (who may answer, which deadline, whether an extension is
allowed) are :mod:`osmanthus.disputes`'s; this module writes what it decided, in one
transaction per step, with the dispute's row locked so that two answers at once are one
answer and one clear refusal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from osmanthus.core import REPLACING_KINDS, Actor
from osmanthus.errors import NotFound, ValidationError
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.dispute_reads import (
    ACTIVE,
    Dispute,
    DisputeStep,
    dispute_by_id,
    dispute_rows,
    disputes_of,
    one_dispute,
    open_dispute_rows,
    overdue_count,
)
from osmanthus.ledger.notices import NewNotice, add_notices
from osmanthus.ledger.rechecks import after_change
from osmanthus.ledger.schema import (
    departments,
    dispute_events,
    disputes,
    profile_facts,
    records,
    residents,
    suspensions,
)
from osmanthus.ledger.sealed import claim_of
from osmanthus.ledger.settling import enter_write

__all__ = [
    "ACTIVE",
    "Dispute",
    "DisputeStep",
    "StepWrite",
    "close_disputes_of",
    "dispute_by_id",
    "dispute_rows",
    "disputes_of",
    "insert_dispute",
    "insert_profile_dispute",
    "newest_version",
    "open_dispute_rows",
    "overdue_count",
    "write_step",
]


@dataclass(frozen=True)
class StepWrite:
    """What one step writes: its event, the dispute's new state, the suspension facts
    (``(starts, lifted)``) and the audit entry's action and purpose."""

    kind: str
    actor: Actor
    at: dt.datetime
    status: str
    deadline: dt.date
    purpose: str
    reason: str | None = None
    due: dt.date | None = None
    record_id: int | None = None
    suspensions: Sequence[tuple[dt.date, bool]] = field(default_factory=tuple)

    @classmethod
    def decided(cls, kind: str, **fields: Any) -> StepWrite:
        """A step that leaves the dispute in the state it names (``status = kind``)."""
        return cls(kind=kind, status=kind, **fields)


def insert_dispute(
    engine: Engine,
    pseudonym: str,
    record_id: int,
    reason: str,
    *,
    filed: dt.datetime,
    deadline: Callable[[Connection, str], dt.date],
    actor: Actor,
    kind: str = "record",
    evidence_ref: str | None = None,
) -> Dispute:
    """File a dispute of one of the resident's own records, or (``kind="repair"``) an
    application for its early repair (none awaiting an answer or a review on it, not a
    record already replaced or repaired); audited. ``deadline`` gives the answer
    deadline for the department that sent the record."""
    with database_errors("disputes"), engine.begin() as conn:
        record = conn.execute(
            select(
                records.c.id,
                records.c.resident_id,
                records.c.department_id,
                records.c.kind,
                departments.c.code,
            )
            .join(residents, residents.c.id == records.c.resident_id)
            .join(departments, departments.c.id == records.c.department_id)
            .where(records.c.id == record_id, residents.c.pseudonym == pseudonym)
        ).first()
        if record is None:  # someone else's record is as absent as no record
            raise NotFound(f"record {record_id}: no such record of yours")
        if record.kind in ("retraction", "repair"):
            raise ValidationError(
                f"record_id: record {record_id} is a {record.kind}: it does not count itself"
            )
        newer = conn.execute(
            select(records.c.id).where(
                records.c.supersedes_id == record_id, records.c.kind.in_(REPLACING_KINDS)
            )
        ).scalar()
        if newer is not None:
            raise ValidationError(
                f"record_id: record {record_id} was replaced by record {newer}: dispute that one"
            )
        already = conn.execute(
            select(disputes.c.id, disputes.c.kind).where(
                disputes.c.record_id == record_id, disputes.c.status.in_(ACTIVE)
            )
        ).first()
        if already is not None:
            what = "an application for its repair" if already.kind == "repair" else "dispute"
            raise ValidationError(
                f"record_id: record {record_id} already has {what} {already.id} under way"
            )
        repaired = conn.execute(
            select(records.c.act_date).where(
                records.c.supersedes_id == record_id, records.c.kind == "repair"
            )
        ).scalar()
        if kind == "repair" and repaired is not None:
            raise ValidationError(f"record_id: record {record_id} was repaired on {repaired}")
        return _filed(
            conn,
            {
                "record_id": record_id,
                "resident_id": record.resident_id,
                "department_id": record.department_id,
                "reason": reason,
                "filed_at": filed,
                "deadline": deadline(conn, record.code),
                "kind": kind,
                "evidence_ref": evidence_ref,
            },
            pseudonym=pseudonym,
            actor=actor,
            action="repair.apply" if kind == "repair" else "dispute.file",
            purpose="resident applies for early repair"
            if kind == "repair"
            else "resident disputes a record",
            about={"record": record_id},
        )


def insert_profile_dispute(
    engine: Engine,
    pseudonym: str,
    fact_id: int,
    reason: str,
    *,
    filed: dt.datetime,
    deadline: Callable[[Connection, str], dt.date],
    actor: Actor,
) -> Dispute:
    """File a dispute of one of the resident's own profile facts (the newest of its
    attribute; none awaiting an answer or a review on it); audited. The department that
    reported the fact answers."""
    if not 0 < fact_id < 2**63:
        raise NotFound(f"profile fact {fact_id}: no such fact of yours")
    with database_errors("disputes"), engine.begin() as conn:
        fact = conn.execute(
            select(
                profile_facts.c.id,
                profile_facts.c.resident_id,
                profile_facts.c.attribute,
                profile_facts.c.department_id,
                departments.c.code,
            )
            .join(residents, residents.c.id == profile_facts.c.resident_id)
            .join(departments, departments.c.id == profile_facts.c.department_id)
            .where(profile_facts.c.id == fact_id, residents.c.pseudonym == pseudonym)
        ).first()
        if fact is None:  # someone else's fact is as absent as no fact
            raise NotFound(f"profile fact {fact_id}: no such fact of yours")
        newer = conn.execute(
            select(func.max(profile_facts.c.id)).where(
                profile_facts.c.resident_id == fact.resident_id,
                profile_facts.c.attribute == fact.attribute,
            )
        ).scalar_one()
        if newer != fact_id:
            raise ValidationError(
                f"fact_id: profile fact {fact_id} was replaced by fact {newer}: dispute that one"
            )
        already = conn.execute(
            select(disputes.c.id).where(
                disputes.c.profile_fact_id == fact_id, disputes.c.status.in_(ACTIVE)
            )
        ).scalar()
        if already is not None:
            raise ValidationError(
                f"fact_id: profile fact {fact_id} already has dispute {already} under way"
            )
        return _filed(
            conn,
            {
                "record_id": None,
                "profile_fact_id": fact_id,
                "resident_id": fact.resident_id,
                "department_id": fact.department_id,
                "reason": reason,
                "filed_at": filed,
                "deadline": deadline(conn, fact.code),
                "kind": "profile",
            },
            pseudonym=pseudonym,
            actor=actor,
            action="profile.dispute",
            purpose="resident disputes a profile fact",
            about={"fact": fact_id},
        )


def _filed(
    conn: Connection,
    values: dict[str, Any],
    *,
    pseudonym: str,
    actor: Actor,
    action: str,
    purpose: str,
    about: dict[str, Any],
) -> Dispute:
    """Write a dispute (or an application) and its ``filed`` step, with the resident's
    notice, claimed by one audit entry."""
    filed, due = values["filed_at"], values["deadline"]
    dispute_id = conn.execute(
        insert(disputes).values(status="open", **values).returning(disputes.c.id)
    ).scalar_one()
    event = conn.execute(
        insert(dispute_events)
        .values(dispute_id=dispute_id, kind="filed", actor=str(actor), at=filed, due=due)
        .returning(dispute_events.c.id)
    ).scalar_one()
    filed_row = one_dispute(conn, int(dispute_id))
    notice = _notice_of(filed_row, values["resident_id"], "open", int(event), "filed", {"due": due})
    append_entry(
        conn,
        actor=str(actor),
        action=action,
        subject=pseudonym,
        purpose=purpose,
        detail={"dispute": int(dispute_id), **about, "due": due.isoformat()},
        rows=[
            claim_of(conn, "disputes", disputes.c.id == dispute_id),
            claim_of(conn, "dispute_events", dispute_events.c.id == event),
            *add_notices(conn, [notice], filed),
        ],
    )
    return filed_row


def write_step(
    engine: Engine,
    dispute_id: int,
    decide: Callable[[Connection, Dispute], StepWrite],
) -> Dispute:
    """Write one step of a dispute in one transaction: lock the dispute's row, read it,
    let ``decide`` check it and write what the step needs besides (a correction or a
    retraction of the record, through the caller's ledger), then write the step's event,
    suspension facts and the dispute's new state, claimed by one audit entry. ``decide``
    raising leaves nothing written."""
    if not 0 < dispute_id < 2**63:
        raise NotFound(f"dispute {dispute_id}: no such dispute")
    with database_errors("disputes"), engine.begin() as conn:
        enter_write(conn)  # suspension ids are exported to the lake by watermark
        locked = conn.execute(
            update(disputes)
            .where(disputes.c.id == dispute_id)
            .values(status=disputes.c.status)  # takes the row's (SQLite: the ledger's) lock
        )
        if locked.rowcount == 0:
            raise NotFound(f"dispute {dispute_id}: no such dispute")
        current = one_dispute(conn, dispute_id)
        step = decide(conn, current)
        return _write(conn, current, step)


def _write(conn: Connection, current: Dispute, step: StepWrite) -> Dispute:
    now = step.at
    event = conn.execute(
        insert(dispute_events)
        .values(
            dispute_id=current.id,
            kind=step.kind,
            actor=str(step.actor),
            reason=step.reason,
            at=now,
            due=step.due,
            record_id=step.record_id,
        )
        .returning(dispute_events.c.id)
    ).scalar_one()
    conn.execute(
        update(disputes)
        .where(disputes.c.id == current.id)
        .values(status=step.status, deadline=step.deadline)
    )
    resident_id = select(residents.c.id).where(residents.c.pseudonym == current.resident)
    facts = []
    for starts, lifted in step.suspensions:
        facts.append(
            conn.execute(
                insert(suspensions)
                .values(
                    record_id=current.record_id,
                    resident_id=resident_id.scalar_subquery(),
                    dispute_id=current.id,
                    starts=starts,
                    lifted=lifted,
                    recorded_at=now,
                )
                .returning(suspensions.c.id)
            ).scalar_one()
        )
    claims = [
        claim_of(conn, "disputes", disputes.c.id == current.id),
        claim_of(conn, "dispute_events", dispute_events.c.id == event),
    ]
    if facts:
        claims.append(claim_of(conn, "suspensions", suspensions.c.id.in_(facts)))
    told = {
        "due": step.due,
        "reason": step.reason,
        "new_record": step.record_id,
        "suspended_from": next((s for s, lifted in step.suspensions if not lifted), None),
        "counts_again_from": next((s for s, lifted in step.suspensions if lifted), None),
    }
    resident = conn.execute(
        select(disputes.c.resident_id).where(disputes.c.id == current.id)
    ).scalar_one()
    notice = _notice_of(current, resident, step.status, int(event), step.kind, told)
    claims.extend(add_notices(conn, [notice], now))
    if step.suspensions and step.record_id is None:  # (a correction told them already)
        lifted = step.suspensions[-1][1]
        claims.extend(
            after_change(conn, current.resident, "counts again" if lifted else "set aside", now)
        )
    append_entry(
        conn,
        actor=str(step.actor),
        action=f"{ {'repair': 'repair', 'profile': 'profile'}.get(current.kind, 'dispute') }"
        f".{step.kind}",
        subject=current.resident,
        purpose=step.purpose,
        detail={
            "dispute": current.id,
            "record": current.record_id,
            "status": step.status,
            **({"due": step.due.isoformat()} if step.due else {}),
            **({"new_record": step.record_id} if step.record_id else {}),
            **(
                {"suspensions": [[s.isoformat(), lifted] for s, lifted in step.suspensions]}
                if step.suspensions
                else {}
            ),
        },
        rows=claims,
    )
    return one_dispute(conn, current.id)


def close_disputes_of(
    conn: Connection,
    record_id: int,
    new_record: int,
    *,
    kind: str,
    reason: str,
    actor: Actor,
    now: dt.datetime,
) -> None:
    """Inside the transaction of a correction or retraction made outside the dispute
    procedure (a department's batch or console): a dispute awaiting a decision on that
    record is decided by it, as upheld, citing the new record. An application for the
    record's repair is closed by a retraction (nothing left to repair) and carries on
    after a correction (it is decided on the corrected record)."""
    waiting = conn.execute(
        select(disputes.c.id, disputes.c.kind).where(
            disputes.c.record_id == record_id, disputes.c.status.in_(ACTIVE)
        )
    ).all()
    for dispute_id, dispute_kind in waiting:
        if dispute_kind == "repair" and kind != "retraction":
            continue
        conn.execute(
            update(disputes).where(disputes.c.id == dispute_id).values(status=disputes.c.status)
        )
        current = one_dispute(conn, dispute_id)
        closed = dispute_kind == "repair"
        step = StepWrite(
            kind="closed" if closed else "upheld",
            actor=actor,
            at=now,
            status="closed" if closed else "upheld",
            deadline=current.deadline,
            purpose=f"the department's {kind} decides the "
            + ("application" if closed else "dispute"),
            reason=f"record {kind}: {reason}",
            record_id=new_record,
            suspensions=[(now.date(), True)] if current.suspended_from else [],
        )
        _write(conn, current, step)


def newest_version(conn: Connection, record_id: int) -> int:
    """The record that now stands for ``record_id``: itself, or its newest correction."""
    current = record_id
    while True:
        newer = conn.execute(
            select(records.c.id).where(
                records.c.supersedes_id == current, records.c.kind == "correction"
            )
        ).scalar()
        if newer is None:
            return current
        current = int(newer)


def _notice_of(
    d: Dispute, resident_id: int, status: str, event: int, kind: str, facts: dict[str, Any]
) -> NewNotice:
    """The resident's notice of one step of their dispute (the facts of the step)."""
    payload = {
        "dispute": d.id,
        "record": d.record_id,
        "fact": d.profile_fact_id,
        "metric": d.metric,
        "department": d.department,
        "status": status,
        **{k: v for k, v in facts.items() if v is not None},
    }
    payload = {k: v for k, v in payload.items() if v is not None or k == "record"}
    prefix = {"repair": "repair", "profile": "profile"}.get(d.kind, "dispute")
    return NewNotice(resident_id, f"{prefix}.{kind}", f"dispute-event:{event}", payload)
