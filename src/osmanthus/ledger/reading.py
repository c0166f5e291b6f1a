"""Reading a resident's rows: records and profile facts, as known at a time.

These are the plain reads; callers audit them (``Ledger.read_resident``,
``iter_population``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select

from osmanthus.core import ResidentInfo, StoredRecord, Suspension
from osmanthus.ledger.schema import departments, profile_facts, records, residents, suspensions

__all__ = [
    "PROFILE",
    "RECORDS",
    "RESIDENT_RECORDS",
    "RESIDENT_RECORD_IDS",
    "SUSPENSIONS",
    "profile_of",
    "record_rows",
    "resident_and_records",
    "resident_record_ids_with_profile",
    "stored_record",
    "suspensions_of",
]

# Built once: these reads run on every page view and eligibility check.
PROFILE = (
    select(profile_facts.c.attribute, profile_facts.c.value)
    .where(profile_facts.c.resident_id == bindparam("resident"))
    .order_by(profile_facts.c.id)
)
SUSPENSIONS = (
    select(
        suspensions.c.id,
        suspensions.c.record_id,
        suspensions.c.starts,
        suspensions.c.lifted,
        suspensions.c.recorded_at,
    )
    .where(suspensions.c.resident_id == bindparam("resident"))
    .order_by(suspensions.c.id)
)
_PROFILE_KNOWN = PROFILE.where(profile_facts.c.recorded_at <= bindparam("known_at"))
RECORDS = (
    select(records, departments.c.code.label("department_code"))
    .join(departments, departments.c.id == records.c.department_id)
    .where(records.c.resident_id == bindparam("resident"))
    .order_by(records.c.id)
)
_RECORDS_KNOWN = RECORDS.where(records.c.recorded_at <= bindparam("known_at"))


_RESIDENT = (
    residents.c.id.label("resident_id_"),
    residents.c.pseudonym,
    residents.c.district,
    residents.c.birth_year,
)

# A resident and every record row about them in one statement (a read of the present,
# where nothing is asked "as known at").
RESIDENT_RECORDS = (
    select(*_RESIDENT, records, departments.c.code.label("department_code"))
    .select_from(
        residents.outerjoin(records, records.c.resident_id == residents.c.id).outerjoin(
            departments, departments.c.id == records.c.department_id
        )
    )
    .where(residents.c.pseudonym == bindparam("pseudonym"))
    .order_by(records.c.id)
)


# The resident and only the ids of their records: what a remembered decision is keyed by
# (and whether any record of theirs has a suspension fact: then those are read too, so
# that most reads stay one statement).
_SUSPENDED = (
    select(suspensions.c.id)
    .where(suspensions.c.resident_id == residents.c.id)
    .exists()
    .label("suspended")
)
RESIDENT_RECORD_IDS = (
    select(*_RESIDENT, _SUSPENDED, records.c.id)
    .select_from(residents.outerjoin(records, records.c.resident_id == residents.c.id))
    .where(residents.c.pseudonym == bindparam("pseudonym"))
    .order_by(records.c.id)
)


def resident_record_ids_with_profile() -> Select[Any]:
    """:data:`RESIDENT_RECORD_IDS` with the resident's profile facts as two arrays
    (attributes and values, oldest first; NULL when none), PostgreSQL only: one statement,
    one round trip, where the facts' own query was a second (about 50 µs of the client's
    CPU and a wait of the event loop on each hot read)."""
    from sqlalchemy.dialects.postgresql import aggregate_order_by  # its dialect: ~20 ms

    # not correlated with the outer row: computed once (an init plan), not once a record
    resident = (
        select(residents.c.id)
        .where(residents.c.pseudonym == bindparam("pseudonym"))
        .correlate(None)
        .scalar_subquery()
    )

    def facts(column: Any) -> Any:
        return (
            select(func.array_agg(aggregate_order_by(column, profile_facts.c.id)))
            .where(profile_facts.c.resident_id == resident)
            .correlate(None)
            .scalar_subquery()
        )

    return RESIDENT_RECORD_IDS.add_columns(
        facts(profile_facts.c.attribute).label("profile_attributes"),
        facts(profile_facts.c.value).label("profile_values"),
    )


def resident_and_records(
    conn: Connection, pseudonym: str
) -> tuple[ResidentInfo, list[StoredRecord]] | None:
    """The resident with this pseudonym and all their record rows, or None."""
    rows = conn.execute(RESIDENT_RECORDS, {"pseudonym": pseudonym}).all()
    if not rows:
        return None
    first = rows[0]
    resident = ResidentInfo(first.resident_id_, first.pseudonym, first.district, first.birth_year)
    return resident, [stored_record(row) for row in rows if row.id is not None]


def profile_of(
    conn: Connection, resident_id: int, known_at: dt.datetime | None
) -> dict[str, dt.date]:
    """A resident's profile facts recorded by ``known_at``; the newest fact of each wins."""
    if known_at is None:
        rows = conn.execute(PROFILE, {"resident": resident_id})
    else:
        rows = conn.execute(_PROFILE_KNOWN, {"resident": resident_id, "known_at": known_at})
    return {row.attribute: row.value for row in rows}  # newest wins


def profile_facts_of(conn: Connection, pseudonym: str) -> list[dict[str, Any]]:
    """Every profile fact about a resident (oldest first): id, attribute, value, the
    reporting department, source reference and when it was recorded."""
    rows = conn.execute(
        select(
            profile_facts.c.id,
            profile_facts.c.attribute,
            profile_facts.c.value,
            departments.c.code.label("department"),
            profile_facts.c.source_ref,
            profile_facts.c.recorded_at,
        )
        .join(departments, departments.c.id == profile_facts.c.department_id)
        .join(residents, residents.c.id == profile_facts.c.resident_id)
        .where(residents.c.pseudonym == pseudonym)
        .order_by(profile_facts.c.id)
    )
    return [dict(row._mapping) for row in rows]


def suspensions_of(conn: Connection, resident_id: int) -> tuple[Suspension, ...]:
    """Every suspension fact about a resident's records (the scorer applies ``known_at``
    itself: a fact recorded later than it is ignored there)."""
    rows = conn.execute(SUSPENSIONS, {"resident": resident_id})
    return tuple(Suspension(**row._mapping) for row in rows)


def record_rows(
    conn: Connection, resident_id: int, known_at: dt.datetime | None
) -> list[StoredRecord]:
    """Every record row about a resident recorded by ``known_at``, oldest first."""
    if known_at is None:
        rows = conn.execute(RECORDS, {"resident": resident_id})
    else:
        rows = conn.execute(_RECORDS_KNOWN, {"resident": resident_id, "known_at": known_at})
    return [stored_record(row) for row in rows]


def stored_record(row: Row[Any]) -> StoredRecord:
    """A record row (joined with its department's code) as a :class:`StoredRecord`."""
    return StoredRecord(
        id=row.id,
        department=row.department_code,
        metric=row.metric,
        value=row.value,
        act_date=row.act_date,
        decision_date=row.decision_date,
        recorded_at=row.recorded_at,
        source_ref=row.source_ref,
        incident_ref=row.incident_ref,
        kind=row.kind,
        supersedes_id=row.supersedes_id,
        reason=row.reason,
        severity=row.severity,
    )
