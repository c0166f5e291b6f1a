"""Writing validated chunks into the ledger, inside the batch's one transaction.

Each chunk's clean rows go to a temporary staging table (SQLite: ``executemany`` into an
in-memory temp table; PostgreSQL: COPY of Arrow-written CSV), and from there into
``records`` with one ``INSERT ... SELECT`` that joins the residents by pseudonym (in file
order: sorting by resident cost more than it saved, measured at 1 M and 10 M rows).
What needs the ledger is checked in SQL:

- a resident who is not registered: the join finds no one, and the row is refused;
- a source reference already used by this department (in an earlier batch, or earlier in
  this one): the unique constraint fires, the rows are found and refused, the rest go in;
- an incident already reported by another department: the row is kept and flagged (the
  scorer counts one incident once).

Corrections and retractions are few; each goes through the ledger's own supersede path.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy.exc
from sqlalchemy import Connection, text

from osmanthus.audit import ClaimBuilder
from osmanthus.errors import NotFound, RecordRefused
from osmanthus.intake.validate import Problem, Validated, shown
from osmanthus.ledger import Actor, Col, Ledger, add_rows, allocate_ids
from osmanthus.ledger.schema import records

__all__ = ["ChunkWriter"]

_STAGE = "intake_stage"
#: Each staged row's key ``k`` is its position among the chunk's staged rows (1-based):
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


class ChunkWriter:
    """Writes the clean rows of each chunk of one batch (one transaction, one connection)."""

    def __init__(
        self,
        conn: Connection,
        ledger: Ledger,
        *,
        department: str,
        department_id: int,
        batch_id: str,
        actor: Actor,
        now: dt.datetime,
    ) -> None:
        self.conn = conn
        self.ledger = ledger
        self.department = department
        self.department_id = department_id
        self.batch_id = batch_id
        self.actor = actor
        self.postgres = conn.dialect.name == "postgresql"
        self.now = now
        self.sealed = ClaimBuilder("records")  # the batch's original reports, for its entry
        self.stamp: object = (
            now if self.postgres else now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        )
        if self.postgres:  # the stage join and its hash table stay in memory
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")

    def _new_stage(self) -> None:
        """An empty staging table (SQLite numbers its rows 1, 2, ... as they come)."""
        self.close()
        dates, key = ("DATE", "k BIGINT PRIMARY KEY, ") if self.postgres else ("TEXT", "")
        self.conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {_STAGE} ({key}id BIGINT, pseudonym TEXT, metric TEXT, "
            f"value DOUBLE PRECISION, act_date {dates}, decision_date {dates}, "
            "source_ref TEXT, incident_ref TEXT, severity TEXT)"
        )

    def close(self) -> None:
        """Drop the staging table (the transaction's end would, too, on PostgreSQL)."""
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_STAGE}")

    def _sql(self, statement: str) -> Any:
        return text(statement.format(key="s.k" if self.postgres else "s.rowid"))

    def write(
        self, table: pa.Table, checked: Validated, pseudonyms: pa.ChunkedArray
    ) -> tuple[npt.NDArray[np.bool_], list[Problem]]:
        """Write the chunk's clean rows; return which rows are in the ledger and the new
        problems (refused by the ledger, or flagged)."""
        assert checked.action is not None
        reports = checked.ok & (checked.action == "report")
        problems: list[Problem] = []
        written = np.zeros(checked.rows, dtype=bool)
        if reports.any():
            written |= self._write_reports(table, checked, pseudonyms, reports, problems)
        superseding = checked.ok & (checked.action != "report")
        for row in np.flatnonzero(superseding).tolist():
            if self._supersede(table, checked, pseudonyms, row, problems):
                written[row] = True
        return written, problems

    # -- original reports -------------------------------------------------------------

    def _write_reports(
        self,
        table: pa.Table,
        checked: Validated,
        pseudonyms: pa.ChunkedArray,
        rows: npt.NDArray[np.bool_],
        problems: list[Problem],
    ) -> npt.NDArray[np.bool_]:
        self._new_stage()
        staged = np.flatnonzero(rows)  # position k (1-based) in the stage -> row in the chunk
        stage = _stage_table(
            table, checked, pseudonyms, staged, allocate_ids(self.conn, records, len(staged))
        )
        self._fill(stage)
        refused: dict[int, Problem] = {}  # by row in the chunk
        params = {"department": self.department_id, "stamp": self.stamp, "batch": self.batch_id}
        while True:
            try:
                with self.conn.begin_nested():
                    inserted = self.conn.execute(self._sql(_INSERT), params).rowcount
                break
            except sqlalchemy.exc.IntegrityError:
                if not self._refuse_taken(staged, checked.first_row, refused):
                    raise
        if inserted < len(staged) - len(refused):
            ids = table.column("national_id")
            for (k,) in self.conn.execute(self._sql(_UNKNOWN)):
                row = int(staged[k - 1])
                refused[row] = Problem(
                    checked.first_row + row,
                    "national_id",
                    shown(ids[row].as_py(), private=True),
                    "no registered resident has this national ID",
                )
        if "incident_ref" in table.column_names:
            problems.extend(self._repeated_incidents(staged, checked.first_row, refused))
        problems.extend(refused.values())
        written = rows.copy()
        written[list(refused)] = False
        self._seal(stage, written[staged])
        return written

    def _seal(self, stage: pa.Table, written: npt.NDArray[np.bool_]) -> None:
        """Add the rows written from ``stage`` to the batch's claim (their encoding from
        the staged columns: the same values the INSERT wrote)."""
        rows = stage.filter(pa.array(written))
        if not rows.num_rows:
            return

        def optional(name: str) -> Col:
            if name in rows.column_names:
                return ("text", rows.column(name))
            return ("", None)

        add_rows(
            self.sealed,
            rows.column("id").to_numpy(),
            [
                ("text", rows.column("pseudonym")),
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

    def _refuse_taken(
        self, staged: npt.NDArray[np.intp], first_row: int, refused: dict[int, Problem]
    ) -> bool:
        """Refuse (and unstage) rows whose source reference the department already used."""
        found = self.conn.execute(self._sql(_TAKEN), {"department": self.department_id}).all()
        for k, ref, batch in found:
            reason = (
                "repeats an earlier row of this batch"
                if batch == self.batch_id
                else f"already recorded by this department (batch {batch or 'unknown'})"
            )
            row = int(staged[k - 1])
            refused[row] = Problem(first_row + row, "source_ref", shown(ref), reason)
        if found:
            gone = [{"k": k} for k, _, _ in found]
            key = "k" if self.postgres else "rowid"
            self.conn.execute(text(f"DELETE FROM {_STAGE} WHERE {key} = :k"), gone)
        return bool(found)

    def _repeated_incidents(
        self, staged: npt.NDArray[np.intp], first_row: int, refused: dict[int, Problem]
    ) -> list[Problem]:
        """Rows whose incident another department already reported: kept, and flagged."""
        found = []
        query = self._sql(_REPEATED_INCIDENT)
        for k, incident, code in self.conn.execute(query, {"department": self.department_id}):
            row = int(staged[k - 1])
            if row not in refused:
                found.append(
                    Problem(
                        first_row + row,
                        "incident_ref",
                        shown(incident),
                        f"incident already reported by {code}: kept, and counted once",
                        level="flagged",
                    )
                )
        return found

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
        columns: Sequence[list[Any]] = [stage.column(name).to_pylist() for name in names]
        self.conn.exec_driver_sql(
            f"INSERT INTO {_STAGE} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            list(zip(*columns, strict=True)),
        )

    # -- corrections and retractions --------------------------------------------------

    def _supersede(
        self,
        table: pa.Table,
        checked: Validated,
        pseudonyms: pa.ChunkedArray,
        row: int,
        problems: list[Problem],
    ) -> bool:
        assert checked.action is not None and checked.value is not None
        number = checked.first_row + row
        action = str(checked.action[row])
        new_ref = str(table.column("source_ref")[row])
        old_ref = str(table.column("supersedes")[row]).strip()
        try:
            with self.conn.begin_nested():
                self.ledger.supersede_within(
                    self.conn,
                    self.department,
                    old_ref,
                    kind="correction" if action == "correct" else "retraction",
                    value=float(checked.value[row]) if action == "correct" else None,
                    new_source_ref=new_ref,
                    reason=str(table.column("reason")[row]),
                    actor=self.actor,
                    subject=str(pseudonyms[row]),
                    batch_id=self.batch_id,
                )
        except (RecordRefused, NotFound) as exc:
            problems.append(Problem(number, "supersedes", shown(old_ref), str(exc)))
            return False
        return True


def _stage_table(
    table: pa.Table,
    checked: Validated,
    pseudonyms: pa.ChunkedArray,
    staged: npt.NDArray[np.intp],
    ids: npt.NDArray[np.int64],
) -> pa.Table:
    """The staged columns of the chunk's rows ``staged``, in that order, as Arrow (dates as
    ISO text); optional columns that are empty throughout are left out (NULL)."""
    assert checked.act_date is not None and checked.decision_date is not None
    assert checked.value is not None
    picked = pa.array(staged)

    def day(dates: npt.NDArray[np.datetime64]) -> pa.Array:
        return pc.cast(pa.array(dates[staged].astype("datetime64[D]")), pa.string())

    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "k": pa.array(np.arange(1, len(staged) + 1), pa.int64()),
        "id": pa.array(ids, pa.int64()),
        "pseudonym": pseudonyms.take(picked),
        "metric": table.column("metric").take(picked),
        "value": pa.array(checked.value[staged], pa.float64()),
        "act_date": day(checked.act_date),
        "decision_date": day(checked.decision_date),
        "source_ref": table.column("source_ref").take(picked),
    }
    for name in ("incident_ref", "severity"):
        if name in table.column_names:
            values = pc.utf8_trim_whitespace(table.column(name).take(picked))
            if pc.any(pc.not_equal(values, "")).as_py():
                columns[name] = pc.if_else(
                    pc.equal(values, ""), pa.scalar(None, pa.string()), values
                )
    return pa.table(columns)
