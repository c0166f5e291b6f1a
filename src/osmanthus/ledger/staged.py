"""Original records of an intake batch, written window by window inside its transaction.

Each chunk's rows go to a temporary staging table (SQLite: ``executemany`` into an
in-memory temp table; PostgreSQL: COPY of Arrow-written CSV), and from there into
``records`` with one ``INSERT ... SELECT`` that joins the residents by pseudonym (in file
order: sorting by resident cost more than it saved, measured at 1 M and 10 M rows). The
caller stages chunk after chunk (:meth:`StagedRecords.stage`) and writes what is staged
(:meth:`StagedRecords.flush`) when :attr:`StagedRecords.full` says so, or before a
correction that may name a staged row. On SQLite a window is one chunk; on PostgreSQL it
is :data:`PG_WINDOW_ROWS` rows (several chunks): each statement's join costs a scan of
the residents or an index probe a row, and one statement over 200,000 rows instead of
ten over 20,000 took 1 M rows from 33.5 s of ``INSERT ... SELECT`` to 18 s
(bench/intake.py, 2026-12-07), while the client holds only the window's staged columns
(about 200 bytes a row), not its chunks.

The ids are taken first (:func:`osmanthus.ledger.ids.allocate_ids`), so the rows written
are added to the batch's claim (:meth:`StagedRecords.claim`) from the staged columns
themselves, on a thread of its own while the next window is written (Arrow and SHA-256
over large buffers release the interpreter lock): 1 M rows into SQLite, digests inline
+11.5 % wall against no digests, on the thread +5.6 % (+10.3 % CPU; 1 M rows, medians of
3 interleaved pairs, bench/row_digests.py, 2026-12-06).
What needs the ledger is checked in SQL:

- a resident who is not registered: the join finds no one, and the row is not written;
- a source reference already used by this department (in an earlier batch, or earlier in
  this one): the unique constraint fires, the rows are found and unstaged, the rest go in;
- an incident already reported by another department: the row is written and reported
  (the scorer counts one incident once).

The caller (:mod:`osmanthus.intake.writer`) turns what each window reports into the
batch's row-level problems.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy.exc
from sqlalchemy import Connection, text

from osmanthus.audit import Claim, ClaimBuilder
from osmanthus.ledger.database import PAGE_CACHE_KIB
from osmanthus.ledger.ids import allocate_ids
from osmanthus.ledger.schema import records
from osmanthus.ledger.seal_columns import Col, add_rows

__all__ = ["PG_WINDOW_ROWS", "StagedChunk", "StagedRecords"]

_STAGE = "intake_stage"
#: Rows staged on PostgreSQL before they are written (see the module's notes).
PG_WINDOW_ROWS = 200_000
#: Each staged row's key ``k`` is its position among the window's staged rows (1-based):
#: SQLite's rowid, a column on PostgreSQL. Optional columns empty in a chunk are not sent.
_INSERT = f"""
INSERT INTO records (id, resident_id, department_id, metric, value, act_date, decision_date,
                     recorded_at, source_ref, incident_ref, kind, batch_id, severity)
SELECT s.id, r.id, :department, s.metric, s.value, s.act_date, s.decision_date,
       :stamp, s.source_ref, s.incident_ref, 'original', :batch, s.severity
FROM {_STAGE} s JOIN residents r ON r.pseudonym = s.pseudonym
"""
_TAKEN = f"""
SELECT {{key}}, s.source_ref, r.batch_id FROM {_STAGE} s
JOIN records r ON r.department_id = :department AND r.source_ref = s.source_ref
"""
#: Rows repeating the source reference of a row staged before them in the window (in an
#: earlier chunk: the checks see one chunk at a time) that can be written: its resident
#: is registered (a row that cannot be written leaves its reference free).
_REPEATED_REF = f"""
SELECT {{key}}, s.source_ref, :batch FROM {_STAGE} s
WHERE EXISTS (
    SELECT 1 FROM {_STAGE} t JOIN residents r ON r.pseudonym = t.pseudonym
    WHERE t.source_ref = s.source_ref AND {{other}} < {{key}}
)
"""
_UNKNOWN = f"""
SELECT {{key}} FROM {_STAGE} s
WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.pseudonym = s.pseudonym)
"""
_REPEATED_INCIDENT = f"""
SELECT {{key}}, s.incident_ref, MIN(d.code) AS code FROM {_STAGE} s
JOIN records r ON r.incident_ref = s.incident_ref AND r.department_id <> :department
JOIN departments d ON d.id = r.department_id
WHERE s.incident_ref IS NOT NULL
GROUP BY {{key}}, s.incident_ref
"""


@dataclass
class StagedChunk:
    """What became of a window's rows, each named by its position ``k`` (1-based)."""

    taken: list[tuple[int, str, str | None]] = field(default_factory=list)
    """``(k, source_ref, batch)``: the department already used the reference (in
    ``batch``: this one, an earlier one, or None for a load without a batch)."""
    unknown: list[int] = field(default_factory=list)
    """Rows whose resident is not registered."""
    repeated: list[tuple[int, str, str]] = field(default_factory=list)
    """``(k, incident_ref, department)``: written, but another department reported the
    incident first."""


#: Rows turned into Python objects at a time when the stage is filled (SQLite).
_FILL_SLICE = 8_192
#: SQLite page cache of a connection while it writes a batch, in KiB (the connections'
#: own: PAGE_CACHE_KIB). A batch's dirty pages beyond it spill to the write-ahead log:
#: 2.8 M rows, peak memory 1,158 MB with the connections' cache, 965 MB with 32 MiB
#: (2026-12-06, bench/upload_memory.py and a probe of submit_batch); 2.1 M rows in
#: 50,000-row chunks, 505 MiB with 64 MiB and 443 MiB with 16 MiB (2026-12-07).
INTAKE_CACHE_KIB = 16 * 1024


class StagedRecords:
    """Writes the original reports of one batch (one transaction, one connection)."""

    def __init__(
        self,
        conn: Connection,
        *,
        department: str,
        department_id: int,
        batch_id: str,
        now: dt.datetime,
    ) -> None:
        self.conn = conn
        self.department = department
        self.department_id = department_id
        self.batch_id = batch_id
        self.now = now
        self.postgres = conn.dialect.name == "postgresql"
        self._sealed = ClaimBuilder("records")  # the batch's original reports
        self._sealing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-seal")
        self._pending: list[Future[None]] = []
        self.window_rows = PG_WINDOW_ROWS if self.postgres else 1
        self._window: list[pa.Table] = []  # the staged columns, for the claim
        self._staged = 0
        self.stamp: object = (
            now if self.postgres else now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        )
        if self.postgres:  # the stage join and its hash table stay in memory
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        else:  # a batch's pages spill to the log instead of filling the reads' 256 MiB
            conn.exec_driver_sql(f"PRAGMA cache_size=-{INTAKE_CACHE_KIB}")

    @property
    def full(self) -> bool:
        """Whether the staged rows should be written now (a window's worth)."""
        return self._staged >= self.window_rows

    @property
    def staged(self) -> int:
        """Rows staged and not yet written."""
        return self._staged

    def stage(self, stage: pa.Table) -> None:
        """Stage the rows of ``stage`` (columns ``pseudonym, metric, value, act_date,
        decision_date, source_ref`` and optionally ``incident_ref, severity``; dates as
        ISO text); they take the window's next positions ``k``."""
        n = stage.num_rows
        if not n:
            return
        if not self._staged:
            self._new_stage()
        first = self._staged + 1
        stage = stage.add_column(0, "k", pa.array(np.arange(first, first + n), pa.int64()))
        stage = stage.add_column(1, "id", pa.array(allocate_ids(self.conn, records, n)))
        self._fill(stage)
        self._window.append(stage)
        self._staged += n

    def flush(self) -> StagedChunk:
        """Write the staged rows that the ledger accepts; report the others by position."""
        found = StagedChunk()
        n, self._staged = self._staged, 0
        if not n:
            return found
        if self.postgres:  # a fresh temporary table has no statistics: plan with some
            self.conn.exec_driver_sql(f"ANALYZE {_STAGE}")
        params = {"department": self.department_id, "stamp": self.stamp, "batch": self.batch_id}
        while True:
            try:
                with self.conn.begin_nested():
                    inserted = self.conn.execute(self._sql(_INSERT), params).rowcount
                break
            except sqlalchemy.exc.IntegrityError:
                if not self._unstage_taken(found):
                    raise
        if inserted < n - len(found.taken):
            found.unknown = [int(k) for (k,) in self.conn.execute(self._sql(_UNKNOWN))]
        window, self._window = self._window, []
        if any("incident_ref" in part.column_names for part in window):
            query = self._sql(_REPEATED_INCIDENT)
            found.repeated = [
                (int(k), str(incident), str(code))
                for k, incident, code in self.conn.execute(
                    query, {"department": self.department_id}
                )
            ]
        written = np.ones(n, dtype=bool)
        written[[k - 1 for k, _, _ in found.taken] + [k - 1 for k in found.unknown]] = False
        start = 0
        for part in window:  # sealed chunk by chunk: a window's lines at once cost memory
            kept = written[start : start + part.num_rows]
            start += part.num_rows
            self._pending.append(self._sealing.submit(self._seal, part.filter(pa.array(kept))))
        return found

    def claim(self) -> Claim:
        """The claim of every original report written (for the batch's audit entry)."""
        for done in self._pending:
            done.result()
        self._pending.clear()
        return self._sealed.claim()

    def close(self) -> None:
        """Drop the staging table (the transaction's end would, too, on PostgreSQL), then
        :meth:`stop`."""
        self._drop_stage()
        self.stop()

    def stop(self) -> None:
        """Stop the sealing thread; on SQLite give the connection its page cache back.
        Called whatever happened (a failed batch too); safe to call twice."""
        self._sealing.shutdown(wait=True)
        if not self.postgres:
            with contextlib.suppress(sqlalchemy.exc.DBAPIError):
                self.conn.exec_driver_sql(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")

    def _drop_stage(self) -> None:
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_STAGE}")

    def _new_stage(self) -> None:
        """An empty staging table (SQLite numbers its rows 1, 2, ... as they come)."""
        self._drop_stage()
        dates, key = ("DATE", "k BIGINT PRIMARY KEY, ") if self.postgres else ("TEXT", "")
        self.conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {_STAGE} ({key}id BIGINT, pseudonym TEXT, metric TEXT, "
            f"value DOUBLE PRECISION, act_date {dates}, decision_date {dates}, "
            "source_ref TEXT, incident_ref TEXT, severity TEXT)"
        )

    def _sql(self, statement: str) -> Any:
        key, other = ("s.k", "t.k") if self.postgres else ("s.rowid", "t.rowid")
        return text(statement.format(key=key, other=other))

    def _unstage_taken(self, found: StagedChunk) -> bool:
        """Unstage (and report) rows whose source reference the department already used."""
        rows = list(self.conn.execute(self._sql(_TAKEN), {"department": self.department_id}))
        if len(self._window) > 1:  # within one chunk the checks refused repeats already
            rows += self.conn.execute(self._sql(_REPEATED_REF), {"batch": self.batch_id})
        taken = list(
            {int(k): (int(k), str(ref), batch) for k, ref, batch in reversed(rows)}.values()
        )
        found.taken.extend(taken)
        if taken:
            gone = ", ".join(str(k) for k, _, _ in taken)  # integers; one statement
            key = "k" if self.postgres else "rowid"
            self.conn.exec_driver_sql(f"DELETE FROM {_STAGE} WHERE {key} IN ({gone})")
        return bool(taken)

    def _fill(self, stage: pa.Table) -> None:
        if self.postgres:
            buffer = io.BytesIO()
            pa_csv.write_csv(stage, buffer, write_options=pa_csv.WriteOptions(include_header=False))
            raw = self.conn.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    f"COPY {_STAGE} ({', '.join(stage.column_names)}) FROM STDIN "
                    "WITH (FORMAT csv, NULL '')"
                ) as copy,
            ):
                copy.write(buffer.getvalue())
            return
        names = [name for name in stage.column_names if name != "k"]  # the rowid

        def rows() -> Iterator[tuple[Any, ...]]:
            """The rows as SQLite takes them, made a slice at a time: Python objects for
            a whole chunk's columns cost about 150 MiB at 200,000 rows."""
            for start in range(0, stage.num_rows, _FILL_SLICE):
                part = stage.slice(start, _FILL_SLICE)
                columns: Sequence[list[Any]] = [part.column(name).to_pylist() for name in names]
                yield from zip(*columns, strict=True)

        raw = self.conn.connection.driver_connection
        assert raw is not None
        raw.executemany(
            f"INSERT INTO {_STAGE} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            rows(),
        )

    def _seal(self, rows: pa.Table) -> None:
        """Add the rows written to the batch's claim (encoded from the staged columns:
        the same values the INSERT wrote)."""
        if not rows.num_rows:
            return

        def optional(name: str) -> Col:
            if name in rows.column_names:
                return ("text", rows.column(name))
            return ("", None)

        ids: npt.NDArray[np.int64] = rows.column("id").to_numpy()
        add_rows(
            self._sealed,
            ids,
            [
                ("hex", rows.column("pseudonym")),
                ("", self.department),
                ("text", rows.column("metric")),
                ("float", rows.column("value").to_numpy()),
                ("date", rows.column("act_date")),
                ("date", rows.column("decision_date")),
                ("", self.now),
                ("text", rows.column("source_ref")),
                optional("incident_ref"),
                ("", "original"),
                ("", None),
                ("", None),
                ("", self.batch_id),
                optional("severity"),
            ],
        )
