"""Verifying the ledger: the audit chain, and every sealed row against the chain.

One read-only snapshot (PostgreSQL: ``REPEATABLE READ``; SQLite: one read transaction)
sees the chain and the rows as of one moment, so rows being written meanwhile are not
mistaken for rows without an entry. Verification never writes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from osmanthus.audit import GENESIS_HASH, ChainHead, parse_claims, verify_entries
from osmanthus.errors import AuditChainBroken
from osmanthus.ledger.archive import (
    ARCHIVE_ACTION,
    Archived,
    archived_months,
    carried,
)
from osmanthus.ledger.audit_log import chain_head, iter_entries, ledger_identity
from osmanthus.ledger.audit_overflow import Overflow
from osmanthus.ledger.database import database_errors, read_only, sqlite_file
from osmanthus.ledger.erasure_reads import ERASURE_ACTIONS
from osmanthus.ledger.reclaims import erasure_facts
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
    """What a verification checked: the chain's head, and rows per sealed table;
    ``archives``: the archived months (read from their files when ``archive_read``)."""

    head: ChainHead
    rows: dict[str, int]
    since: int | None = None
    archives: list[Archived] = field(default_factory=list)
    archive_read: bool = False
    waiting: int = 0
    """Entries verified in the audit overflow after ``head`` (SQLite, while a write lock
    was taken: :mod:`osmanthus.ledger.audit_overflow`)."""


#: Reads an archived month's entries from its file (``osmanthus.reports.archive``).
ArchiveReader = Callable[[Archived], Iterable[dict[str, Any]]]


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
    archive: ArchiveReader | None = None,
) -> LedgerCheck:
    """Recompute the audit chain and check every sealed row against it; raise
    :class:`osmanthus.errors.AuditChainBroken` (or its :class:`RowsTampered`) at the first
    fault.

    ``since``: ``(seq, hash, floors)`` of a checkpoint already verified: only the entries
    after it, and the rows they wrote (or above the checkpoint's highest keys), are
    checked. ``anchor`` and ``expected_head``: see :func:`osmanthus.audit.verify_entries`.

    Archived months (:mod:`osmanthus.ledger.archive`): with ``archive`` (which reads a
    month's entries from its file) the chain is recomputed from entry 1 through the
    files; without it, from the newest archive's last entry, with the row claims the
    ``audit.archive`` entries carry, so every row is checked either way. The archives'
    signed checkpoints are the caller's to check (:mod:`osmanthus.reports.archive`):
    they are returned in ``archives``.
    """
    claims: list[ClaimOf] = []
    redacted: list[int] = []
    erased: list[tuple[int, str, dict[str, Any]]] = []

    pending: dict[int, int] = {}  # archived entries erasures redacted: seq -> erasure

    def harvest(entries: Iterable[dict[str, Any]], upto: int) -> Iterator[dict[str, Any]]:
        for entry in entries:
            seq = int(entry["seq"])
            if seq <= upto and entry.get("salt") is not None and seq in pending:
                raise AuditChainBroken(
                    f"audit entry {seq} (archived): erasure entry {pending[seq]} redacted it, "
                    "but the archive's file still holds its subject and detail: run "
                    "'osmanthus audit archive' to finish the erasure",
                    seq=seq,
                )
            for claim in parse_claims(entry["detail"], entry.get("sealed")):
                claims.append(ClaimOf(int(entry["seq"]), entry["action"], claim))
            if entry["action"] == ARCHIVE_ACTION:
                _archive_entry_recorded(seq, json.loads(entry["detail"]), archives)
            if entry.get("subject_digest") is not None:
                redacted.append(int(entry["seq"]))
            if int(entry["seq"]) <= upto and entry["action"] in ERASURE_ACTIONS:
                erased.append((seq, entry["action"], json.loads(entry["detail"])))
            yield entry

    with snapshot(engine) as conn:
        archives = archived_months(conn)
        boundary = archives[-1].last if archives else 0
        floors = None if since is None else dict(since[2])
        start = (0, GENESIS_HASH) if since is None else (since[0], since[1])
        if since is not None and since[0] < boundary:
            raise AuditChainBroken(
                f"audit entry {since[0]}: archived (through {archives[-1].month}); verify "
                "from the archive instead",
                seq=since[0],
            )
        if archive is None and anchor is not None and anchor[0] <= boundary:
            raise AuditChainBroken(
                f"audit entry {anchor[0]}: archived (through {archives[-1].month}); give "
                "the archive's folder to verify it",
                seq=anchor[0],
            )
        if since is not None:
            stored = (
                archives[-1].hash
                if archives and since[0] == boundary  # the entry itself is archived
                else conn.execute(
                    select(audit_log.c.hash).where(audit_log.c.seq == since[0])
                ).scalar()
            )
            if stored != since[1]:
                raise AuditChainBroken(
                    f"audit entry {since[0]}: its stored hash is not the checkpoint's (the "
                    "chain was rewritten up to the checkpoint)",
                    seq=since[0],
                )
        live = iter_entries(conn, after=max(start[0], boundary))
        if archives and archive is None:  # the archived entries' claims and erasures,
            # carried by the live archive entries: first, in entry order (the newest claim
            # of a current-state row is the last one)
            archived = carried(conn, start[0])
            claims.extend(ClaimOf(*found) for found in archived.claims)
            erased.extend(archived.erasures)
        if since is None and archives and archive is not None:
            known = erasure_facts(conn, archived=carried(conn).erasures)
            pending.update((k, v) for k, v in known.redacted.items() if k <= boundary)
            entries: Iterable[dict[str, Any]] = itertools.chain(
                *(archive(month) for month in archives), live
            )
        elif since is None and archives:
            start = (boundary, archives[-1].hash)
            entries = live
        else:
            entries = live
        head = verify_entries(
            harvest(entries, boundary),
            expected_head=expected_head,
            start=start,
            anchor=anchor,
        )
        erasures = erasure_facts(conn, head.seq, archived=erased)
        for seq in redacted:  # a redacted entry must be named by a later erasure
            if erasures.redacted.get(seq, 0) <= seq:
                raise AuditChainBroken(
                    f"audit entry {seq}: redacted, but no erasure names it (its subject and "
                    "detail were removed outside the erasure path)",
                    seq=seq,
                )
        checked = (
            check_rows(conn, claims, floors=floors, erasures=erasures, since=start[0])
            if rows
            else {}
        )
    return LedgerCheck(
        head,
        checked,
        None if since is None and not (archives and archive is None) else start[0],
        archives,
        archive is not None,
        _verify_overflow(engine, head),
    )


def _verify_overflow(engine: Engine, head: ChainHead) -> int:
    """Recompute the chain over the overflow's entries after ``head`` (the newest part of
    the chain, on SQLite); return how many there are. Entries at or below ``head`` must be
    the ledger's own (copies a killed mover left). Entries moved into the ledger since
    the snapshot are skipped: they are in the ledger, checked at the next verification."""
    database = sqlite_file(engine)
    if database is None:
        return 0
    overflow = Overflow(database)
    try:
        stored = overflow.entries_after(0)
    finally:
        overflow.close()
    for left in (e for e in stored if int(e["seq"]) <= head.seq):
        if _hash_of(engine, int(left["seq"])) != left["hash"]:
            raise AuditChainBroken(
                f"audit entry {left['seq']}: the audit overflow holds an entry of this "
                "number that is not the ledger's (numbered twice)",
                seq=int(left["seq"]),
            )
    found = [e for e in stored if int(e["seq"]) > head.seq]
    if found and int(found[0]["seq"]) != head.seq + 1:  # moved in since the snapshot?
        moved = chain_head(engine).seq
        found = [e for e in found if int(e["seq"]) > moved]
    if not found:
        return 0
    seq = int(found[0]["seq"]) - 1
    known = head.hash if seq == head.seq else _hash_of(engine, seq)
    if known is None:
        raise AuditChainBroken(
            f"audit entry {seq + 1} (waiting in the overflow): the ledger has no entry {seq} "
            "for it to follow",
            seq=seq + 1,
        )
    verify_entries(found, start=(seq, known))
    return len(found)


def _hash_of(engine: Engine, seq: int) -> str | None:
    with snapshot(engine) as conn:
        found = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq)).scalar()
    return None if found is None else str(found)


def _archive_entry_recorded(seq: int, detail: dict[str, Any], archives: list[Archived]) -> None:
    """An ``audit.archive`` entry must be of an archive the ledger records (one made by
    hand, to carry claims of rows no entry wrote, is refused)."""
    stated = (detail.get("month"), detail.get("first"), detail.get("last"), detail.get("hash"))
    if not any(stated == (a.month, a.first, a.last, a.hash) for a in archives):
        raise AuditChainBroken(
            f"audit entry {seq}: archives {detail.get('month')} entries "
            f"{detail.get('first')}–{detail.get('last')}, which no archive of the ledger "
            "records",
            seq=seq,
        )


def row_floors(conn: Connection) -> dict[str, int]:
    """The highest key of each sealed table (a checkpoint's floors)."""
    return {
        name: int(conn.execute(select(func.coalesce(func.max(s.key), 0))).scalar_one())
        for name, s in SEALED.items()
    }


def verify_chain(engine: Engine, *, expected_head: str | None = None) -> ChainHead:
    """:func:`verify_ledger` (the chain and every sealed row), returning the chain's head."""
    return verify_ledger(engine, expected_head=expected_head).head
