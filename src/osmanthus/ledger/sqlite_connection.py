"""The ledger's SQLite connections: each holds the audit turn from its transaction's first
append until that transaction ends (:mod:`osmanthus.ledger.audit_overflow`).

SQLAlchemy commits and rolls back through the driver connection's ``commit()`` and
``rollback()``; this subclass of :class:`sqlite3.Connection` (given to ``sqlite3.connect``
as its ``factory``) lets the turn go there, after the database has answered, and then
removes from the overflow the entries the commit moved into ``audit_log``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from typing import Any

from osmanthus.errors import LedgerError
from osmanthus.ledger.audit_overflow import Overflow, ledger_hash_of

__all__ = ["LedgerConnection", "audit_lock_path"]


def audit_lock_path(database: str) -> str:
    """The file whose lock the audit writers of one database take turns by (by its real
    path: every process takes the same lock whatever name it was given)."""
    return f"{os.path.realpath(database)}.audit-lock"


#: The ledger connections whose turn each thread holds: a thread that holds the turn
#: through one connection and asks for it through another would wait for itself.
_held = threading.local()


class LedgerConnection(sqlite3.Connection):
    """A pysqlite connection that takes the audit turn when asked and keeps it until its
    transaction ends."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._database = os.fspath(database)
        self._turn: int | None = None  # the lock file's descriptor, once opened
        self._holding = False
        self._moved: int | None = None  # the last overflow entry this transaction moved
        self.overflow = Overflow(self._database)

    def take_audit_turn(self) -> None:
        """Wait for the audit turn and keep it until this transaction ends."""
        if self._holding:
            return
        if getattr(_held, "count", 0):
            raise LedgerError(
                "audit: this thread already appends through another ledger connection whose "
                "transaction is open (one audited write transaction at a time per thread)"
            )
        if self._turn is None:
            self._turn = os.open(audit_lock_path(self._database), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        self._holding = True
        _held.count = getattr(_held, "count", 0) + 1

    def moved(self, through: int) -> None:
        """This transaction moved the overflow's entries up to ``through`` into the ledger."""
        self._moved = through

    def commit(self) -> None:
        try:
            super().commit()
            if self._moved is not None:  # else at the next move (never moved twice)
                with contextlib.suppress(sqlite3.Error):
                    self.overflow.forget(self._moved, self.ledger_hash)
        finally:
            self._end()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end()

    def close(self) -> None:
        try:
            self._end()
            self.overflow.close()
            if self._turn is not None:
                os.close(self._turn)
                self._turn = None
        finally:
            super().close()

    def ledger_hash(self, seq: int) -> str | None:
        """The hash of the ledger's entry ``seq`` as this connection sees it."""
        return ledger_hash_of(self, seq)

    def _end(self) -> None:
        self._moved = None
        if self._holding:
            assert self._turn is not None
            fcntl.flock(self._turn, fcntl.LOCK_UN)
            self._holding = False
            _held.count -= 1
