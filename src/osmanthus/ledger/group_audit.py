"""Group commit of audit entries for busy readers (the web service).

Every read of personal data is an audit entry, and the answer must not leave before its
entry is committed. Committing one entry per request makes concurrent requests queue for
the write lock one by one. Here the requests of one process hand their entries to one
writer thread and wait; the writer appends everything waiting in one transaction (the
chain's head read once, the rows inserted in one statement), then wakes them all. An
entry is still committed before its request answers; only the transaction is shared.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from sqlalchemy import Engine

from osmanthus.ledger.audit_log import AuditEntry, PendingEntry, append_entries
from osmanthus.ledger.database import database_errors

__all__ = ["GroupAudit"]

_MOST = 1_000  # entries per transaction


class GroupAudit:
    """A writer thread appending the entries handed to :meth:`append`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: queue.SimpleQueue[tuple[PendingEntry, Future[AuditEntry]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="osmanthus-audit", daemon=True)
        self._thread.start()

    def append(self, entry: PendingEntry, *, timeout: float = 60.0) -> AuditEntry:
        """Append ``entry``; return once it is committed (or raise what the write raised)."""
        return self.submit(entry).result(timeout=timeout)

    def submit(self, entry: PendingEntry) -> Future[AuditEntry]:
        """Hand ``entry`` to the writer; the future is done once it is committed. (An
        async caller awaits it with ``asyncio.wrap_future`` instead of blocking a thread.)"""
        done: Future[AuditEntry] = Future()
        self._waiting.put((entry, done))
        return done

    def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        self._waiting.put(None)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _MOST:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[PendingEntry, Future[AuditEntry]]]) -> None:
        try:
            with database_errors("audit"), self._engine.begin() as conn:
                stored = append_entries(conn, [entry for entry, _ in batch])
        except BaseException as exc:  # every waiter learns the write failed
            for _, done in batch:
                done.set_exception(exc)
            return
        for (_, done), entry in zip(batch, stored, strict=True):
            done.set_result(entry)
