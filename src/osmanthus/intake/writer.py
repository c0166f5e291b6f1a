"""Writing validated chunks into the ledger, inside the batch's one transaction.

Original reports go through the ledger's :class:`osmanthus.ledger.StagedRecords` (the
staging table, the ``INSERT ... SELECT``, the checks that need the ledger, and the
rows' claim), a window of one or more chunks at a time; this module keeps, for each
staged row, only its row number, metric and national ID (to name it in a problem), and
turns what the ledger reports into the batch's row-level problems:

- a resident who is not registered: refused;
- a source reference already used by this department (in an earlier batch, or earlier
  in this one): refused;
- an incident already reported by another department: kept, and flagged (the scorer
  counts one incident once).

Corrections and retractions are few; each goes through the ledger's own supersede path.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

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
    """Writes the clean rows of each chunk of one batch (one transaction, one connection).

    Counts what it wrote as it goes (:attr:`accepted`, :attr:`metrics`); a staged row
    counts from the moment it is staged until the ledger refuses it."""

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
        self.accepted = 0
        self.metrics: Counter[str] = Counter()
        self._window: list[_Staged] = []  # the staged rows not yet written, chunk by chunk

    def close(self) -> None:
        """Drop the staging table."""
        self.staged.close()

    def stop(self) -> None:
        """Stop the staged writer's thread (whatever happened to the batch)."""
        self.staged.stop()

    def write(
        self, table: pa.Table, checked: Validated, pseudonyms: pa.ChunkedArray
    ) -> list[Problem]:
        """Stage or write the chunk's clean rows; return the problems found so far (the
        ledger's refusals of rows staged earlier may come with a later chunk, or from
        :meth:`finish`)."""
        assert checked.action is not None
        reports = checked.ok & (checked.action == "report")
        problems: list[Problem] = []
        if reports.any():
            self._stage(table, checked, pseudonyms, np.flatnonzero(reports))
        superseding = checked.ok & (checked.action != "report")
        if self.staged.full or (superseding.any() and self.staged.staged):
            problems += self._flush()  # a correction may name a staged row
        for row in np.flatnonzero(superseding).tolist():
            if self._supersede(table, checked, pseudonyms, row, problems):
                self.accepted += 1
                self.metrics[str(table.column("metric")[row])] += 1
        return problems

    def finish(self) -> list[Problem]:
        """Write what is still staged; return its problems."""
        return self._flush()

    # -- original reports -------------------------------------------------------------

    def _stage(
        self,
        table: pa.Table,
        checked: Validated,
        pseudonyms: pa.ChunkedArray,
        staged: npt.NDArray[np.intp],
    ) -> None:
        picked = pa.array(staged)
        metric = table.column("metric").take(picked)
        self.staged.stage(_stage_table(table, checked, pseudonyms, staged, metric))
        self._window.append(
            _Staged(
                rows=staged + checked.first_row,
                metric=metric,
                national_id=table.column("national_id").take(picked),
            )
        )
        self.accepted += len(staged)
        for count in pc.value_counts(metric).to_pylist():
            self.metrics[str(count["values"])] += int(count["counts"])

    def _flush(self) -> list[Problem]:
        found = self.staged.flush()
        window, self._window = self._window, []
        if not window:
            return []
        ends = np.cumsum([len(part.rows) for part in window])

        def at(k: int) -> tuple[_Staged, int, int]:
            """The chunk, index in it and row number in the file of the window's row
            ``k`` (1-based)."""
            chunk = int(np.searchsorted(ends, k - 1, side="right"))
            i = k - 1 - (int(ends[chunk - 1]) if chunk else 0)
            return window[chunk], i, int(window[chunk].rows[i])

        refused: dict[int, Problem] = {}  # by row number in the file
        for k, ref, batch in found.taken:
            reason = (
                "repeats an earlier row of this batch"
                if batch == self.batch_id
                else f"already recorded by this department (batch {batch or 'unknown'})"
            )
            part, i, row = at(k)
            refused[row] = Problem(row, "source_ref", shown(ref), reason)
            self._unwritten(part, i)
        for k in found.unknown:
            part, i, row = at(k)
            refused[row] = Problem(
                row,
                "national_id",
                shown(part.national_id[i].as_py(), private=True),
                "no registered resident has this national ID",
            )
            self._unwritten(part, i)
        problems = list(refused.values())
        for k, incident, code in found.repeated:
            _, _, row = at(k)
            if row not in refused:
                problems.append(
                    Problem(
                        row,
                        "incident_ref",
                        shown(incident),
                        f"incident already reported by {code}: kept, and counted once",
                        level="flagged",
                    )
                )
        return problems

    def _unwritten(self, part: _Staged, i: int) -> None:
        self.accepted -= 1
        self.metrics[str(part.metric[i])] -= 1

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


@dataclass
class _Staged:
    """What the writer keeps of a chunk's staged rows until they are written."""

    rows: npt.NDArray[np.intp]  # each row's number in the file
    metric: pa.ChunkedArray
    national_id: pa.ChunkedArray


def _stage_table(
    table: pa.Table,
    checked: Validated,
    pseudonyms: pa.ChunkedArray,
    staged: npt.NDArray[np.intp],
    metric: pa.ChunkedArray,
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
        "metric": metric,
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
