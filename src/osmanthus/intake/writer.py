"""Writing validated chunks into the ledger, inside the batch's one transaction.

Original reports go through the ledger's :class:`osmanthus.ledger.StagedRecords` (the
staging table, the ``INSERT ... SELECT``, the checks that need the ledger, and the
rows' claim); this module turns what it reports into the batch's row-level problems:

- a resident who is not registered: refused;
- a source reference already used by this department (in an earlier batch, or earlier
  in this one): refused;
- an incident already reported by another department: kept, and flagged (the scorer
  counts one incident once).

Corrections and retractions are few; each goes through the ledger's own supersede path.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from osmanthus.errors import NotFound, RecordRefused
from osmanthus.intake.validate import Problem, Validated, shown
from osmanthus.ledger import Actor, Ledger, StagedRecords

__all__ = ["ChunkWriter"]


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
        self.staged = StagedRecords(
            conn, department=department, department_id=department_id, batch_id=batch_id, now=now
        )

    def close(self) -> None:
        """Drop the staging table."""
        self.staged.close()

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
        staged = np.flatnonzero(rows)  # position k (1-based) in the stage -> row in the chunk
        found = self.staged.write(_stage_table(table, checked, pseudonyms, staged))
        first = checked.first_row
        refused: dict[int, Problem] = {}  # by row in the chunk
        for k, ref, batch in found.taken:
            reason = (
                "repeats an earlier row of this batch"
                if batch == self.batch_id
                else f"already recorded by this department (batch {batch or 'unknown'})"
            )
            row = int(staged[k - 1])
            refused[row] = Problem(first + row, "source_ref", shown(ref), reason)
        ids = table.column("national_id")
        for k in found.unknown:
            row = int(staged[k - 1])
            refused[row] = Problem(
                first + row,
                "national_id",
                shown(ids[row].as_py(), private=True),
                "no registered resident has this national ID",
            )
        for k, incident, code in found.repeated:
            row = int(staged[k - 1])
            if row not in refused:
                problems.append(
                    Problem(
                        first + row,
                        "incident_ref",
                        shown(incident),
                        f"incident already reported by {code}: kept, and counted once",
                        level="flagged",
                    )
                )
        problems.extend(refused.values())
        written = rows.copy()
        written[list(refused)] = False
        return written

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
) -> pa.Table:
    """The staged columns of the chunk's rows ``staged``, in that order, as Arrow (dates as
    ISO text); optional columns that are empty throughout are left out (NULL)."""
    assert checked.act_date is not None and checked.decision_date is not None
    assert checked.value is not None
    picked = pa.array(staged)

    def day(dates: npt.NDArray[np.datetime64]) -> pa.Array:
        return pc.cast(pa.array(dates[staged].astype("datetime64[D]")), pa.string())

    columns: dict[str, pa.Array | pa.ChunkedArray] = {
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
