"""Appending audit entries on PostgreSQL from the web service's event loop: one
statement, one round trip a group, on a kept connection.

Through SQLAlchemy's pool a group took five round trips (the pool's liveness ping, the
chain's advisory lock, its head, the insert, the commit), each a wait of the event loop
for the server, and about 700 µs of the client's CPU for a group of 11 entries. Here the
entries, stamped and encoded before (:func:`osmanthus.ledger.audit_log.prepare`), go to
the server function ``osmanthus_append_audit`` (migration 0021) in one statement on a
connection in autocommit mode: it takes the lock, reads the head after it holds the
lock, chains and inserts them, and commits. The lock is waited for at most ``wait`` (the
other worker's group holds it for a fraction of a millisecond; a transaction that
appended holds it until it commits, which may be a batch's end): then the group is
handed back (:class:`ChainBusy`, nothing written) and the writer thread waits for it
instead of the loop.
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
    prepare,
)
from osmanthus.ledger.database import database_errors

__all__ = ["PgChainWriter"]

_APPEND = (
    "SELECT out_seq, out_prev, out_hash FROM osmanthus_append_audit("
    "%s, %s, %s, %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::bytea[], %s::bytea[])"
)


class PgChainWriter:
    """Commits groups of entries on one kept connection (one caller at a time)."""

    def __init__(self, engine: Engine, *, wait: float = 0.005) -> None:
        self._engine = engine
        self._wait_ms = max(1, round(wait * 1000))
        self._kept: PoolProxiedConnection | None = None
        self._lock = threading.Lock()

    def commit(self, pending: Sequence[PendingEntry | PreparedEntry]) -> list[AuditEntry]:
        """Append ``pending`` in one transaction; :class:`ChainBusy` (nothing written)
        when another transaction holds the chain's lock longer than the wait."""
        ready = [e if isinstance(e, PreparedEntry) else prepare(e) for e in pending]
        busy = self._engine.dialect.loaded_dbapi.errors.LockNotAvailable
        with self._lock, database_errors("audit"):
            try:
                with self._connection().cursor() as cursor:
                    cursor.execute(_APPEND, self._parameters(ready))
                    rows = cursor.fetchall()
            except busy:
                raise ChainBusy("audit: another transaction is appending to the chain") from None
            except BaseException:
                self.close()  # a broken connection: a new one next time
                raise
        return [
            AuditEntry(
                seq,
                e.at,
                e.actor,
                e.action,
                e.subject,
                e.purpose,
                e.detail,
                prev,
                digest,
                e.salt,
                e.sealed,
            )
            for e, (seq, prev, digest) in zip(ready, rows, strict=True)
        ]

    def _parameters(self, ready: list[PreparedEntry]) -> tuple[Any, ...]:
        return (
            self._wait_ms,
            PG_CHAIN_LOCK,
            GENESIS_HASH,
            [e.at for e in ready],
            [e.actor for e in ready],
            [e.action for e in ready],
            [e.subject for e in ready],
            [e.purpose for e in ready],
            [e.detail for e in ready],
            [e.salt for e in ready],
            [e.sealed for e in ready],
            [e.before_seq for e in ready],
            [e.after_seq for e in ready],
        )

    def _connection(self) -> Any:
        if self._kept is None:
            kept = self._engine.raw_connection()
            kept.detach()  # ours until close(); the pool opens another in its place
            kept.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            self._kept = kept
        return self._kept.dbapi_connection

    def close(self) -> None:
        if self._kept is not None:
            kept, self._kept = self._kept, None
            with contextlib.suppress(self._engine.dialect.loaded_dbapi.Error):
                kept.close()  # a broken one has nothing to release
