"""The retention pass's memory (``retention_checks``, derived): for each resident it
scored, the first day one of their records may be past retention. A resident is scored
again only when that day has come, when a record, profile fact or suspension of theirs
was recorded since, or when the policy changed (:func:`stale_holders`), so a daily pass
on a large ledger scores the few residents whose day came, not every resident holding an
old record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Exists,
    Select,
    Table,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)

from osmanthus.ledger.database import database_errors
from osmanthus.ledger.dispute_reads import ACTIVE
from osmanthus.ledger.schema import (
    disputes,
    profile_facts,
    records,
    residents,
    retention_checks,
    suspensions,
)

__all__ = [
    "disputed_records",
    "newest_dates",
    "stale_holders",
    "store_checks",
    "waiting_disputes",
]


def stale_holders(cutoff: dt.date, today: dt.date, policy: str) -> Select[Any]:
    """Residents (not erased) holding a record acted by ``cutoff`` whose check is
    missing, due by ``today``, made under another policy, or older than a row of
    theirs."""
    check = retention_checks.c
    rid = records.c.resident_id
    fresh = exists().where(
        check.resident_id == rid,
        check.policy == policy,
        or_(check.next_due.is_(None), check.next_due > today),
        ~_newer(records),
        ~_newer(profile_facts),
        ~_newer(suspensions),
    )
    return (
        select(rid)
        .join(residents, residents.c.id == rid)
        .where(records.c.act_date <= cutoff, residents.c.pseudonym.not_like("erased-%"), ~fresh)
        .distinct()
    )


def newest_dates(conn: Connection, attribute: str) -> list[tuple[int, dt.date]]:
    """Each resident's (not erased) newest fact of a profile attribute: ``(id, date)``."""
    newest = (
        select(profile_facts.c.resident_id, func.max(profile_facts.c.id).label("fact"))
        .where(profile_facts.c.attribute == attribute)
        .group_by(profile_facts.c.resident_id)
        .subquery()
    )
    rows = conn.execute(
        select(newest.c.resident_id, profile_facts.c.value)
        .join(profile_facts, profile_facts.c.id == newest.c.fact)
        .join(residents, residents.c.id == newest.c.resident_id)
        .where(residents.c.pseudonym.not_like("erased-%"))
    )
    return [(int(resident), day) for resident, day in rows]


def waiting_disputes(conn: Connection, resident_ids: list[int]) -> dict[int, int]:
    """resident id -> a dispute of theirs awaiting an answer or a review."""
    rows = conn.execute(
        select(disputes.c.resident_id, disputes.c.id).where(
            disputes.c.resident_id.in_(resident_ids), disputes.c.status.in_(ACTIVE)
        )
    )
    return {int(resident): int(dispute) for resident, dispute in rows}


def disputed_records(conn: Connection) -> set[int]:
    """The records a dispute or an application under way is about."""
    rows = conn.execute(select(disputes.c.record_id).where(disputes.c.status.in_(ACTIVE)))
    return {int(k) for k in rows.scalars() if k is not None}


def _newer(table: Table) -> Exists:
    """A row of ``table`` about the checked resident recorded after the check."""
    check = retention_checks.c
    return exists().where(
        table.c.resident_id == check.resident_id, table.c.recorded_at > check.checked_at
    )


def store_checks(
    engine: Engine, due: Mapping[int, dt.date | None], *, now: dt.datetime, policy: str
) -> None:
    """Remember, per resident scored, the first day something of theirs may be due."""
    if not due:
        return
    with database_errors("retention"), engine.begin() as conn:
        _store(conn, due, now, policy)


def _store(
    conn: Connection, due: Mapping[int, dt.date | None], now: dt.datetime, policy: str
) -> None:
    keys = sorted(due)
    for start in range(0, len(keys), 10_000):
        part = keys[start : start + 10_000]
        conn.execute(delete(retention_checks).where(retention_checks.c.resident_id.in_(part)))
        conn.execute(
            insert(retention_checks),
            [
                {"resident_id": k, "next_due": due[k], "checked_at": now, "policy": policy}
                for k in part
            ],
        )
