"""Reading the whole population's records, for statistics (one audit entry per read).

Rows stream in resident order, so memory stays at one resident's records plus the
driver's buffer. Every resident is yielded, with their records (possibly none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import Connection, Engine, select

from osmanthus.core import Actor, StoredRecord, Subject, Suspension
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.reading import SUSPENSIONS, stored_record
from osmanthus.ledger.schema import departments, profile_facts, records, residents, suspensions

__all__ = ["iter_population"]


def iter_population(
    engine: Engine, *, actor: Actor, purpose: str, known_at: dt.datetime | None = None
) -> Iterator[tuple[int, Subject, list[StoredRecord]]]:
    """Yield ``(resident_id, subject, records)`` for every resident."""
    with database_errors("population"), engine.begin() as conn:
        append_entry(
            conn,
            actor=str(actor),
            action="population.read",
            purpose=purpose,
            detail={"known_at": known_at.isoformat() if known_at else None},
        )
    joined = records.join(departments, departments.c.id == records.c.department_id)
    condition = records.c.resident_id == residents.c.id
    if known_at is not None:
        condition = condition & (records.c.recorded_at <= known_at)
    query = (
        select(
            residents.c.id.label("resident"),
            residents.c.birth_year,
            records,
            departments.c.code.label("department_code"),
        )
        .select_from(residents.outerjoin(joined, condition))
        .order_by(residents.c.id, records.c.id)
    )
    if known_at is not None:  # as known then: residents registered since are unknown
        query = query.where(residents.c.registered_at <= known_at)
    with read_only(engine) as conn:
        profiles = _profiles(conn, known_at)
        suspended = _suspensions(conn)
        result = conn.execution_options(stream_results=True, yield_per=20_000).execute(query)
        for resident_id, group in groupby(result, key=lambda row: row.resident):
            rows = list(group)
            subject = Subject(
                birth_year=rows[0].birth_year,
                profile=profiles.get(resident_id, {}),
                suspensions=suspended.get(resident_id, ()),
            )
            found = [stored_record(row) for row in rows if row.id is not None]
            yield resident_id, subject, found


def _profiles(conn: Connection, known_at: dt.datetime | None) -> dict[int, dict[str, dt.date]]:
    """Profile facts by resident (they are few: only what a rule needs); newest wins."""
    query = select(
        profile_facts.c.resident_id, profile_facts.c.attribute, profile_facts.c.value
    ).order_by(profile_facts.c.id)
    if known_at is not None:
        query = query.where(profile_facts.c.recorded_at <= known_at)
    found: dict[int, dict[str, dt.date]] = {}
    for row in conn.execute(query):
        found.setdefault(row.resident_id, {})[row.attribute] = row.value
    return found


def _suspensions(conn: Connection) -> dict[int, tuple[Suspension, ...]]:
    """Suspension facts by resident (few: one or two per overdue dispute)."""
    found: dict[int, list[Suspension]] = {}
    query = select(suspensions.c.resident_id, *SUSPENSIONS.selected_columns)
    for row in conn.execute(query.order_by(suspensions.c.id)):
        fact = Suspension(**{k: v for k, v in row._mapping.items() if k != "resident_id"})
        found.setdefault(row.resident_id, []).append(fact)
    return {k: tuple(v) for k, v in found.items()}
