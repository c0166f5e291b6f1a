"""The population semantics: one bucket of residents scored at once.

This module is the one definition both engines execute: DuckDB and Spark only read the
lake, hand each bucket's rows here as Arrow tables, and collect what comes back.

The kernel is this module with :mod:`~osmanthus.population.columns` (the records as
columns and their plans) and :mod:`~osmanthus.population.column_path` (the scores of most
residents, computed column by column over the whole bucket). A resident whose records
need the step-by-step timeline (cycles, reductions with conditions, staged measures,
clean-period clearances, a running clamp that may bind, rolling or changing caps, two
caps binding one record) or whose records the policy does not know is scored by the
reference scorer itself (:func:`osmanthus.scoring.explain`), so the answer is the same
by construction; the parity suite checks the column path against it on generated
policies and populations.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.core import StoredRecord, Subject, Suspension, suspended_records
from osmanthus.population.column_path import needs_timeline, score_columns
from osmanthus.population.columns import I64, Bucket, SubjectLookup, by_key, ints, search_rows
from osmanthus.population.compiled import Compiled, days
from osmanthus.population.next_change import bucket_next_change, first_after
from osmanthus.population.result import CONTRIBUTION, RESULT_SCHEMA, Result
from osmanthus.scoring import explain

__all__ = ["CONTRIBUTION", "RESULT_SCHEMA", "score_bucket", "score_tables"]


def _ascending(values: I64) -> bool:
    return bool(np.all(values[1:] > values[:-1]))


#: a table over the residents' id span is used when the ids fill at least 1/_SPREAD of
#: it (a few neighbouring buckets of a lake of 64), up to _MOST_SPAN ids (256 MiB)
_SPREAD = 64
_MOST_SPAN = 1 << 26


def _dense(rid: I64) -> bool:
    """Whether the ids ``rid`` fill enough of their span for :func:`_slots`' table."""
    return int(rid.max()) - int(rid.min()) + 1 <= min(_SPREAD * len(rid), _MOST_SPAN)


def _slots(rid: I64, owners: I64) -> I64:
    """Each owner's row among the residents ``rid`` (unique ids), -1 for an owner not
    among them: by arithmetic when the ids ascend evenly spaced (a bucket of a lake
    without gaps: every ``buckets``-th id), by a table over the ids' span when they are
    :func:`_dense`, in any order (a few buckets scored together, one after the other),
    else by binary search (``rid`` ascending)."""
    n = len(rid)
    found: I64
    if n == 0 or owners.size == 0:
        return np.full(owners.size, -1, dtype=np.intp)
    if n > 1:
        step = int(rid[1] - rid[0])
        if step > 0 and bool(np.all(np.diff(rid) == step)):
            found = np.clip((owners - rid[0]) // step, 0, n - 1)
            return np.where(rid[found] == owners, found, -1)
        if _dense(rid):
            low, high = int(rid.min()), int(rid.max())
            table = np.full(high - low + 1, -1, dtype=np.int32)
            table[rid - low] = np.arange(n, dtype=np.int32)
            inside = (owners >= low) & (owners <= high)
            found = table[np.where(inside, owners - low, 0).astype(np.intp)].astype(np.intp)
            return np.where(inside, found, -1)
    return search_rows(rid, owners)


def _findable(rid: I64) -> bool:
    """Whether :func:`_slots` finds rows among ``rid`` as they are (else sort them)."""
    return len(rid) < 2 or _ascending(rid) or _dense(rid)


def _known(table: pa.Table, column: str, known_at: dt.datetime | None) -> pa.Table:
    if known_at is None:
        return table
    return table.filter(
        pc.less_equal(table[column], pa.scalar(known_at, pa.timestamp("us", "UTC")))
    )


def score_tables(
    tables: Mapping[str, pa.Table],
    compiled: Compiled,
    known_at: dt.datetime | None = None,
    rows: I64 | None = None,
) -> pa.Table:
    """:func:`score_bucket` on one bucket's rows of the lake's four tables, by name."""
    return score_bucket(
        tables["records"],
        tables["residents"],
        tables["profile_facts"],
        compiled,
        known_at,
        suspensions=tables["suspensions"],
        rows=rows,
    )


def score_bucket(
    records: pa.Table,
    residents: pa.Table,
    profiles: pa.Table,
    compiled: Compiled,
    known_at: dt.datetime | None = None,
    *,
    suspensions: pa.Table | None = None,
    rows: I64 | None = None,
) -> pa.Table:
    """Score every resident of one bucket on ``compiled.as_of`` as known at ``known_at``
    (``suspensions``: the bucket's rows of the lake's suspensions table; ``rows``: the
    rows of ``records`` to read, ascending, already only those recorded by ``known_at``;
    None: every row recorded by then). Taking the rows from NumPy columns costs a
    tenth of filtering the Arrow table first."""
    residents = _known(residents, "registered_at", known_at)
    if not _findable(ints(residents["id"])):
        residents = residents.sort_by("id")
    if rows is None:
        records = _known(records, "recorded_at", known_at)
    profiles = _known(profiles, "recorded_at", known_at).sort_by("id")
    rid = ints(residents["id"])
    n = len(rid)
    at = rows  # the rows of ``records`` scored, in the order scored (None: all, as they are)
    owners = ints(records["resident_id"])
    owners = owners if at is None else owners[at]
    slot = _slots(rid, owners)
    keep = slot >= 0
    if not keep.all():
        at = np.flatnonzero(keep) if at is None else at[keep]
        slot = slot[keep]
    ids = ints(records["id"])
    ids = ids if at is None else ids[at]
    steps = np.diff(slot)
    if not np.all((steps > 0) | ((steps == 0) & (np.diff(ids) > 0))):  # not yet in order
        order = by_key(slot, ids)  # (several exports, or Spark's rows)
        slot = slot[order]
        at = order if at is None else at[order]
    facts = _suspensions(suspensions)
    suspended = suspended_records([fact for _, fact in facts], compiled.as_of, known_at)
    work = Bucket(records, slot, n, compiled, suspended, at)
    subjects = SubjectLookup(rid, residents, profiles, facts, find=_slots)
    fallback = needs_timeline(work)
    out = Result(n)
    score_columns(work, out, ~fallback, subjects)
    out.next_change = bucket_next_change(work, subjects)
    for i in np.flatnonzero(fallback):
        _reference(work, out, int(i), subjects[int(i)], known_at)
    return out.table(rid, residents)


def _suspensions(table: pa.Table | None) -> list[tuple[int, Suspension]]:
    """The bucket's suspension facts with their resident (few: one or two per overdue
    dispute)."""
    if table is None or table.num_rows == 0:
        return []
    return [
        (
            row["resident_id"],
            Suspension(
                id=row["id"],
                record_id=row["record_id"],
                starts=row["starts"],
                lifted=row["lifted"],
                recorded_at=row["recorded_at"],
            ),
        )
        for row in table.to_pylist()
    ]


def _reference(
    b: Bucket, out: Result, slot: int, subject: Subject, known_at: dt.datetime | None
) -> None:
    lo, hi = np.searchsorted(b.slot, [slot, slot + 1])
    rows = b.rows(int(lo), int(hi)).to_pylist()
    stored = [_stored(row) for row in rows]
    result = explain(stored, b.c.policy, b.c.as_of, known_at=known_at, subject=subject)
    out.reference[slot] = True
    out.scored[slot] = result.score is not None
    out.score[slot] = result.score or 0
    out.grade.set(slot, result.grade)
    out.measures[slot] = len(result.measures)
    later = first_after(
        [d for line in result.lines for d in (line.record.act_date, line.expires_on)]
        + [m.until for m in result.measures],
        b.c.as_of,
    )
    if later is not None:
        out.next_change[slot] = min(int(out.next_change[slot]), days(later))
    out.measure.set(slot, result.measures[-1].name if result.measures else None)
    out.perks[slot] = sum(1 << bit for bit, p in enumerate(result.perks) if p.eligible)
    gained: dict[str, int] = defaultdict(int)
    lost: dict[str, int] = defaultdict(int)
    for line in result.lines:
        if line.status == "counted":
            side = gained if line.counted > 0 else lost
            side[line.record.department] += line.counted
    departments = sorted(gained.keys() | lost.keys())
    out.parts.append(
        (
            np.full(len(departments), slot, dtype=np.int64),
            pa.array(departments, pa.string()),
            np.array([gained.get(d, 0) for d in departments], dtype=np.int64),
            np.array([lost.get(d, 0) for d in departments], dtype=np.int64),
        )
    )


def _stored(row: dict[str, object]) -> StoredRecord:
    return StoredRecord(
        id=row["id"],  # type: ignore[arg-type]
        department=row["department"],  # type: ignore[arg-type]
        metric=row["metric"],  # type: ignore[arg-type]
        value=row["value"],  # type: ignore[arg-type]
        act_date=row["act_date"],  # type: ignore[arg-type]
        decision_date=row["decision_date"],  # type: ignore[arg-type]
        recorded_at=row["recorded_at"],  # type: ignore[arg-type]
        source_ref=row.get("source_ref") or "",  # type: ignore[arg-type]
        incident_ref=row["incident_ref"],  # type: ignore[arg-type]
        kind=row["kind"],  # type: ignore[arg-type]
        supersedes_id=row["supersedes_id"],  # type: ignore[arg-type]
        reason=None,
        severity=row["severity"],  # type: ignore[arg-type]
    )
