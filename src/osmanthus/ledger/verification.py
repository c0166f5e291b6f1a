"""Verifying the ledger: the audit chain, and every sealed row against the chain.

One read-only snapshot (PostgreSQL: ``REPEATABLE READ``; SQLite: one read transaction)
sees the chain and the rows as of one moment, so rows being written meanwhile are not
mistaken for rows without an entry. Verification never writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from osmanthus.audit import GENESIS_HASH, ChainHead, parse_claims, verify_entries
from osmanthus.errors import AuditChainBroken
from osmanthus.ledger.audit_log import iter_entries, ledger_identity
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.erasure import erasure_facts
from osmanthus.ledger.row_check import ClaimOf, check_rows
from osmanthus.ledger.schema import audit_log
from osmanthus.ledger.sealed import SEALED

__all__ = [
    "LedgerCheck",
    "ledger_identity",
    "row_floors",
    "snapshot",
    "verify_chain",
    "verify_ledger",
]


@dataclass(frozen=True)
class LedgerCheck:
    """What a verification checked: the chain's head, and rows per sealed table."""

    head: ChainHead
    rows: dict[str, int]
    since: int | None = None


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection that sees one moment of the ledger throughout."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, database_errors():
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn
        return
    with read_only(engine) as conn:
        yield conn


def verify_ledger(
    engine: Engine,
    *,
    expected_head: str | None = None,
    anchor: tuple[int, str] | None = None,
    since: tuple[int, str, Mapping[str, int]] | None = None,
    rows: bool = True,
) -> LedgerCheck:
    """Recompute the audit chain and check every sealed row against it; raise
    :class:`osmanthus.errors.AuditChainBroken` (or its :class:`RowsTampered`) at the first
    fault.

    ``since``: ``(seq, hash, floors)`` of a checkpoint already verified: only the entries
    after it, and the rows they wrote (or above the checkpoint's highest keys), are
    checked. ``anchor`` and ``expected_head``: see :func:`osmanthus.audit.verify_entries`.
    """
    claims: list[ClaimOf] = []
    redacted: list[int] = []

    def harvest(entries: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for entry in entries:
            for claim in parse_claims(entry["detail"], entry.get("sealed")):
                claims.append(ClaimOf(int(entry["seq"]), entry["action"], claim))
            if entry.get("subject_digest") is not None:
                redacted.append(int(entry["seq"]))
            yield entry

    start = (0, GENESIS_HASH) if since is None else (since[0], since[1])
    with snapshot(engine) as conn:
        if since is not None:
            stored = conn.execute(
                select(audit_log.c.hash).where(audit_log.c.seq == since[0])
            ).scalar()
            if stored != since[1]:
                raise AuditChainBroken(
                    f"audit entry {since[0]}: its stored hash is not the checkpoint's (the "
                    "chain was rewritten up to the checkpoint)",
                    seq=since[0],
                )
        head = verify_entries(
            harvest(iter_entries(conn, after=start[0])),
            expected_head=expected_head,
            start=start,
            anchor=anchor,
        )
        erasures = erasure_facts(conn, head.seq)
        for seq in redacted:  # a redacted entry must be named by a later erasure
            if erasures.redacted.get(seq, 0) <= seq:
                raise AuditChainBroken(
                    f"audit entry {seq}: redacted, but no erasure names it (its subject and "
                    "detail were removed outside the erasure path)",
                    seq=seq,
                )
        checked = (
            check_rows(
                conn,
                claims,
                floors=None if since is None else dict(since[2]),
                erasures=erasures,
                since=start[0],
            )
            if rows
            else {}
        )
    return LedgerCheck(head, checked, None if since is None else since[0])


def row_floors(conn: Connection) -> dict[str, int]:
    """The highest key of each sealed table (a checkpoint's floors)."""
    return {
        name: int(conn.execute(select(func.coalesce(func.max(s.key), 0))).scalar_one())
        for name, s in SEALED.items()
    }


def verify_chain(engine: Engine, *, expected_head: str | None = None) -> ChainHead:
    """:func:`verify_ledger` (the chain and every sealed row), returning the chain's head."""
    return verify_ledger(engine, expected_head=expected_head).head
