"""The audit log table: appending chained entries and verifying the stored chain.

Appending takes the chain's lock for the rest of the transaction (SQLite: the write lock
that ``BEGIN IMMEDIATE`` already holds; PostgreSQL: a transaction-level advisory lock), so
two writers never chain onto the same head. An entry is part of the same transaction as
the write it describes: both land or neither does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from osmanthus.audit import GENESIS_HASH, ChainHead, encode_detail, entry_hash, verify_entries
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import audit_log

__all__ = [
    "AuditEntry",
    "PendingEntry",
    "append_entries",
    "append_entry",
    "chain_head",
    "iter_entries",
    "verify_chain",
]

#: Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_PG_LOCK_KEY = 0x05A4_A0D1


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log as stored."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str | None
    purpose: str
    detail: str
    prev_hash: str
    hash: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class PendingEntry:
    """An entry to append: what happened, to whom, by whom, and why."""

    actor: str
    action: str
    purpose: str
    subject: str | None = None
    detail: Mapping[str, Any] | None = None


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = audit_log.insert()


def append_entry(
    conn: Connection,
    *,
    actor: str,
    action: str,
    purpose: str,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one chained entry inside the caller's transaction and return it."""
    return append_entries(conn, [PendingEntry(actor, action, purpose, subject, detail)])[0]


def append_entries(conn: Connection, pending: list[PendingEntry]) -> list[AuditEntry]:
    """Append several chained entries, in order, inside the caller's transaction (the
    chain's head is read once and the rows inserted in one statement)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"key": _PG_LOCK_KEY})
    last = conn.execute(_HEAD).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    stored = []
    for entry in pending:
        seq += 1
        fields = {
            "seq": seq,
            "at": _now(),
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "purpose": entry.purpose,
            "detail": encode_detail(entry.detail),
        }
        digest = entry_hash(prev_hash, fields)
        stored.append(AuditEntry(**fields, prev_hash=prev_hash, hash=digest))  # type: ignore[arg-type]
        prev_hash = digest
    conn.execute(_INSERT, [vars(e) for e in stored])
    return stored


def iter_entries(conn: Connection, *, batch: int = 10_000) -> Iterator[dict[str, Any]]:
    """Every stored entry in ``seq`` order, read in batches (constant memory)."""
    after = 0
    while True:
        rows = (
            conn.execute(
                select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield from (dict(row) for row in rows)
        after = rows[-1]["seq"]


def verify_chain(engine: Engine, *, expected_head: str | None = None) -> ChainHead:
    """Recompute the whole stored chain; raise :class:`AuditChainBroken` at the first fault."""
    with read_only(engine) as conn:
        return verify_entries(iter_entries(conn), expected_head=expected_head)


def chain_head(engine: Engine) -> ChainHead:
    """The newest entry's sequence number and hash, as stored (not verified)."""
    with database_errors("audit"), read_only(engine) as conn:
        last = conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).first()
        if last is None:
            return ChainHead(seq=0, hash=GENESIS_HASH, count=0)
        return ChainHead(seq=last.seq, hash=last.hash, count=last.seq)
