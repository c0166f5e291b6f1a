"""The database's upkeep while the web service runs: the audit subject index and, on
SQLite, the write-ahead log.

- Every second, the audit entries written since the last pass are indexed by subject
  (:func:`osmanthus.ledger.audit_subjects.index_subjects`).
- On PostgreSQL, every minute, the rows of the record counts are folded, one a pair
  (:func:`osmanthus.ledger.record_counts.fold_counts`).
- On SQLite, every 0.1 s, the write-ahead log is copied back into the database
  (:meth:`Upkeep.checkpoint`). The audit writers never checkpoint: a checkpoint writes
  back and syncs the database file, a stall of milliseconds on the request path.

One process of the machine keeps the database: the first worker to take
``<database>.upkeep-lock`` keeps it until it stops, and another takes over then (on
PostgreSQL, where there is no file, indexing passes take turns by an advisory lock).
Its writes hold the audit writers' lock (:meth:`Upkeep.holding`) in short transactions.

On SQLite that worker does the work in a process of its own (:func:`main`, started again
if it ends; it stops when the worker's end of its standard input closes, the worker's
death included). On a thread of a busy worker, each of its calls into SQLite gave the
interpreter lock away, and getting it back took up to 5 ms while the audit writers of
both workers waited for the turn it held: the 99th percentile of eligibility checks was
twice that without indexing (measured: docs/benchmarks.md). ``own_process=False`` keeps
it on a thread (tests, PostgreSQL).
(Tried and dropped, measured: running it in the idle supervising process of ``serve
--workers N``, with a transaction per key. Starved of the cores the workers kept busy,
it held the lock longest, and the 99th percentile went from about 25 to 50 ms and more.)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import URL, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from osmanthus.errors import LedgerError
from osmanthus.ledger.audit_subjects import PASS_MOST, busy, index_subjects
from osmanthus.ledger.database import connect, sqlite_file
from osmanthus.ledger.record_counts import fold_counts
from osmanthus.ledger.sqlite_writer import audit_lock_path

__all__ = ["Upkeep"]

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.1
INDEX_SECONDS = 1.0
#: How often the record counts' rows are folded (PostgreSQL: each writing statement adds
#: rows; osmanthus.ledger.record_counts).
FOLD_SECONDS = 60.0
#: How often a worker that keeps the database looks after its upkeep process, and the
#: longest wait before starting one again after it ended early (the wait doubles from
#: WATCH_SECONDS while it keeps ending within a minute).
WATCH_SECONDS = 1.0
RESPAWN_MOST_SECONDS = 60.0
#: Pages in the write-ahead log (4 KiB each) above which a checkpoint holds the audit
#: writers to copy the log wholly, so that it starts again from its beginning.
RESTART_FRAMES = 4096
_PG_INDEX_LOCK = 0x05A4_A0D2  # the PostgreSQL advisory lock of an indexing pass


class Upkeep:
    """Checkpoints and indexing for one database, on a thread of this process or, with
    ``own_process`` on SQLite, in a process this one starts and watches. ``chosen``:
    this process was started to keep the database (it takes no turn)."""

    def __init__(self, engine: Engine, *, own_process: bool = False, chosen: bool = False) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keeping = chosen
        self._file = sqlite_file(engine)
        self._own_process = own_process and self._file is not None
        self._child: subprocess.Popen[bytes] | None = None
        self._upkeep_lock: int | None = None
        self._writers_lock: int | None = None
        self._connection: sqlite3.Connection | None = None
        if self._file is None:
            return
        if not chosen:
            self._upkeep_lock = os.open(f"{self._file}.upkeep-lock", os.O_RDWR | os.O_CREAT, 0o600)
        if not self._own_process:
            # Its own hold on the audit writers' lock file: a lock taken through a
            # descriptor of this process's writer would not keep that writer out.
            self._writers_lock = os.open(audit_lock_path(self._file), os.O_RDWR | os.O_CREAT, 0o600)
            # Autocommit, and no waiting in SQLite's busy handler while holding the turn.
            self._connection = sqlite3.connect(
                self._file, isolation_level=None, check_same_thread=False
            )
            self._connection.execute("PRAGMA busy_timeout=0")

    def start(self) -> None:
        work = self._watch if self._own_process else self.run
        self._thread = threading.Thread(target=work, name="osmanthus-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self._end_child()
        if self._connection is not None:
            self._connection.close()
        for descriptor in (self._upkeep_lock, self._writers_lock):
            if descriptor is not None:
                os.close(descriptor)  # another process may take over the upkeep

    def run(self) -> None:
        """Keep the database until :meth:`stop` (or, in an upkeep process, until its
        standard input closes)."""
        index_at = time.monotonic() + INDEX_SECONDS
        fold_at = time.monotonic() + FOLD_SECONDS
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
            if self._file is None and time.monotonic() >= fold_at:
                self.fold_now()
                fold_at = time.monotonic() + FOLD_SECONDS

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

    # -- the upkeep process -------------------------------------------------------------

    def _watch(self) -> None:
        """Start the upkeep process once this worker keeps the database, and again
        whenever it ends (waiting longer while it keeps ending within a minute)."""
        wait, start_at, started = WATCH_SECONDS, 0.0, 0.0
        while True:
            now = time.monotonic()
            if self._child is not None and self._child.poll() is not None:
                lived = now - started
                wait = WATCH_SECONDS if lived > 60 else min(wait * 2, RESPAWN_MOST_SECONDS)
                log.warning(
                    "upkeep process ended (exit %s after %.0f s); starting another in %.0f s",
                    self._child.returncode,
                    lived,
                    wait,
                )
                if self._child.stdin is not None:
                    self._child.stdin.close()
                self._child, start_at = None, now + wait
            if self._child is None and now >= start_at and self._keeps_database():
                self._child, started = self._start_child(), now
                start_at = now + wait  # when it could not start
            if self._stop.wait(WATCH_SECONDS):
                return

    def _start_child(self) -> subprocess.Popen[bytes] | None:
        try:
            return subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(self._file)],
                stdin=subprocess.PIPE,
                close_fds=True,  # not the upkeep lock: another worker takes over if we die
                # Its own session: a terminal's Ctrl-C or a signal to the worker's group
                # does not reach it; it ends when the worker closes its standard input.
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("upkeep process: cannot start: %s", exc)
            return None

    def _end_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()  # the process finishes its pass and ends
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    # -- the work -----------------------------------------------------------------------

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Keep every worker's audit writer out (SQLite; elsewhere a no-op). The loop's
        writers wait for it in the kernel; they never wait in SQLite's busy handler,
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
        assert self._connection is not None
        _, frames, _ = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > restart_frames:
            with self.holding():
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def index_now(self) -> int:
        """Index the audit entries written since the last pass (unless another process
        is indexing now); return how many were indexed."""
        done = 0
        try:
            with self._indexing_turn() as mine:
                while mine and not self._stop.is_set():
                    taken = index_subjects(
                        self._engine, hold=self.holding, sqlite_connection=self._connection
                    )
                    done += taken
                    if taken < PASS_MOST:
                        break
        except (SQLAlchemyError, LedgerError, OSError, sqlite3.Error) as exc:  # next time
            if isinstance(exc, sqlite3.Error) and busy(exc):  # a long upload holds the lock
                log.info("audit subject index: pass put off: %s", exc)
            else:
                log.warning("audit subject index: pass failed: %s", exc)
        return done

    def fold_now(self) -> int:
        """Fold the record counts written since the last time (PostgreSQL), unless
        another process is indexing or folding now; return how many pairs were folded."""
        try:
            with self._indexing_turn() as mine:
                return fold_counts(self._engine) if mine else 0
        except (SQLAlchemyError, OSError) as exc:  # next time
            log.warning("record counts: fold failed: %s", exc)
            return 0

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


def _until_closed(stream: BinaryIO, stop: threading.Event) -> None:
    """Set ``stop`` once ``stream`` ends (the worker closed it, or died)."""
    with contextlib.suppress(OSError, ValueError):
        while stream.read(4096):
            pass
    stop.set()


_CHILD = "from osmanthus.ledger.upkeep import main; main()"


def main(argv: list[str] | None = None) -> None:
    """The upkeep process (``python -c "from osmanthus.ledger.upkeep import main; main()"
    FILE``): keep the SQLite ledger ``FILE`` until
    standard input closes. Started by the web worker that keeps the database."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        sys.exit("the upkeep process takes one argument: the SQLite ledger's file")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    engine = connect(URL.create("sqlite", database=arguments[0]).render_as_string())
    upkeep = Upkeep(engine, chosen=True)
    # Stopped like a service (SIGTERM: the pass under way ends, then the process).
    signal.signal(signal.SIGTERM, lambda *_: upkeep._stop.set())
    threading.Thread(
        target=_until_closed, args=(sys.stdin.buffer, upkeep._stop), daemon=True
    ).start()
    try:
        upkeep.run()
    finally:
        upkeep.stop()
        engine.dispose()
