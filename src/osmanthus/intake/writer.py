"""Writing validated chunks into the ledger, inside the batch's one transaction.

Each chunk's clean rows go to a temporary staging table (SQLite: ``executemany`` into an
in-memory temp table; PostgreSQL: COPY of Arrow-written CSV), and from there into
``records`` with one ``INSERT ... SELECT`` that joins the residents by pseudonym, sorted
by resident so the index is written in order. What needs the ledger is checked in SQL:

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

from osmanthus.errors import NotFound, RecordRefused
from osmanthus.intake.validate import Problem, Validated, shown
from osmanthus.ledger import Actor, Ledger

__all__ = ["ChunkWriter"]

_STAGE = "intake_stage"
_STAGE_COLUMNS = (
    "row_no",
    "pseudonym",
    "metric",
    "value",
    "act_date",
    "decision_date",
    "source_ref",
    "incident_ref",
    "severity",
)
_INSERT = f"""
INSERT INTO records (resident_id, department_id, metric, value, act_date, decision_date,
                     recorded_at, source_ref, incident_ref, kind, batch_id, severity)
SELECT r.id, :department, s.metric, s.value, s.act_date, s.decision_date,
       :stamp, s.source_ref, s.incident_ref, 'original', :batch, s.severity
FROM {_STAGE} s JOIN residents r ON r.pseudonym = s.pseudonym
ORDER BY r.id, s.row_no
"""
_TAKEN = f"""
SELECT s.row_no, s.source_ref, r.batch_id FROM {_STAGE} s
JOIN records r ON r.department_id = :department AND r.source_ref = s.source_ref
"""
_UNKNOWN = f"""
SELECT s.row_no, s.pseudonym FROM {_STAGE} s
WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.pseudonym = s.pseudonym)
"""
_REPEATED_INCIDENT = f"""
SELECT s.row_no, s.incident_ref, MIN(d.code) AS code FROM {_STAGE} s
JOIN records r ON r.incident_ref = s.incident_ref AND r.department_id <> :department
JOIN departments d ON d.id = r.department_id
WHERE s.incident_ref IS NOT NULL
GROUP BY s.row_no, s.incident_ref
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
        self.stamp: object = (
            now if self.postgres else now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        )
        self.written = 0
        self.record_ids: list[int] = []
        dates = "DATE" if self.postgres else "TEXT"
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {_STAGE} (row_no BIGINT PRIMARY KEY, pseudonym TEXT, "
            f"metric TEXT, value DOUBLE PRECISION, act_date {dates}, decision_date {dates}, "
            "source_ref TEXT, incident_ref TEXT, severity TEXT)"
        )

    def close(self) -> None:
        """Drop the staging table (the transaction's end would, too, on PostgreSQL)."""
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_STAGE}")

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
        self.conn.exec_driver_sql(f"DELETE FROM {_STAGE}")
        self._fill(_stage_table(table, checked, pseudonyms, rows))
        staged = int(rows.sum())
        refused: dict[int, Problem] = {}
        params = {"department": self.department_id, "stamp": self.stamp, "batch": self.batch_id}
        while True:
            try:
                with self.conn.begin_nested():
                    inserted = self.conn.execute(text(_INSERT), params).rowcount
                break
            except sqlalchemy.exc.IntegrityError:
                taken = self._refuse_taken(refused)
                if not taken:
                    raise
        if inserted < staged - len(refused):
            ids = table.column("national_id")
            for row_no, _ in self.conn.execute(text(_UNKNOWN)):
                refused[row_no] = Problem(
                    row_no,
                    "national_id",
                    shown(ids[row_no - checked.first_row].as_py(), private=True),
                    "no registered resident has this national ID",
                )
        for row_no, incident, code in self.conn.execute(
            text(_REPEATED_INCIDENT), {"department": self.department_id}
        ):
            if row_no not in refused:
                problems.append(
                    Problem(
                        row_no,
                        "incident_ref",
                        shown(incident),
                        f"incident already reported by {code}: kept, and counted once",
                        level="flagged",
                    )
                )
        problems.extend(refused.values())
        self.written += inserted
        written = rows.copy()
        if refused:
            written[np.array(sorted(refused), dtype=np.int64) - checked.first_row] = False
        return written

    def _refuse_taken(self, refused: dict[int, Problem]) -> bool:
        """Refuse (and unstage) rows whose source reference the department already used."""
        found = self.conn.execute(text(_TAKEN), {"department": self.department_id}).all()
        for row_no, ref, batch in found:
            reason = (
                "repeats an earlier row of this batch"
                if batch == self.batch_id
                else f"already recorded by this department (batch {batch or 'unknown'})"
            )
            refused[row_no] = Problem(row_no, "source_ref", shown(ref), reason)
        if found:
            gone = [{"row": row_no} for row_no, _, _ in found]
            self.conn.execute(text(f"DELETE FROM {_STAGE} WHERE row_no = :row"), gone)
        return bool(found)

    def _fill(self, stage: pa.Table) -> None:
        if self.postgres:
            buffer = io.BytesIO()
            pa_csv.write_csv(stage, buffer, write_options=pa_csv.WriteOptions(include_header=False))
            raw = self.conn.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN "
                    "WITH (FORMAT csv, NULL '')"
                ) as copy,
            ):
                copy.write(buffer.getvalue())
            return
        columns: Sequence[list[Any]] = [stage.column(name).to_pylist() for name in _STAGE_COLUMNS]
        self.conn.exec_driver_sql(
            f"INSERT INTO {_STAGE} VALUES ({', '.join('?' for _ in _STAGE_COLUMNS)})",
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
        self.written += 1
        return True


def _stage_table(
    table: pa.Table, checked: Validated, pseudonyms: pa.ChunkedArray, rows: npt.NDArray[np.bool_]
) -> pa.Table:
    """The staged columns of the selected rows, as Arrow (dates as ISO text)."""
    assert checked.act_date is not None and checked.decision_date is not None
    assert checked.value is not None
    picked = pa.array(np.flatnonzero(rows))

    def optional(name: str) -> pa.Array:
        column = table.column(name) if name in table.column_names else None
        if column is None:
            return pa.nulls(len(picked), pa.string())
        values = pc.utf8_trim_whitespace(column.take(picked))
        return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)

    def day(dates: npt.NDArray[np.datetime64]) -> pa.Array:
        return pc.cast(pa.array(dates[rows].astype("datetime64[D]")), pa.string())

    return pa.table(
        {
            "row_no": pa.array(np.flatnonzero(rows) + checked.first_row, pa.int64()),
            "pseudonym": pseudonyms.take(picked),
            "metric": pc.utf8_trim_whitespace(table.column("metric").take(picked)),
            "value": pa.array(checked.value[rows], pa.float64()),
            "act_date": day(checked.act_date),
            "decision_date": day(checked.decision_date),
            "source_ref": table.column("source_ref").take(picked),
            "incident_ref": optional("incident_ref"),
            "severity": optional("severity"),
        }
    )
