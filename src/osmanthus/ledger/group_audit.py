"""Group commit of audit entries for busy readers (the web service).

Every read of personal data is an audit entry, and the answer must not leave before its
entry is committed. Committing one entry per request makes concurrent requests queue for
the write lock one by one; so entries are committed in groups, and an entry is still
committed before its request answers (only the transaction is shared):

- On an event loop (the service's hot paths), entries handed over while the loop runs
  its ready tasks are committed in one transaction by a callback on the same loop, right
  after them. No thread is involved: a writer thread fought the loop for the GIL and
  committed groups of one or two (measured: 2,500 against 7,000 checks/s in-process).
  The loop waits for the other worker's commit (they take turns by a file lock, held
  for a fraction of a millisecond; at most :data:`LOOP_TURN_WAIT`, since a transaction
  that appended keeps the turn until it commits, and then the group goes to the writer
  thread) but never for the database's lock: on SQLite, if another writer holds it (a
  department's upload), the group is committed to the audit overflow
  (:mod:`osmanthus.ledger.audit_overflow`); on PostgreSQL the loop waits as long for the
  chain's advisory lock (on a kept connection, :mod:`osmanthus.ledger.pg_writer`), and
  then the group goes to the writer thread, which waits. (Trying the file lock
  and coming back later on the loop instead let groups wait for their turn again and
  again: the 99th percentile doubled, measured.)
- From threads, entries go to that writer thread, which appends everything waiting in
  one transaction (on SQLite through a kept connection of its own, with the overflow
  when the database's lock is taken) and wakes the waiters.

The loop's commits neither checkpoint SQLite's write-ahead log nor index the entries by
subject: :mod:`osmanthus.ledger.upkeep` does both, in one process of the machine.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future

from sqlalchemy import Engine

from osmanthus.ledger.audit_log import (
    AuditEntry,
    ChainBusy,
    PendingEntry,
    PreparedEntry,
    append_entries,
    prepare,
)
from osmanthus.ledger.database import database_errors, sqlite_file
from osmanthus.ledger.pg_writer import PgChainWriter
from osmanthus.ledger.sqlite_writer import SqliteChainWriter

__all__ = ["GroupAudit"]

_MOST = 1_000  # entries per transaction of the writer thread
#: How long the event loop waits for the audit turn (the other worker's group holds it
#: for a fraction of a millisecond; a transaction that appended holds it until it
#: commits, and then the group goes to the writer thread instead of stalling the loop).
LOOP_TURN_WAIT = 0.005

_Waiter = Future[AuditEntry] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[AuditEntry]"]
_OnLoop = tuple[PreparedEntry, "asyncio.Future[AuditEntry]"]


class GroupAudit:
    """Group commits for the entries handed to :meth:`submit_async` (on an event loop)
    and to :meth:`append` / :meth:`submit` (from threads)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: queue.SimpleQueue[tuple[PendingEntry | PreparedEntry, _Waiter] | None] = (
            queue.SimpleQueue()
        )
        self._on_loops: dict[asyncio.AbstractEventLoop, list[_OnLoop]] = defaultdict(list)
        self._sqlite_writer = SqliteChainWriter(engine) if sqlite_file(engine) else None
        postgres = engine.dialect.name == "postgresql"
        # the loops' own, waiting for the chain's lock as the SQLite turn is waited for
        self._pg_writer = PgChainWriter(engine, wait=LOOP_TURN_WAIT) if postgres else None
        # the writer thread's own (a kept connection is used by one thread at a time)
        self._thread_writer = SqliteChainWriter(engine) if sqlite_file(engine) else None
        self._thread = threading.Thread(target=self._run, name="osmanthus-audit", daemon=True)
        self._thread.start()

    # -- on an event loop ---------------------------------------------------------------

    def submit_async(self, entry: PendingEntry) -> asyncio.Future[AuditEntry]:
        """Hand ``entry`` over from a coroutine; await the future (done once committed).
        The entry is stamped and encoded now; only its hash waits for the commit."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[AuditEntry] = loop.create_future()
        waiting = self._on_loops[loop]
        if not waiting:
            loop.call_soon(self._flush, loop)
        waiting.append((prepare(entry), done))
        return done

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._on_loops.pop(loop, [])
        if not batch:
            return
        try:
            stored = self._commit_now([entry for entry, _ in batch])
        except ChainBusy:  # someone else is writing: let the thread wait for the lock
            for entry, done in batch:
                self._waiting.put((entry, (loop, done)))
            return
        except Exception as exc:
            _settle([(done, None, exc) for _, done in batch])
            return
        _settle([(done, entry, None) for (_, done), entry in zip(batch, stored, strict=True)])

    def _commit_now(self, entries: list[PreparedEntry]) -> list[AuditEntry]:
        """Commit on this thread if the chain's lock is free now, else raise ChainBusy."""
        if self._sqlite_writer is not None:
            return self._sqlite_writer.commit(entries, turn_wait=LOOP_TURN_WAIT)
        if self._pg_writer is not None:
            return self._pg_writer.commit(entries)
        with database_errors("audit"), self._engine.begin() as conn:
            return append_entries(conn, entries, wait=False)

    # -- from threads -------------------------------------------------------------------

    def append(self, entry: PendingEntry, *, timeout: float = 60.0) -> AuditEntry:
        """Append ``entry``; return once it is committed (or raise what the write raised)."""
        return self.submit(entry).result(timeout=timeout)

    def submit(self, entry: PendingEntry) -> Future[AuditEntry]:
        """Hand ``entry`` to the writer thread; the future is done once it is committed."""
        done: Future[AuditEntry] = Future()
        self._waiting.put((entry, done))
        return done

    def close(self) -> None:
        """Write what is waiting, then stop the threads."""
        self._waiting.put(None)
        self._thread.join(timeout=60)
        for writer in (self._sqlite_writer, self._thread_writer, self._pg_writer):
            if writer is not None:
                writer.close()

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

    def _write(self, batch: list[tuple[PendingEntry | PreparedEntry, _Waiter]]) -> None:
        stored: list[AuditEntry | None]
        failure: BaseException | None = None
        try:
            entries = [entry for entry, _ in batch]
            if self._thread_writer is not None:
                stored = list(self._thread_writer.commit(entries))
            else:
                with database_errors("audit"), self._engine.begin() as conn:
                    stored = list(append_entries(conn, entries))
        except BaseException as exc:  # every waiter learns the write failed
            stored, failure = [None] * len(batch), exc
        on_loops: dict[asyncio.AbstractEventLoop, list[_Outcome]] = defaultdict(list)
        for (_, waiter), entry in zip(batch, stored, strict=True):
            if isinstance(waiter, Future):
                if failure is None:
                    waiter.set_result(entry)  # type: ignore[arg-type]
                else:
                    waiter.set_exception(failure)
            else:
                on_loops[waiter[0]].append((waiter[1], entry, failure))
        for loop, outcomes in on_loops.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # the loop has closed: nobody waits any more
                continue


_Outcome = tuple["asyncio.Future[AuditEntry]", AuditEntry | None, BaseException | None]


def _settle(outcomes: list[_Outcome]) -> None:
    for done, entry, failure in outcomes:
        if done.cancelled():
            continue
        if failure is None:
            done.set_result(entry)  # type: ignore[arg-type]
        else:
            done.set_exception(failure)
