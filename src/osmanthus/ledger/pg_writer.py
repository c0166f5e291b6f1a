"""Appending audit entries on PostgreSQL from the web service's event loop, on a kept
connection, in two round trips a group.

Through SQLAlchemy's pool a group took five: the pool's liveness ping, the chain's
advisory lock, its head, the insert, the commit, each a wait of the event loop for the
server. Here the lock and the head go in one pipeline (two statements: the head is read
by a statement that starts after the lock is held, so it sees the last commit of
whoever held it before), the insert and the commit in another. The lock is only tried:
held by another transaction, the group is handed back (:class:`ChainBusy`) and the writer
thread waits for it instead of the loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from osmanthus.audit import GENESIS_HASH
from osmanthus.ledger.audit_log import (
    PG_CHAIN_LOCK,
    AuditEntry,
    ChainBusy,
    PendingEntry,
    PreparedEntry,
    chained,
    insert_parameters,
    insert_statement,
)
from osmanthus.ledger.database import database_errors

__all__ = ["PgChainWriter"]

_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"
_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"


class PgChainWriter:
    """Commits groups of entries on one kept connection (one caller at a time)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert, self._order = insert_statement(engine.dialect)
        self._kept: PoolProxiedConnection | None = None
        self._lock = threading.Lock()

    def commit(self, pending: Sequence[PendingEntry | PreparedEntry]) -> list[AuditEntry]:
        """Append ``pending`` in one transaction; :class:`ChainBusy` (nothing written)
        when another transaction is appending."""
        with self._lock, database_errors("audit"):
            conn = self._connection()
            try:
                return self._commit(conn, pending)
            except ChainBusy:
                raise
            except BaseException:
                self.close()  # a broken or aborted connection: a new one next time
                raise

    def _commit(
        self, conn: Any, pending: Sequence[PendingEntry | PreparedEntry]
    ) -> list[AuditEntry]:
        with conn.pipeline() as pipeline:
            locked = conn.execute(_TRY_LOCK, (PG_CHAIN_LOCK,))
            head = conn.execute(_HEAD)
            pipeline.sync()
            held = locked.fetchone()[0]
            last = head.fetchone()
        if not held:
            conn.rollback()
            raise ChainBusy("audit: another transaction is appending to the chain")
        stored = chained(pending, *(last if last else (0, GENESIS_HASH)))
        with conn.pipeline(), conn.cursor() as cursor:
            cursor.executemany(self._insert, insert_parameters(stored, self._order))
            conn.commit()
        return stored

    def _connection(self) -> Any:
        if self._kept is None:
            kept = self._engine.raw_connection()
            kept.detach()  # ours until close(); the pool opens another in its place
            self._kept = kept
        return self._kept.dbapi_connection

    def close(self) -> None:
        if self._kept is not None:
            kept, self._kept = self._kept, None
            with contextlib.suppress(self._engine.dialect.loaded_dbapi.Error):
                kept.close()  # a broken one has nothing to release
