"""Notices of records, made after they are committed: the records table is the outbox.

Intake writes millions of rows in one transaction; telling each resident of a new
negative record there would slow every batch. Instead the relay reads the records
committed since its cursor (the lake export's gate makes that list final on PostgreSQL
too), scores each resident concerned with the reference scorer, and writes in one
transaction the notices (``record.new``, and ``record.expired`` held until the record's
expiry), their outbox rows and its new cursor. A crash before that commit leaves the
cursor where it was, so the next run notices the same records: none is lost, and a
notice's key (``record:<id>``) makes none double.
"""

from __future__ import annotations

import datetime as dt

from osmanthus.core import Actor
from osmanthus.ledger import (
    Ledger,
    NewNotice,
    commit_relay,
    new_originals,
    relay_start,
    residents_now,
    settled_record_id,
)
from osmanthus.scoring import Explanation, explain

__all__ = ["RELAY", "relay_records", "skip_records"]

RELAY = Actor("platform", "notice-relay")
CURSOR = "records"
#: Residents read at a time by the relay.
CHUNK = 2_000


def relay_records(ledger: Ledger, *, today: dt.date | None = None) -> int:
    """Write the notices of every record committed since the last run; return how many."""
    day = today or ledger.today()
    written = 0
    after = relay_start(ledger.engine, CURSOR)
    upto = settled_record_id(ledger.engine)
    if upto <= after:
        return 0
    by_resident = new_originals(ledger.engine, after, upto)
    ids = sorted(by_resident)
    found: list[NewNotice] = []
    for start in range(0, len(ids), CHUNK):  # residents read a chunk at a time
        chunk = ids[start : start + CHUNK]
        for resident_id, (resident, rows) in residents_now(ledger.engine, chunk).items():
            result = explain(rows, ledger.policy, day, subject=resident.subject)
            found.extend(_record_notices(ledger, resident_id, result, by_resident[resident_id]))
    written = len(found)
    moved = commit_relay(
        ledger.engine,
        CURSOR,
        after,
        upto,
        found,
        actor=RELAY,
        now=ledger.now(),
        purpose="notices of new records to the residents concerned",
        detail={"residents": len(ids), "notices": written},
    )
    return written if moved else 0


def skip_records(ledger: Ledger) -> int:
    """Move the relay past every record stored now without noticing them (a city's
    history loaded at set-up is not news); return the cursor."""
    after = relay_start(ledger.engine, CURSOR)
    upto = max(after, settled_record_id(ledger.engine))
    commit_relay(
        ledger.engine,
        CURSOR,
        after,
        upto,
        [],
        actor=RELAY,
        now=ledger.now(),
        purpose="records loaded at set-up are not news",
        detail={"skipped": True},
    )
    return upto


def _record_notices(
    ledger: Ledger, resident_id: int, result: Explanation, new: list[int]
) -> list[NewNotice]:
    """``record.new`` for each new record that costs points, and ``record.expired`` held
    until the day it stops counting."""
    found: list[NewNotice] = []
    scale = ledger.policy.in_force(result.as_of).scale
    wanted = set(new)
    for line in result.lines:
        if line.record.id not in wanted or not line.points or not scale.worse(line.points):
            continue
        facts = {
            "record": line.record.id,
            "metric": line.record.metric,
            "points": line.points,
            "department": line.record.department,
            "act_date": line.record.act_date.isoformat(),
            "legal_basis": line.legal_basis,
            "expires": line.expires_on.isoformat() if line.expires_on else "—",
        }
        found.append(NewNotice(resident_id, "record.new", f"record:{line.record.id}", facts))
        if line.expires_on is not None:
            found.append(
                NewNotice(
                    resident_id,
                    "record.expired",
                    f"record-expired:{line.record.id}",
                    facts,
                    not_before=line.expires_on,
                )
            )
    return found
