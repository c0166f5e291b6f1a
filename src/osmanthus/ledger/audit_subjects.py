"""Finding the audit entries about one resident, without indexing them as they are written.

"Who read my data" (the portal) and the sign-in lock look up audit entries by subject.
An index on ``audit_log.subject`` made every append also write a leaf of that index, at
a random place: on the web service that was the largest cost of an eligibility check
(docs/benchmarks.md). So entries are indexed after they are written, many at a time:

- ``audit_subjects`` holds ``(subject_key, seq)`` for every entry with a subject up to
  ``audit_indexed.upto``; the key is 8 bytes of a hash of the subject, so the index stays
  small, and a lookup checks the subject itself on the entry.
- The entries after ``upto``, those written since the last pass, are found by scanning
  them (a range of ``audit_log``'s primary key).
- An indexing pass takes the entries after ``upto``, sorts their keys and writes them in
  short transactions, each over a range of keys, then moves ``upto``. Measured for the
  entries of one second of checks (7,000): about 4 µs an entry, against 12 µs when each
  commit wrote its entries' leaves.

A lookup (:func:`entries_about`) takes both, in one statement and one snapshot, so it is
always complete whether or not the indexer has run; the indexer
(:func:`index_subjects`) only keeps it fast. The web service runs it about once a
second (:class:`osmanthus.ledger.group_audit.GroupAudit`); a ledger used without the
service has few entries with a subject that are not indexed (one per command).
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    Subquery,
    func,
    select,
    union_all,
    update,
)

from osmanthus.ledger.database import read_only
from osmanthus.ledger.schema import audit_indexed, audit_log, audit_subjects

__all__ = [
    "busy",
    "entries_about",
    "index_subjects",
    "latest_about",
    "subject_key",
    "unindexed_entries",
]

#: Entries taken per indexing pass, and per transaction of a pass (a transaction holds
#: the write lock for a few milliseconds: the service's audit commits wait for it).
PASS_MOST = 20_000
CHUNK = 500


#: How far the index is filled (None before migration 0006 made the row).
_UPTO = select(audit_indexed.c.upto).where(audit_indexed.c.id == 1)
_Keys = list[tuple[int, int]]
_Hold = Callable[[], AbstractContextManager[object]]


def subject_key(subject: str) -> int:
    """The index key of a subject: the first 8 bytes of its BLAKE2b hash, as a signed
    64-bit integer (stored keys depend on it: never change it without a migration)."""
    digest = hashlib.blake2b(subject.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def index_subjects(
    engine: Engine,
    *,
    hold: _Hold = nullcontext,
    most: int = PASS_MOST,
    chunk: int = CHUNK,
    sqlite_connection: sqlite3.Connection | None = None,
) -> int:
    """One indexing pass: index up to ``most`` of the entries written since the last pass
    and return how many were taken (fewer than ``most``: the index has caught up).

    The keys are written sorted, ``chunk`` at a time, each chunk in its own transaction
    under ``hold()`` (the service passes its audit writers' lock), so that no
    transaction keeps the write lock for long; each chunk covers a range of keys, so the
    pass writes each leaf of the index about once. ``upto`` moves last: a lookup ignores
    the keys above it, and a pass cut short is done again (keys already stored are
    skipped).

    On SQLite, ``sqlite_connection`` (in autocommit mode) writes each chunk as one
    statement, its own transaction, built before ``hold()``: the write lock is held for
    one call into SQLite. A writer holding it already (a department's upload) is never
    waited for under ``hold()``, which would keep the audit writers waiting too: the
    statement is tried again after a pause outside it, and after :data:`BUSY_TRIES` the
    pass fails (:class:`sqlite3.OperationalError`; :func:`busy` tells) and the next one
    starts over."""
    with read_only(engine) as conn:
        upto = conn.execute(_UPTO).scalar()
        rows = conn.execute(
            select(audit_log.c.seq, audit_log.c.subject)
            .where(audit_log.c.seq > (upto or 0))
            .order_by(audit_log.c.seq)
            .limit(most)
        ).all()
    if upto is None or not rows:
        return 0
    keys = sorted((subject_key(subject), seq) for seq, subject in rows if subject is not None)
    if sqlite_connection is not None:
        _write_sqlite(sqlite_connection, keys, rows[-1].seq, hold, chunk)
    else:
        _write(engine, keys, rows[-1].seq, hold, chunk)
    return len(rows)


def _write(engine: Engine, keys: _Keys, last: int, hold: _Hold, chunk: int) -> None:
    store = _insert_ignoring(engine.dialect.name)
    for start in range(0, len(keys), chunk):
        rows = [{"subject_key": k, "seq": q} for k, q in keys[start : start + chunk]]
        with hold(), engine.begin() as conn:
            conn.execute(store, rows)
    with hold(), engine.begin() as conn:
        conn.execute(
            update(audit_indexed)
            .where(audit_indexed.c.id == 1, audit_indexed.c.upto < last)
            .values(upto=last)
        )


def _write_sqlite(
    connection: sqlite3.Connection, keys: _Keys, last: int, hold: _Hold, chunk: int
) -> None:
    chunk = min(chunk, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 2)
    for start in range(0, len(keys), chunk):
        pairs = keys[start : start + chunk]
        sql, values = _sqlite_insert(len(pairs)), [v for pair in pairs for v in pair]
        _try(connection, hold, sql, values)
    _try(connection, hold, _SQLITE_MOVE, [last, last])


#: Tries of one statement while another writer holds the write lock, and the pause
#: between them (taken without the audit writers' turn).
BUSY_TRIES = 10
BUSY_PAUSE = 0.02


def _try(connection: sqlite3.Connection, hold: _Hold, sql: str, values: list[int]) -> None:
    for attempt in range(BUSY_TRIES):
        try:
            with hold():
                connection.execute(sql, values)
            return
        except sqlite3.OperationalError as exc:
            if not busy(exc) or attempt == BUSY_TRIES - 1:
                raise
        time.sleep(BUSY_PAUSE)


def busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds the lock (it may be tried again)."""
    return (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


_SQLITE_MOVE = "UPDATE audit_indexed SET upto = ? WHERE id = 1 AND upto < ?"


@functools.lru_cache(maxsize=4)
def _sqlite_insert(rows: int) -> str:
    """One statement inserting ``rows`` keys into ``audit_subjects``, skipping stored ones
    (two parameters a key: at most half the connection's limit, 32,766 since SQLite 3.32
    and 999 before)."""
    return (
        "INSERT INTO audit_subjects (subject_key, seq) VALUES "
        + ", ".join(["(?, ?)"] * rows)
        + " ON CONFLICT DO NOTHING"
    )


def unindexed_entries(engine: Engine) -> int:
    """Audit entries written since the last indexing pass: lookups scan them, so a number
    that keeps growing says the upkeep has stopped (a metric of the web service)."""
    with read_only(engine) as conn:
        head = conn.execute(select(func.max(audit_log.c.seq))).scalar() or 0
        upto = conn.execute(_UPTO).scalar()
    return max(0, int(head) - int(upto or 0))


def _insert_ignoring(dialect: str) -> Insert:
    """An insert into ``audit_subjects`` that skips keys already stored."""
    from sqlalchemy.dialects import postgresql, sqlite  # the upkeep's only

    if dialect == "postgresql":
        return postgresql.insert(audit_subjects).on_conflict_do_nothing()
    return sqlite.insert(audit_subjects).on_conflict_do_nothing()


def entries_about(
    subject: str, *columns: ColumnElement[Any], where: Iterable[ColumnElement[bool]] = ()
) -> Subquery:
    """``columns`` of ``audit_log`` for every entry about ``subject`` (and meeting
    ``where``): the indexed ones by key, the ones written since the last indexing pass
    by a scan of them."""
    about = (audit_log.c.subject == subject, *where)
    since = select(func.coalesce(func.max(audit_indexed.c.upto), 0)).scalar_subquery()
    indexed = (
        select(*columns)
        .select_from(audit_subjects.join(audit_log, audit_log.c.seq == audit_subjects.c.seq))
        .where(
            audit_subjects.c.subject_key == subject_key(subject),
            audit_subjects.c.seq <= since,
            *about,
        )
    )
    recent = select(*columns).where(audit_log.c.seq > since, *about)
    return union_all(indexed, recent).subquery("about")


def latest_about(conn: Connection, subject: str, limit: int) -> list[Row[Any]]:
    """The newest ``limit`` entries about ``subject`` (``seq, at, actor, action,
    purpose``), newest first."""
    about = entries_about(
        subject,
        audit_log.c.seq,
        audit_log.c.at,
        audit_log.c.actor,
        audit_log.c.action,
        audit_log.c.purpose,
    )
    return list(conn.execute(select(about).order_by(about.c.seq.desc()).limit(limit)).all())
