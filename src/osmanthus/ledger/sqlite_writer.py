"""Appending audit entries on SQLite from the web service's event loop, on a kept
connection, without waiting for writers other than the audit writers of other workers.

Measured for a group of 12 entries: about 800 µs through SQLAlchemy's pool and
transaction events, about 600 µs as plain DBAPI calls on a kept connection. The workers of
one machine take turns through an advisory file lock (``<database>.audit-lock``): a
worker waits for the other's commit (a millisecond) in the kernel, where SQLite's own
busy handler would sleep in steps of 1, 2, 5 ms. The database's write lock itself is only
tried: held by anyone else (a department's upload), the group is committed to the audit
overflow instead (:mod:`osmanthus.ledger.audit_overflow`), so no read waits for a batch.
This connection never checkpoints the write-ahead log (osmanthus.ledger.upkeep does).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Sequence

from sqlalchemy import Engine

from osmanthus.audit import GENESIS_HASH
from osmanthus.ledger.audit_log import (
    AuditEntry,
    ChainBusy,
    PendingEntry,
    PreparedEntry,
    chained,
    head_statement,
    insert_parameters,
    insert_statement,
)
from osmanthus.ledger.audit_overflow import Overflow, ledger_hash_of
from osmanthus.ledger.database import WAL_KEPT_BYTES, database_errors, sqlite_file
from osmanthus.ledger.sqlite_connection import audit_lock_path

__all__ = ["SqliteChainWriter", "audit_lock_path"]


class SqliteChainWriter:
    """Commits groups of entries on one kept connection (one thread at a time)."""

    def __init__(self, engine: Engine) -> None:
        database = sqlite_file(engine)
        assert database is not None
        self._head = head_statement(engine.dialect)
        self._insert, self._order = insert_statement(engine.dialect)
        self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in (
            "busy_timeout=0",
            "synchronous=NORMAL",
            "wal_autocheckpoint=0",
            f"journal_size_limit={WAL_KEPT_BYTES}",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._lock = os.open(audit_lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)
        self._overflow = Overflow(database)

    def commit(
        self, pending: Sequence[PendingEntry | PreparedEntry], *, turn_wait: float | None = None
    ) -> list[AuditEntry]:
        """Append ``pending`` in one transaction, to the ledger, or to the overflow when
        another writer holds the ledger's write lock (:mod:`osmanthus.ledger.audit_overflow`):
        committed either way when this returns. Entries handed over prepared (the service
        prepares them on submission) need only their hashes under the turn.

        ``turn_wait``: wait at most this long (seconds) for the audit turn, then raise
        :class:`ChainBusy` (the event loop: a transaction that appended keeps the turn
        until it commits, which may be a batch's end); None: wait as long as it takes."""
        self._take_turn(turn_wait)
        with database_errors("audit"):
            try:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    return self._to_overflow(pending)
                try:  # the entries that waited go first, as numbered
                    head, moved = self._overflow.move(
                        self._ledger_head(), self._ledger_hash, self._insert_rows
                    )
                    stored = chained(pending, *head)
                    self._insert_rows(stored)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                if moved is not None:
                    with contextlib.suppress(sqlite3.Error):  # else at the next move
                        self._overflow.forget(moved, self._ledger_hash)
                return stored
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _to_overflow(self, pending: Sequence[PendingEntry | PreparedEntry]) -> list[AuditEntry]:
        """Chain ``pending`` on after the overflow's last entry (or the ledger's) and commit
        them to the overflow (the caller holds the turn)."""
        head = self._overflow.head(self._ledger_head(), self._ledger_hash)
        stored = chained(pending, *head)
        self._overflow.add(stored)
        return stored

    def _take_turn(self, wait: float | None) -> None:
        if wait is None:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + wait
        while True:  # another worker's group holds it for a fraction of a millisecond
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ChainBusy("audit: the turn is held by a writing transaction") from None
                time.sleep(0.0002)

    def _ledger_head(self) -> tuple[int, str]:
        """The ledger's last committed entry ``(seq, hash)``."""
        found = self._db.execute(self._head).fetchone()
        return (found[0], found[1]) if found else (0, GENESIS_HASH)

    def _ledger_hash(self, seq: int) -> str | None:
        return ledger_hash_of(self._db, seq)

    def _insert_rows(self, entries: list[AuditEntry]) -> None:
        self._db.executemany(self._insert, insert_parameters(entries, self._order))

    def close(self) -> None:
        self._overflow.close()
        self._db.close()
        os.close(self._lock)
