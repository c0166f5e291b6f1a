"""The database's upkeep while the web service runs: the audit subject index and, on
SQLite, the write-ahead log.

- Every second, the audit entries written since the last pass are indexed by subject
  (:func:`osmanthus.ledger.audit_subjects.index_subjects`).
- On SQLite, every 0.1 s, the write-ahead log is copied back into the database
  (:meth:`Upkeep.checkpoint`). The audit writers never checkpoint: a checkpoint writes
  back and syncs the database file, a stall of milliseconds on the request path.

One process of the machine does it, on a thread: the first to take
``<database>.upkeep-lock`` keeps it until it stops, and another takes over then (on
PostgreSQL, where there is no file, indexing passes take turns by an advisory lock).
Its writes hold the audit writers' lock (:meth:`Upkeep.holding`) in short transactions.
(Tried and dropped, measured: running it in the idle supervising process of ``serve
--workers N``. Starved of the cores the workers kept busy, it held the lock longest,
and the 99th percentile of the checks went from about 25 to 50 ms and more.)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from osmanthus.errors import LedgerError
from osmanthus.ledger.audit_subjects import PASS_MOST, index_subjects
from osmanthus.ledger.database import sqlite_file
from osmanthus.ledger.sqlite_writer import audit_lock_path

__all__ = ["Upkeep"]

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.1
INDEX_SECONDS = 1.0
#: Pages in the write-ahead log (4 KiB each) above which a checkpoint holds the audit
#: writers to copy the log wholly, so that it starts again from its beginning.
RESTART_FRAMES = 4096
_PG_INDEX_LOCK = 0x05A4_A0D2  # the PostgreSQL advisory lock of an indexing pass


class Upkeep:
    """Checkpoints and indexing for one database, on a thread of this process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keeping = False
        self._file = sqlite_file(engine)
        self._upkeep_lock: int | None = None
        self._writers_lock: int | None = None
        self._checkpointing: sqlite3.Connection | None = None
        if self._file is not None:
            self._upkeep_lock = os.open(f"{self._file}.upkeep-lock", os.O_RDWR | os.O_CREAT, 0o600)
            # Its own hold on the audit writers' lock file: a lock taken through a
            # descriptor of this process's writer would not keep that writer out.
            self._writers_lock = os.open(audit_lock_path(self._file), os.O_RDWR | os.O_CREAT, 0o600)
            self._checkpointing = sqlite3.connect(
                self._file, isolation_level=None, check_same_thread=False
            )
            self._checkpointing.execute("PRAGMA busy_timeout=1000")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="osmanthus-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self._checkpointing is not None:
            self._checkpointing.close()
        for descriptor in (self._upkeep_lock, self._writers_lock):
            if descriptor is not None:
                os.close(descriptor)  # another process may take over the upkeep

    def _run(self) -> None:
        index_at = time.monotonic() + INDEX_SECONDS
        step = CHECKPOINT_SECONDS if self._file is not None else INDEX_SECONDS
        while not self._stop.wait(step):
            if not self._keeps_database():
                continue
            if self._file is not None:
                with contextlib.suppress(sqlite3.Error):  # a busy database: next time
                    self.checkpoint()
            if time.monotonic() >= index_at:
                self.index_now()
                index_at = time.monotonic() + INDEX_SECONDS

    def _keeps_database(self) -> bool:
        """Whether this process keeps the database file (SQLite: one at a time)."""
        if self._upkeep_lock is None or self._keeping:
            return True
        try:
            fcntl.flock(self._upkeep_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._keeping = True
        return True

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Keep every worker's audit writer out (SQLite; elsewhere a no-op). The loop's
        writers try again a moment later; they never wait in SQLite's busy handler,
        which sleeps in steps up to 100 ms."""
        if self._writers_lock is None:
            yield
            return
        fcntl.flock(self._writers_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._writers_lock, fcntl.LOCK_UN)

    def checkpoint(self, *, restart_frames: int = RESTART_FRAMES) -> None:
        """Copy the write-ahead log back into the database. A passive pass copies most of
        it alongside the writers. Under steady load such passes may never catch up
        wholly, so the log never starts again from its beginning and grows (by 40 MB a
        second, measured): once it holds more than ``restart_frames`` pages, a second
        pass, with the audit writers held, copies the last frames, and the next commit
        starts the log afresh."""
        assert self._checkpointing is not None
        _, frames, _ = self._checkpointing.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > restart_frames:
            with self.holding():
                self._checkpointing.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def index_now(self) -> int:
        """Index the audit entries written since the last pass (unless another process
        is indexing now); return how many were indexed."""
        done = 0
        try:
            with self._indexing_turn() as mine:
                while mine and not self._stop.is_set():
                    taken = index_subjects(self._engine, hold=self.holding)
                    done += taken
                    if taken < PASS_MOST:
                        break
        except (SQLAlchemyError, LedgerError, OSError) as exc:  # next time
            log.warning("audit subject index: pass failed: %s", exc)
        return done

    @contextlib.contextmanager
    def _indexing_turn(self) -> Iterator[bool]:
        """Whether this process indexes now (PostgreSQL: an advisory lock for the pass)."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        with self._engine.connect() as conn:
            mine = bool(conn.execute(select(func.pg_try_advisory_lock(_PG_INDEX_LOCK))).scalar())
            conn.commit()
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(select(func.pg_advisory_unlock(_PG_INDEX_LOCK)))
                    conn.commit()
