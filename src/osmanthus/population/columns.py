"""One bucket's records as columns, and the plan of every record.

The rows are taken in order of resident (``slot``, the resident's row in the bucket) and
id; rows arriving otherwise (several exports, Spark) are put in that order as columns.
A record's plan is what the reference scorer's ``plan_record`` gives it: the version in
force on its act date, its points (``Metric.effect``), the day it stops counting (expiry,
repair tier, a fulfilment with the same incident, a granted repair), whether it is
current (not superseded, not a retraction or a repair, not set aside by a suspension on
the scoring date) and whether it repeats an incident another record already counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.core import Subject, Suspension
from osmanthus.errors import OsmanthusError
from osmanthus.population.compiled import NEVER, Compiled, days

__all__ = [
    "I32",
    "I64",
    "B",
    "Bucket",
    "Codes",
    "SubjectLookup",
    "by_key",
    "codes",
    "ints",
    "search_rows",
    "valid",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]


@dataclass
class Codes:
    """A text column as integer codes (-1 for null) and its distinct values."""

    codes: I32
    values: list[str]


def codes(column: pa.ChunkedArray | pa.Array) -> Codes:
    array = column
    if isinstance(column, pa.ChunkedArray):
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    if array.null_count == len(array):  # nothing to decode (no severity, say)
        return Codes(np.full(len(array), -1, dtype=np.int32), array.dictionary.to_pylist())
    indices = array.indices if array.null_count == 0 else array.indices.fill_null(-1)
    found = indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return Codes(found, array.dictionary.to_pylist())


def by_key(major: I64, minor: I64) -> I64:
    """The order of rows by ``major``, then ``minor``. The lake keeps each file's rows by
    resident and id, so a bucket's rows arrive as a few sorted runs, which a stable sort
    of one packed key merges in about linear time (both non-negative and fitting in 63
    bits; otherwise a lexical sort)."""
    if minor.size and int(minor.min()) >= 0 and int(major.min()) >= 0:
        shift = int(minor.max()).bit_length()
        if int(major.max()).bit_length() + shift <= 63:
            found: I64 = np.argsort((major << shift) | minor, kind="stable")
            return found
    return np.lexsort((minor, major))


def valid(column: pa.ChunkedArray) -> B:
    """Which values are not null (no bitmap to unpack when none or all are)."""
    if column.null_count == 0:
        return np.ones(len(column), dtype=bool)
    if column.null_count == len(column):
        return np.zeros(len(column), dtype=bool)
    found: B = column.is_valid().to_numpy(zero_copy_only=False)
    return found


def ints(column: pa.ChunkedArray, null: int = -1) -> I64:
    """An integer column as int64, nulls as ``null`` (a read-only view of Arrow's buffer
    when it is one chunk of int64 without nulls)."""
    if column.null_count == len(column):
        return np.full(len(column), null, dtype=np.int64)
    values = column.fill_null(null) if column.null_count else column
    found: I64 = values.to_numpy().astype(np.int64, copy=False)
    return found


def day_numbers(column: pa.ChunkedArray) -> I32:
    """A date column as day numbers (a read-only view when it can be)."""
    values: I32 = column.cast(pa.int32()).to_numpy().astype(np.int32, copy=False)
    return values


def search_rows(rid: I64, owners: I64) -> I64:
    """Each owner's row among ``rid`` (ascending), -1 when not there."""
    if len(rid) == 0:
        return np.full(len(owners), -1, dtype=np.intp)
    found = np.minimum(np.searchsorted(rid, owners), len(rid) - 1)
    located: I64 = np.where(rid[found] == owners, found, -1)
    return located


class SubjectLookup:
    """Birth years, profile dates and suspensions by slot; profile facts: the newest of
    each wins."""

    def __init__(
        self,
        rid: I64,
        residents: pa.Table,
        profiles: pa.Table,
        suspensions: Sequence[tuple[int, Suspension]] = (),
        find: Callable[[I64, I64], I64] | None = None,
    ) -> None:
        """``find(rid, owners)``: each owner's row among ``rid``, -1 when not there
        (by default a binary search: ``rid`` ascending)."""
        find = find or search_rows
        self.birth_year = ints(residents["birth_year"], null=-1)
        self.profile: dict[int, dict[str, dt.date]] = defaultdict(dict)
        self.suspensions: dict[int, list[Suspension]] = defaultdict(list)
        if suspensions:
            owners = np.array([resident for resident, _ in suspensions], dtype=np.int64)
            for slot, (_, fact) in zip(find(rid, owners).tolist(), suspensions, strict=True):
                if slot >= 0:
                    self.suspensions[slot].append(fact)
        if profiles.num_rows:
            slots = find(rid, ints(profiles["resident_id"]))
            for slot, attribute, value in zip(
                slots.tolist(),
                profiles["attribute"].to_pylist(),
                profiles["value"].to_pylist(),
                strict=True,
            ):
                if slot >= 0:  # not a resident read here otherwise
                    self.profile[slot][attribute] = value

    def __getitem__(self, slot: int) -> Subject:
        year = int(self.birth_year[slot])
        return Subject(
            birth_year=None if year < 0 else year,
            profile=self.profile.get(slot, {}),
            suspensions=tuple(self.suspensions.get(slot, ())),
        )


class Bucket:
    """The bucket's records as columns (sorted by resident, then id) and their plans."""

    def __init__(
        self,
        records: pa.Table,
        slot: I64,
        n: int,
        compiled: Compiled,
        suspended: frozenset[int] = frozenset(),
        order: I64 | None = None,
    ) -> None:
        """``slot``: each row's resident, in order; ``order``: the row of ``records`` at
        each place of that order, only the rows scored (None: ``records`` are those rows,
        in order). The columns are taken as NumPy arrays, cheaper than filtering or
        reordering the Arrow table."""
        self.records, self.slot, self.n, self.c = records, slot, n, compiled
        self.order = order
        self.T = days(compiled.as_of)
        self.id = self._ordered(ints(records["id"]))
        self.act = self._ordered(day_numbers(records["act_date"]))
        self.decision = self._ordered(day_numbers(records["decision_date"]))
        self.value = self._ordered(records["value"].to_numpy())
        self.department = self._codes(records["department"])
        metric = self._codes(records["metric"])
        self.kind = self._codes(records["kind"])
        self.severity = self._codes(records["severity"])
        self.incident = self._codes(records["incident_ref"])
        supersedes = self._ordered(ints(records["supersedes_id"]))
        retraction = self._is(self.kind, "retraction")
        repair = self._is(self.kind, "repair")  # ends the row it names; replaces nothing
        self.current = (
            ~retraction & ~repair & ~np.isin(self.id, supersedes[(supersedes >= 0) & ~repair])
        )
        if suspended:  # set aside on the scoring date: read as if not reported
            self.current &= ~np.isin(self.id, np.fromiter(suspended, dtype=np.int64))
        self.version = compiled.version_of(self.act)
        ids = np.array([compiled.metric_ids.get(m, -1) for m in metric.values], dtype=np.int32)
        # lookups by intp indices (NumPy converts any other index type first, every time)
        self.metric = ids[metric.codes.astype(np.intp)] if ids.size else np.zeros(0, np.int32)
        self.entry = compiled.entries_of(self.version, self.metric)
        self.bad = self.entry < 0  # the reference scorer raises the policy's own error
        e = np.maximum(self.entry, 0).astype(np.intp)
        table = EntryTable(compiled)
        self.scored = table.scored[e] & ~self.bad
        self.points, expiry = self._effects(table, e)
        self.end, repair_from = self._ends(table, e, expiry)
        self._fulfilment(table, e, repair_from)
        self._repaired(np.flatnonzero(repair & (supersedes >= 0)), supersedes)
        self.cycle = table.cycle[e] & self.current
        self.duplicate = self._repeats()
        self.timeline = (
            self.current
            & self.scored
            & ~self.duplicate
            & (self.act <= self.T)
            & (self.end > self.act)
        )
        self.reduction = table.reduction[e]
        self.measured = table.measures[e]
        self.cleared = table.cleared[e]
        self.e = e
        self.cap_of = np.full(len(self.id), -1, dtype=np.intp)  # set by needs_timeline

    def _ordered(self, values: Any) -> Any:
        return values if self.order is None else values[self.order]

    def _codes(self, column: pa.ChunkedArray) -> Codes:
        found = codes(column)
        return found if self.order is None else Codes(found.codes[self.order], found.values)

    def rows(self, start: int, stop: int) -> pa.Table:
        """The Arrow rows at places ``start`` to ``stop`` of the order."""
        if self.order is None:
            return self.records.slice(start, stop - start)
        return self.records.take(pa.array(self.order[start:stop]))

    def _is(self, codes: Codes, value: str) -> B:
        if value not in codes.values:
            return np.zeros(len(codes.codes), dtype=bool)
        found: B = codes.codes == codes.values.index(value)
        return found

    def _effects(self, table: EntryTable, e: I64) -> tuple[I64, I32]:
        """Points and expiry period index of every current record (Metric.effect)."""
        wanted = self.current & ~self.bad
        fixed = wanted & table.fixed[e] & (self.severity.codes < 0)
        points: I64 = np.where(fixed, table.fixed_points[e], 0)
        expiry: I32 = np.where(fixed, table.fixed_expiry[e], np.int32(-1))
        other = np.flatnonzero(wanted & ~fixed)
        if other.size:  # once per distinct (entry, value, severity), remembered across
            values, by_value = np.unique(self.value[other], return_inverse=True)  # buckets
            width = len(self.severity.values) + 1
            key = (e[other].astype(np.int64) * len(values) + by_value.reshape(-1)) * width
            unique, inverse = np.unique(key + self.severity.codes[other] + 1, return_inverse=True)
            found = [
                self._effect(
                    int(k // width // len(values)),
                    float(values[k // width % len(values)]),
                    int(k % width) - 1,
                )
                for k in unique.tolist()
            ]
            found_points = np.array([f[0] for f in found], dtype=np.int64)
            found_expiry = np.array([f[1] for f in found], dtype=np.int32)
            failed = np.array([f[2] for f in found], dtype=bool)
            inverse = inverse.reshape(-1)
            points[other] = found_points[inverse]
            expiry[other] = found_expiry[inverse]
            self.bad[other[failed[inverse]]] = True
        return points, expiry

    def _effect(self, e: int, value: float, sev: int) -> tuple[int, int, bool]:
        """Points, expiry period index and refusal of one (entry, value, severity)."""
        severity = self.severity.values[sev] if sev >= 0 else None
        known = self.c.effects.get((e, value, severity))
        if known is not None:
            return known
        entry = self.c.entries[e]
        metric = self.c.versions[entry.version].metrics[entry.code]
        try:
            points = metric.effect(value, severity).points
        except OsmanthusError:  # the reference scorer raises it again
            found = (0, -1, True)
        else:
            expiry = (
                self.c.severity_period(entry.version, entry.code, severity)
                if severity is not None
                else entry.fixed_expiry
            )
            found = (points, expiry, False)
        self.c.effects[e, value, severity] = found
        return found

    def _after(self, period: I32, start: I32, mask: B) -> I32:
        """``Period.after(start)`` where ``mask``, per row's period index; NEVER elsewhere."""
        return self.c.periods.after(period, start, mask)

    def _ends(self, table: EntryTable, e: I64, expiry: I32) -> tuple[I32, I32]:
        live = self.current & ~self.bad
        base = np.where(table.from_act[e], self.act, self.decision)
        end = self._after(expiry, base, live)
        self.cycle_expiry = live & (expiry == -2)
        tier = live & (table.max_life[e] >= 0)
        end = np.minimum(end, self._after(table.max_life[e], base, tier))
        repair_from = self._after(table.min_period[e], base, tier)
        return end, repair_from

    def _fulfilment(self, table: EntryTable, e: I64, repair_from: I32) -> None:
        """End early the records an obligation-fulfilled record names (same incident)."""
        live = self.current & ~self.bad & (self.incident.codes >= 0)
        ended = np.flatnonzero(live & table.ends_early[e])
        others = np.flatnonzero(live)
        if ended.size == 0:
            return
        left = pa.table({"s": self.slot[ended], "i": self.incident.codes[ended], "r": ended})
        right = pa.table({"s": self.slot[others], "i": self.incident.codes[others], "o": others})
        pairs = left.join(right, ["s", "i"])
        r = pairs["r"].to_numpy()
        o = pairs["o"].to_numpy()
        c = self.c
        allowed = np.array(
            [
                (int(self.version[a]), int(self.metric[b]), int(self.metric[a])) in c.fulfils
                for a, b in zip(r.tolist(), o.tolist(), strict=True)
            ],
            dtype=bool,
        )
        ok = (r != o) & (self.act[o] >= self.act[r]) & allowed
        r, o = r[ok], o[ok]
        if r.size == 0:
            return
        fulfilled = np.full(len(self.id), NEVER, dtype=np.int32)
        np.minimum.at(fulfilled, r, self.act[o])
        hit = fulfilled < NEVER
        self.end[hit] = np.minimum(self.end[hit], np.maximum(fulfilled[hit], repair_from[hit]))

    def _repaired(self, repairs: I64, supersedes: I64) -> None:
        """End each repaired record on its repair's act date (the grant date)."""
        if repairs.size == 0:
            return
        granted: dict[int, int] = {}
        for target, day in zip(
            supersedes[repairs].tolist(), self.act[repairs].tolist(), strict=True
        ):
            granted[target] = min(day, granted.get(target, day))
        for i in np.flatnonzero(np.isin(self.id, list(granted)) & self.current).tolist():
            self.end[i] = min(int(self.end[i]), granted[int(self.id[i])])

    def _repeats(self) -> B:
        """Records repeating an incident another record scores (the most points win)."""
        rows = np.flatnonzero(
            self.current & self.scored & (self.act <= self.T) & (self.incident.codes >= 0)
        )
        duplicate = np.zeros(len(self.id), dtype=bool)
        if rows.size < 2:
            return duplicate
        order = np.lexsort(
            (self.id[rows], -np.abs(self.points[rows]), self.incident.codes[rows], self.slot[rows])
        )
        rows = rows[order]
        same = (self.slot[rows][1:] == self.slot[rows][:-1]) & (
            self.incident.codes[rows][1:] == self.incident.codes[rows][:-1]
        )
        duplicate[rows[1:][same]] = True
        return duplicate

    # -- which residents need the step-by-step timeline ---------------------------------


class EntryTable:
    """The compiled entries as arrays, indexed by entry number."""

    def __init__(self, c: Compiled) -> None:
        entries = c.entries or []

        def col(name: str, dtype: type) -> Any:
            values = [getattr(x, name) for x in entries] or [0]
            return np.array(values, dtype=dtype)

        self.scored = col("scored", bool)
        self.reduction = col("reduction", bool)
        self.measures = col("measures", bool)
        self.cycle = col("cycle", bool)
        self.cleared = col("cleared", bool)
        self.from_act = col("expiry_from_act", bool)
        self.ends_early = col("ends_early", bool)
        self.fixed = np.array([x.fixed_points is not None for x in entries] or [False], dtype=bool)
        self.fixed_points = np.array([x.fixed_points or 0 for x in entries] or [0], dtype=np.int64)
        self.fixed_expiry = col("fixed_expiry", np.int32)
        self.max_life = col("repair_max_life", np.int32)
        self.min_period = col("repair_min_period", np.int32)
