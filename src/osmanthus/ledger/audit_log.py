"""The audit log table: appending chained entries and verifying the stored chain.

Appending takes the chain's lock for the rest of the transaction (SQLite: the write lock
that ``BEGIN IMMEDIATE`` already holds; PostgreSQL: a transaction-level advisory lock), so
two writers never chain onto the same head. An entry is part of the same transaction as
the write it describes: both land or neither does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Dialect, Engine, select, text

from osmanthus.audit import (
    GENESIS_HASH,
    ChainHead,
    Claim,
    canonical_around_seq,
    chain_hash,
    claim_detail,
    encode_detail,
)
from osmanthus.errors import LedgerError
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import audit_archives, audit_log

if TYPE_CHECKING:  # a runtime import would be a cycle (the overflow stores AuditEntry)
    from osmanthus.ledger.audit_overflow import Overflow

__all__ = [
    "PG_CHAIN_LOCK",
    "AuditEntry",
    "ChainBusy",
    "PendingEntry",
    "PreparedEntry",
    "append_entries",
    "append_entry",
    "chain_head",
    "chained",
    "head_of",
    "head_statement",
    "insert_parameters",
    "insert_statement",
    "iter_entries",
    "ledger_identity",
    "prepare",
    "take_chain",
]

#: Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
PG_CHAIN_LOCK = 0x05A4_A0D1  # the advisory lock of appending to the chain (PostgreSQL)


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
    salt: str | None = None  # format 2 (an entry about a resident): see osmanthus.audit
    sealed: str | None = None  # format 2: the row claims, as JSON text
    subject_digest: str | None = None  # set when the entry is redacted (an erasure)
    detail_digest: str | None = None


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
    claims: Mapping[str, Any] | None = None  # the ``sealed`` claims of the rows written


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


class ChainBusy(LedgerError):
    """Another transaction holds the chain's lock (only raised when asked not to wait)."""


_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = audit_log.insert()
_COMPILED: dict[str, tuple[str, tuple[str, ...] | None]] = {}  # dialect -> (sql, order)


def head_statement(dialect: Dialect) -> str:
    """The read of the chain's head, as SQL for ``dialect`` (no parameters)."""
    return str(_HEAD.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def insert_statement(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The insert of one entry, compiled once per dialect, and its positional parameter
    order (None for named parameters)."""
    if dialect.name not in _COMPILED:
        compiled = _INSERT.compile(dialect=dialect)
        positions = compiled.positiontup
        _COMPILED[dialect.name] = (str(compiled), None if positions is None else tuple(positions))
    return _COMPILED[dialect.name]


def insert_parameters(entries: list[AuditEntry], order: tuple[str, ...] | None) -> list[Any]:
    """Parameters of :func:`insert_statement` for each entry."""
    rows = [vars(e) for e in entries]
    return rows if order is None else [tuple(row[k] for k in order) for row in rows]


def _insert_many(conn: Connection, entries: list[AuditEntry]) -> None:
    """Insert entries through the statement compiled once (the Core insert's per-row
    parameter building cost more than the insert itself)."""
    sql, order = insert_statement(conn.dialect)
    conn.exec_driver_sql(sql, insert_parameters(entries, order))


class PreparedEntry(NamedTuple):
    """An entry with its time and canonical encoding: all but its place in the chain."""

    at: str
    actor: str
    action: str
    subject: str | None
    purpose: str
    detail: str
    before_seq: bytes
    after_seq: bytes
    salt: str | None
    sealed: str | None


def prepare(entry: PendingEntry) -> PreparedEntry:
    """Stamp and encode ``entry`` (before the chain's lock is taken: only the hash, which
    needs the head, is computed under it). An entry about a resident is written in the
    redactable format 2 (a random salt; its claims in ``sealed``), any other in format 1
    (its claims in the detail)."""
    at = _now()
    salt = sealed = None
    if entry.subject is not None:
        salt = secrets.token_hex(16)
        detail = encode_detail(entry.detail)
        sealed = encode_detail(entry.claims) if entry.claims else None
    elif entry.claims:
        detail = encode_detail({**(entry.detail or {}), "sealed": entry.claims})
    else:
        detail = encode_detail(entry.detail)
    before, after = canonical_around_seq(
        action=entry.action,
        actor=entry.actor,
        at=at,
        detail=detail,
        purpose=entry.purpose,
        subject=entry.subject,
        salt=salt,
        sealed=sealed,
    )
    return PreparedEntry(
        at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.purpose,
        detail,
        before,
        after,
        salt,
        sealed,
    )


def chained(
    pending: Sequence[PendingEntry | PreparedEntry], seq: int, prev_hash: str
) -> list[AuditEntry]:
    """``pending`` as entries chained onto the head ``(seq, prev_hash)``."""
    stored = []
    for entry in pending:
        ready = entry if isinstance(entry, PreparedEntry) else prepare(entry)
        seq += 1
        digest = chain_hash(prev_hash, ready.before_seq, seq, ready.after_seq)
        stored.append(
            AuditEntry(
                seq,
                ready.at,
                ready.actor,
                ready.action,
                ready.subject,
                ready.purpose,
                ready.detail,
                prev_hash,
                digest,
                ready.salt,
                ready.sealed,
            )
        )
        prev_hash = digest
    return stored


def append_entry(
    conn: Connection,
    *,
    actor: str,
    action: str,
    purpose: str,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
    rows: Sequence[Claim] = (),
) -> AuditEntry:
    """Append one chained entry inside the caller's transaction and return it; ``rows``
    are the claims of the rows the same transaction wrote (``sealed``)."""
    claims = claim_detail(rows) if rows else None
    pending = PendingEntry(actor, action, purpose, subject, detail, claims or None)
    return append_entries(conn, [pending])[0]


def append_entries(
    conn: Connection, pending: Sequence[PendingEntry | PreparedEntry], *, wait: bool = True
) -> list[AuditEntry]:
    """Append several chained entries, in order, inside the caller's transaction (the
    chain's head is read once and the rows inserted in one statement).

    ``wait=False`` (PostgreSQL): raise :class:`ChainBusy` at once, instead of waiting,
    when another transaction is appending. (On SQLite the caller's write transaction
    already holds the only write lock.)"""
    if conn.dialect.name == "postgresql":
        if wait:
            conn.execute(_LOCK, {"key": PG_CHAIN_LOCK})
        elif not conn.execute(_TRY_LOCK, {"key": PG_CHAIN_LOCK}).scalar_one():
            raise ChainBusy("audit: another transaction is appending to the chain")
    stored = chained(pending, *take_chain(conn))
    _insert_many(conn, stored)
    return stored


def take_chain(conn: Connection) -> tuple[int, str]:
    """The chain's head ``(seq, hash)`` inside a write transaction (PostgreSQL: the
    caller holds the chain's lock). SQLite: take the audit turn until the transaction ends,
    and move the entries waiting in the overflow into ``audit_log`` first
    (:mod:`osmanthus.ledger.audit_overflow`). A transaction that rewrites entries (an
    erasure) calls it first, so that no entry about its subject is still waiting."""
    raw: Any = conn.connection.driver_connection  # a LedgerConnection (not imported: cycle)
    if conn.dialect.name == "sqlite":
        take = getattr(raw, "take_audit_turn", None)
        if take is None:
            raise LedgerError(
                "audit: this SQLite connection does not take the audit turn (open the "
                "ledger's engine with osmanthus.ledger.database.connect)"
            )
        take()
    last = conn.execute(_HEAD).first()
    head = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    if conn.dialect.name != "sqlite":
        return head
    overflow: Overflow = raw.overflow
    head, moved = overflow.move(head, raw.ledger_hash, lambda w: _insert_many(conn, w))
    if moved is not None:
        raw.moved(moved)  # removed from the overflow once this transaction commits
    return head


def iter_entries(
    conn: Connection, *, batch: int = 10_000, after: int = 0
) -> Iterator[dict[str, Any]]:
    """Every stored entry (after entry ``after``) in ``seq`` order, read in batches
    (constant memory)."""
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


def head_of(conn: Connection) -> ChainHead:
    """The newest entry's sequence number and hash, as ``conn`` sees it (not verified)."""
    last = conn.execute(_HEAD).first()
    if last is None:
        return ChainHead(seq=0, hash=GENESIS_HASH, count=0)
    return ChainHead(seq=last.seq, hash=last.hash, count=last.seq)


def chain_head(engine: Engine) -> ChainHead:
    """The newest entry's sequence number and hash, as stored (not verified)."""
    with database_errors("audit"), read_only(engine) as conn:
        return head_of(conn)


def ledger_identity(conn: Connection) -> str:
    """The hash of the ledger's first audit entry: which chain a checkpoint belongs to
    (once entry 1 is archived, as the first archive's signed checkpoint states it)."""
    first = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == 1)).scalar()
    if first is None:
        document = conn.execute(
            select(audit_archives.c.document).where(audit_archives.c.first_seq == 1)
        ).scalar()
        first = None if document is None else json.loads(document)["body"]["ledger"]
    return str(first or "empty")
