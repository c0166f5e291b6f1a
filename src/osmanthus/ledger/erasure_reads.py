"""What erasures left, read for those outside the ledger that act on them: the lake's
export (which writes again the buckets an erasure touched) and erasure on demand (which
names the resident by pseudonym). Reads only; the erasures themselves are
:mod:`osmanthus.ledger.erasure`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from osmanthus.ledger.guards import RETIRED
from osmanthus.ledger.schema import audit_log, records, residents

__all__ = ["erasures_after", "resident_id_of", "retired_holder_id", "retired_record_ids"]

#: The actions of the entries that erase (their detail holds re-claims and deletions).
ERASURE_ACTIONS = ("resident.erase", "records.retire")


def erasures_after(conn: Connection, seq: int) -> list[tuple[int, str, dict[str, Any]]]:
    """``(seq, action, detail)`` of every erasure entered after entry ``seq``, in order
    (those of archived months too, as their ``audit.archive`` entries carry them)."""
    from osmanthus.ledger.archive import carried

    rows = conn.execute(
        select(audit_log.c.seq, audit_log.c.action, audit_log.c.detail)
        .where(audit_log.c.action.in_(ERASURE_ACTIONS), audit_log.c.seq > seq)
        .order_by(audit_log.c.seq)
    ).all()
    archived = [erasure for erasure in carried(conn).erasures if erasure[0] > seq]
    return archived + [(int(r.seq), str(r.action), json.loads(r.detail)) for r in rows]


def resident_id_of(conn: Connection, pseudonym: str) -> int | None:
    """The row id of the resident with ``pseudonym``, or None."""
    found = conn.execute(select(residents.c.id).where(residents.c.pseudonym == pseudonym))
    value = found.scalar()
    return None if value is None else int(value)


def retired_holder_id(conn: Connection) -> int | None:
    """The tombstone resident that holds retired records, None before the first."""
    return resident_id_of(conn, RETIRED)


def retired_record_ids(
    conn: Connection, holder: int, ranges: Sequence[tuple[int, int]]
) -> list[int]:
    """The ids within ``ranges`` (inclusive) of the records ``holder`` holds: those
    retired."""
    found: list[int] = []
    for lo, hi in ranges:
        found += conn.scalars(
            select(records.c.id).where(
                records.c.resident_id == holder, records.c.id >= lo, records.c.id <= hi
            )
        ).all()
    return found
