"""Who read my data: the audit entries whose subject is the resident, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from osmanthus.ledger import Ledger, database_errors, read_only
from osmanthus.ledger.audit_subjects import latest_about

__all__ = ["AccessEntry", "who_read"]


@dataclass(frozen=True)
class AccessEntry:
    """One access to (or write about) the resident's data, as the audit chain has it."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    purpose: str


def who_read(ledger: Ledger, pseudonym: str, *, limit: int = 200) -> list[AccessEntry]:
    """The newest ``limit`` audit entries about the resident (reads, writes, sign-ins)."""
    with database_errors("audit log"), read_only(ledger.engine) as conn:
        rows = latest_about(conn, pseudonym, limit)
    return [
        AccessEntry(r.seq, dt.datetime.fromisoformat(r.at), r.actor, r.action, r.purpose)
        for r in rows
    ]
