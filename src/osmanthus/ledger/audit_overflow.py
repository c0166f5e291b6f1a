"""The audit chain's overflow on SQLite: where a read's entry goes while another process
holds the database's one write lock, so that the read answers without waiting for it.

SQLite has one write lock per database. A department's batch holds it for its whole
transaction (all or nothing: seconds for 500,000 rows), and every read of personal data
must have its audit entry committed before the answer leaves. Without this, a provider's
eligibility check waited for the batch's commit (4.45 s measured while a 500,000-row
batch landed, docs/benchmarks.md).

The overflow is a second SQLite file beside the ledger (``<ledger>.audit-overflow``) that
holds the chain's newest entries while the ledger's write lock is taken: entries chained
on as any others (the next numbers, each hash over the one before), committed to the
overflow's own log before the answer leaves. The chain is the ledger's ``audit_log``
followed by the overflow's entries numbered after its head.

Taking turns: every append to the chain, to the ledger or to the overflow, is made under
the audit turn (an advisory lock on ``<ledger>.audit-lock``, shared by the processes of
the machine, :mod:`osmanthus.ledger.sqlite_writer`):

- a transaction that holds the ledger's write lock and appends (a batch's outcome, a
  correction, any audited write) takes the turn at its first append, moves the overflow's
  entries into ``audit_log`` ahead of its own, and keeps the turn until it commits or
  rolls back (:class:`osmanthus.ledger.sqlite_connection.LedgerConnection`); the moved
  entries are removed from the overflow once that commit is done;
- the service's group commit (:class:`osmanthus.ledger.sqlite_writer.SqliteChainWriter`)
  takes the turn, and tries the ledger's write lock: free, it moves the overflow's entries
  in first and appends there; taken, it appends to the overflow.

So a read waits at most for a transaction's appends and commit, never for a batch's
whole transaction. Entries wait in the overflow only while the write lock is held; until
they are moved, the resident's "who read my data" page and the indexes built from
``audit_log`` do not show them. ``audit verify`` checks them as the chain's tail.

A process killed after the ledger's commit but before the overflow's entries were
removed leaves copies of entries already in ``audit_log``: entries numbered at or below
the ledger's head are never moved again, and are removed at the next move once their
hashes are found equal to the ledger's. An entry at or below the head that is not the
ledger's (a writer that numbered entries without seeing the overflow) stops every append
with one line naming the file, and ``audit verify`` names it: nothing is dropped unseen.

What the overflow does not have: the ledger's database triggers. For the moments they
wait there, the newest entries are as safe as the file they are in; deleting the last
of them leaves no gap to detect (as deleting the newest entries of any chain before
its next published checkpoint would not).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from osmanthus.errors import LedgerError
from osmanthus.ledger.audit_log import AuditEntry

__all__ = ["LedgerHash", "Overflow", "ledger_hash_of", "overflow_path"]

_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "purpose",
    "detail",
    "prev_hash",
    "hash",
    "salt",
    "sealed",
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS audit_overflow (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    "actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT, purpose TEXT NOT NULL, "
    "detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, salt TEXT, "
    "sealed TEXT)"
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM audit_overflow WHERE seq > ? ORDER BY seq"
_LEFT = "SELECT seq, hash FROM audit_overflow WHERE seq <= ? ORDER BY seq"
_INSERT = (
    f"INSERT INTO audit_overflow ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


#: The hash of the ledger's entry ``seq`` (None when it has none).
LedgerHash = Callable[[int], "str | None"]


def ledger_hash_of(db: sqlite3.Connection, seq: int) -> str | None:
    """The hash of the ledger's entry ``seq`` as the driver connection ``db`` sees it."""
    found = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    return None if found is None else str(found[0])


def overflow_path(database: str) -> str:
    """The overflow file of the SQLite ledger ``database`` (by its real path: every
    process finds the same file whatever name it was given)."""
    return f"{os.path.realpath(database)}.audit-overflow"


class Overflow:
    """The overflow of one ledger, on a connection of its own (one thread at a time; the
    caller holds the audit turn for :meth:`add` and :meth:`waiting`)."""

    def __init__(self, database: str) -> None:
        self.path = overflow_path(database)
        self._db: sqlite3.Connection | None = None
        self.left: int | None = None
        """After :meth:`waiting`: the ledger's head, when copies of entries already moved
        were found at or below it (a mover killed before its cleanup): to :meth:`forget`."""

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not create and not os.path.exists(self.path):
                return None
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=60000"):
                db.execute(f"PRAGMA {pragma}")
            db.execute(_CREATE)
            self._db = db
        return self._db

    def waiting(self, head: tuple[int, str], ledger_hash: LedgerHash) -> list[AuditEntry]:
        """The entries after the ledger's head ``(seq, hash)``, in order; they must
        continue the chain from it (a clear error naming the file if not). Entries at or
        below the head must be the ledger's own (copies a killed mover left: their
        hashes equal the ledger's, looked up by ``ledger_hash``), else an error: an entry
        was numbered without seeing the overflow."""
        self.left = None
        db = self._open(create=False)
        if db is None:
            return []
        for seq, digest in db.execute(_LEFT, (head[0],)):
            if ledger_hash(int(seq)) != digest:
                raise LedgerError(
                    f"audit overflow {self.path}: entry {seq} is not the ledger's entry "
                    f"{seq} (the ledger was written without seeing the overflow, or replaced "
                    "while entries waited here): keep the file for the audit and move it "
                    "aside"
                )
            self.left = head[0]
        found = [AuditEntry(*row) for row in db.execute(_SELECT, (head[0],))]
        if found and (found[0].seq != head[0] + 1 or found[0].prev_hash != head[1]):
            raise LedgerError(
                f"audit overflow {self.path}: entry {found[0].seq} does not follow the "
                f"ledger's last audit entry {head[0]}; the ledger was replaced (a backup "
                "restored?) while entries waited here: keep the file for the audit and "
                "move it aside"
            )
        return found

    def move(
        self,
        head: tuple[int, str],
        ledger_hash: LedgerHash,
        insert: Callable[[list[AuditEntry]], None],
    ) -> tuple[tuple[int, str], int | None]:
        """Inside the ledger's write transaction, holding the turn: ``insert`` the waiting
        entries into ``audit_log``; return the chain's head after them, and the number up
        to which the overflow is to :meth:`forget` once the transaction commits (None:
        nothing to remove)."""
        waiting = self.waiting(head, ledger_hash)
        if waiting:
            insert(waiting)
            head = (waiting[-1].seq, waiting[-1].hash)
        return head, (head[0] if waiting or self.left is not None else None)

    def entries_after(self, seq: int) -> list[dict[str, Any]]:
        """The stored entries numbered after ``seq`` as rows (for verification: not
        checked here)."""
        db = self._open(create=False)
        if db is None:
            return []
        return [dict(zip(_COLUMNS, row, strict=True)) for row in db.execute(_SELECT, (seq,))]

    def head(self, after: tuple[int, str], ledger_hash: LedgerHash) -> tuple[int, str]:
        """The chain's head: the overflow's last entry after ``after``, else ``after``."""
        found = self.waiting(after, ledger_hash)
        return (found[-1].seq, found[-1].hash) if found else after

    def add(self, entries: Sequence[AuditEntry]) -> None:
        """Commit ``entries`` to the overflow (before their readers answer)."""
        db = self._open(create=True)
        assert db is not None
        rows = [tuple(getattr(entry, name) for name in _COLUMNS) for entry in entries]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_INSERT, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def forget(self, through: int, ledger_hash: LedgerHash) -> None:
        """Remove the entries numbered up to ``through`` that the ledger now holds (the
        same hash at the same number); any other stays, to be moved or refused."""
        db = self._open(create=False)
        if db is None:
            return
        found = db.execute(_LEFT, (through,)).fetchall()
        gone = [(seq,) for seq, digest in found if ledger_hash(int(seq)) == digest]
        if gone:
            db.executemany("DELETE FROM audit_overflow WHERE seq = ?", gone)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
