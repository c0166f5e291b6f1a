"""Reading the whole population's records, for statistics (one audit entry per read).

Rows stream in resident order, so memory stays at one resident's records plus the
driver's buffer. Residents without any record are not yielded: they stand at baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import Engine, select

from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.ledger import stored_record
from osmanthus.ledger.record import Actor, StoredRecord
from osmanthus.ledger.schema import departments, records

__all__ = ["iter_population"]


def iter_population(
    engine: Engine, *, actor: Actor, purpose: str, known_at: dt.datetime | None = None
) -> Iterator[tuple[int, list[StoredRecord]]]:
    """Yield ``(resident_id, records)`` for every resident with at least one record."""
    with database_errors("population"), engine.begin() as conn:
        append_entry(
            conn,
            actor=str(actor),
            action="population.read",
            purpose=purpose,
            detail={"known_at": known_at.isoformat() if known_at else None},
        )
    query = (
        select(records, departments.c.code.label("department_code"))
        .join(departments, departments.c.id == records.c.department_id)
        .order_by(records.c.resident_id, records.c.id)
    )
    if known_at is not None:
        query = query.where(records.c.recorded_at <= known_at)
    with read_only(engine) as conn:
        result = conn.execution_options(stream_results=True, yield_per=20_000).execute(query)
        for resident_id, rows in groupby(result, key=lambda row: row.resident_id):
            yield resident_id, [stored_record(row) for row in rows]
