"""The population semantics: one bucket of residents scored at once.

This module is the one definition both engines execute: DuckDB and Spark only read the
lake, hand each bucket's rows here as Arrow tables, and collect what comes back.

For most residents the score is computed column by column (numpy over the whole
bucket): the records that count are those current (not superseded, not a retraction),
scored, not repeating an incident already counted, acted by the scoring date and not yet
ended; calendar-window caps hold back what passes them, in act order, by a running sum
per window; the final clamp, grade, forced grade, perks and scope follow the version in
force on the scoring date. A resident whose records need the step-by-step timeline
(cycles, reductions with conditions, staged measures, a running clamp that may bind,
rolling or changing caps, two caps binding one record) or whose records the policy does
not know is scored by the reference scorer itself (:func:`osmanthus.scoring.explain`),
so the answer is the same by construction; the parity suite checks the column path
against it on generated policies and populations.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus.errors import OsmanthusError
from osmanthus.ledger import StoredRecord, Subject
from osmanthus.population.compiled import NEVER, Compiled, days
from osmanthus.scoring import explain

__all__ = ["CONTRIBUTION", "RESULT_SCHEMA", "score_bucket"]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]

CONTRIBUTION = pa.struct([("department", pa.string()), ("points", pa.int32())])
RESULT_SCHEMA = pa.schema(
    [
        ("resident_id", pa.int64()),
        ("district", pa.string()),
        ("birth_year", pa.int16()),
        ("score", pa.int32()),
        ("grade", pa.string()),
        ("measure", pa.string()),
        ("measures", pa.int16()),
        ("perks", pa.int64()),
        ("reference", pa.bool_()),
        ("contributions", pa.list_(CONTRIBUTION)),
    ]
)


@dataclass
class _Codes:
    """A text column as integer codes (-1 for null) and its distinct values."""

    codes: I32
    values: list[str]


def _codes(column: pa.ChunkedArray | pa.Array) -> _Codes:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    indices = array.indices.to_numpy(zero_copy_only=False)
    codes = np.where(array.indices.is_null().to_numpy(zero_copy_only=False), -1, indices)
    return _Codes(codes.astype(np.int32), array.dictionary.to_pylist())


def _ints(column: pa.ChunkedArray, null: int = -1) -> I64:
    values: I64 = column.fill_null(null).to_numpy().astype(np.int64)
    return values


def _day_numbers(column: pa.ChunkedArray) -> I32:
    values: I32 = column.cast(pa.int32()).to_numpy().astype(np.int32)
    return values


def _ascending(values: I64) -> bool:
    return bool(np.all(values[1:] > values[:-1]))


def _known(table: pa.Table, column: str, known_at: dt.datetime | None) -> pa.Table:
    if known_at is None:
        return table
    return table.filter(
        pc.less_equal(table[column], pa.scalar(known_at, pa.timestamp("us", "UTC")))
    )


def score_bucket(
    records: pa.Table,
    residents: pa.Table,
    profiles: pa.Table,
    compiled: Compiled,
    known_at: dt.datetime | None = None,
) -> pa.Table:
    """Score every resident of one bucket on ``compiled.as_of`` as known at ``known_at``."""
    residents = _known(residents, "registered_at", known_at)
    if not _ascending(_ints(residents["id"])):
        residents = residents.sort_by("id")
    records = _known(records, "recorded_at", known_at)
    profiles = _known(profiles, "recorded_at", known_at).sort_by("id")
    rid = _ints(residents["id"])
    n = len(rid)
    slot = np.searchsorted(rid, _ints(records["resident_id"]))
    slot = np.minimum(slot, max(n - 1, 0))
    keep = (rid[slot] == _ints(records["resident_id"])) if n else np.zeros(len(slot), bool)
    if not keep.all():
        records = records.filter(pa.array(keep))
        slot = slot[keep]
    ids = _ints(records["id"])
    steps = np.diff(slot)
    if not np.all((steps > 0) | ((steps == 0) & (np.diff(ids) > 0))):  # not yet in order
        order = np.lexsort((ids, slot))
        records, slot = records.take(pa.array(order)), slot[order]
    work = _Bucket(records, slot, n, compiled)
    subjects = _SubjectLookup(rid, residents, profiles)
    fallback = work.fallback()
    out = _Result(n)
    work.vector_path(out, ~fallback, residents, subjects)
    for i in np.flatnonzero(fallback):
        work.reference_path(out, int(i), subjects[int(i)], known_at)
    return out.table(rid, residents)


class _SubjectLookup:
    """Birth years and profile dates by slot; profile facts: the newest of each wins."""

    def __init__(self, rid: I64, residents: pa.Table, profiles: pa.Table) -> None:
        self.birth_year = _ints(residents["birth_year"], null=-1)
        self.profile: dict[int, dict[str, dt.date]] = defaultdict(dict)
        if profiles.num_rows:
            slots = np.searchsorted(rid, _ints(profiles["resident_id"]))
            for slot, attribute, value in zip(
                slots.tolist(),
                profiles["attribute"].to_pylist(),
                profiles["value"].to_pylist(),
                strict=True,
            ):
                if slot < len(rid):
                    self.profile[slot][attribute] = value

    def __getitem__(self, slot: int) -> Subject:
        year = int(self.birth_year[slot])
        return Subject(birth_year=None if year < 0 else year, profile=self.profile.get(slot, {}))


class _Result:
    """Per-resident outputs, filled by both paths."""

    def __init__(self, n: int) -> None:
        self.score = np.zeros(n, dtype=np.int32)
        self.scored = np.zeros(n, dtype=bool)
        self.grade: list[str | None] = [None] * n
        self.measure: list[str | None] = [None] * n
        self.measures = np.zeros(n, dtype=np.int16)
        self.perks = np.zeros(n, dtype=np.int64)
        self.reference = np.zeros(n, dtype=bool)
        # per-department points as flat columns: resident slot, department, points
        self.parts: list[tuple[I64, list[str], I64]] = []

    def table(self, rid: I64, residents: pa.Table) -> pa.Table:
        return pa.table(
            {
                "resident_id": pa.array(rid, pa.int64()),
                "district": residents["district"].cast(pa.string()),
                "birth_year": residents["birth_year"].cast(pa.int16()),
                "score": pa.array(self.score, pa.int32(), mask=~self.scored),
                "grade": pa.array(self.grade, pa.string()),
                "measure": pa.array(self.measure, pa.string()),
                "measures": pa.array(self.measures, pa.int16()),
                "perks": pa.array(self.perks, pa.int64()),
                "reference": pa.array(self.reference, pa.bool_()),
                "contributions": self._contributions(),
            },
            schema=RESULT_SCHEMA,
        )

    def _contributions(self) -> pa.ListArray:
        n = len(self.score)
        if not self.parts:
            return pa.ListArray.from_arrays(
                pa.array(np.zeros(n + 1, np.int32)), pa.array([], CONTRIBUTION)
            )
        slots = np.concatenate([p[0] for p in self.parts])
        names = [name for p in self.parts for name in p[1]]
        points = np.concatenate([p[2] for p in self.parts])
        order = np.argsort(slots, kind="stable")
        offsets = np.searchsorted(slots[order], np.arange(n + 1)).astype(np.int32)
        values = pa.StructArray.from_arrays(
            [
                pa.array(names, pa.string()).take(pa.array(order)),
                pa.array(points[order], pa.int32()),
            ],
            fields=list(CONTRIBUTION),
        )
        return pa.ListArray.from_arrays(pa.array(offsets), values)


class _Bucket:
    """The bucket's records as columns (sorted by resident, then id) and their plans."""

    def __init__(self, records: pa.Table, slot: I64, n: int, compiled: Compiled) -> None:
        self.records, self.slot, self.n, self.c = records, slot, n, compiled
        self.T = days(compiled.as_of)
        self.id = _ints(records["id"])
        self.act = _day_numbers(records["act_date"])
        self.decision = _day_numbers(records["decision_date"])
        self.value = records["value"].to_numpy()
        self.department = _codes(records["department"])
        metric = _codes(records["metric"])
        self.kind = _codes(records["kind"])
        self.severity = _codes(records["severity"])
        self.incident = _codes(records["incident_ref"])
        supersedes = _ints(records["supersedes_id"])
        retraction = self._is(self.kind, "retraction")
        self.current = ~retraction & ~np.isin(self.id, supersedes[supersedes >= 0])
        self.version = compiled.version_of(self.act)
        ids = np.array([compiled.metric_ids.get(m, -1) for m in metric.values], dtype=np.int32)
        self.metric = ids[metric.codes] if len(metric.values) else np.zeros(0, np.int32)
        known = (self.version >= 0) & (self.metric >= 0)
        self.entry = np.full(len(self.id), -1, dtype=np.int32)
        self.entry[known] = compiled.entry_of[self.version[known], self.metric[known]]
        self.bad = self.entry < 0  # the reference scorer raises the policy's own error
        e = np.maximum(self.entry, 0)
        table = _EntryTable(compiled)
        self.scored = table.scored[e] & ~self.bad
        self.points, expiry = self._effects(table, e)
        self.end, repair_from = self._ends(table, e, expiry)
        self._fulfilment(table, e, repair_from)
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
        self.e = e

    def _is(self, codes: _Codes, value: str) -> B:
        if value not in codes.values:
            return np.zeros(len(codes.codes), dtype=bool)
        found: B = codes.codes == codes.values.index(value)
        return found

    def _effects(self, table: _EntryTable, e: I32) -> tuple[I64, I32]:
        """Points and expiry period index of every current record (Metric.effect)."""
        points = np.zeros(len(e), dtype=np.int64)
        expiry = np.full(len(e), -1, dtype=np.int32)
        wanted = self.current & ~self.bad
        fixed = wanted & table.fixed[e] & (self.severity.codes < 0)
        points[fixed] = table.fixed_points[e[fixed]]
        expiry[fixed] = table.fixed_expiry[e[fixed]]
        other = np.flatnonzero(wanted & ~fixed)
        if other.size:
            keys = np.stack(
                [e[other].astype(np.float64), self.value[other], self.severity.codes[other]]
            )
            unique, inverse = np.unique(keys, axis=1, return_inverse=True)
            found_points = np.zeros(unique.shape[1], dtype=np.int64)
            found_expiry = np.full(unique.shape[1], -1, dtype=np.int32)
            failed = np.zeros(unique.shape[1], dtype=bool)
            for k in range(unique.shape[1]):
                entry = self.c.entries[int(unique[0, k])]
                sev = int(unique[2, k])
                severity = self.severity.values[sev] if sev >= 0 else None
                metric = self.c.versions[entry.version].metrics[entry.code]
                try:
                    effect = metric.effect(float(unique[1, k]), severity)
                except OsmanthusError:  # the reference scorer raises it again
                    failed[k] = True
                    continue
                found_points[k] = effect.points
                if severity is not None:
                    found_expiry[k] = self.c.severity_period(entry.version, entry.code, severity)
                else:
                    found_expiry[k] = entry.fixed_expiry
            inverse = inverse.reshape(-1)
            points[other] = found_points[inverse]
            expiry[other] = found_expiry[inverse]
            self.bad[other[failed[inverse]]] = True
        return points, expiry

    def _after(self, period: I32, start: I32, mask: B) -> I32:
        """``Period.after(start)`` where ``mask``, per row's period index; NEVER elsewhere."""
        out = np.full(len(start), NEVER, dtype=np.int32)
        for p in np.unique(period[mask & (period >= 0)]):
            rows = mask & (period == p)
            out[rows] = self.c.periods[int(p)].after(start[rows])
        return out

    def _ends(self, table: _EntryTable, e: I32, expiry: I32) -> tuple[I32, I32]:
        live = self.current & ~self.bad
        base = np.where(table.from_act[e], self.act, self.decision)
        end = self._after(expiry, base, live)
        self.cycle_expiry = live & (expiry == -2)
        tier = live & (table.max_life[e] >= 0)
        end = np.minimum(end, self._after(table.max_life[e], base, tier))
        repair_from = self._after(table.min_period[e], base, tier)
        return end, repair_from

    def _fulfilment(self, table: _EntryTable, e: I32, repair_from: I32) -> None:
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

    def fallback(self) -> B:
        c, version = self.c, self.c.in_force
        scale = version.scale
        flags = self.bad | self.cycle | self.cycle_expiry
        tl = self.timeline
        flags |= tl & self.reduction
        worse = self.points < 0 if scale.direction == "higher_is_better" else self.points > 0
        flags |= tl & self.measured & worse
        side = (self.points > 0).astype(np.int64)
        cap = np.where(tl & (self.points != 0), c.binding[self.e, side], -1)
        flags |= cap == -2
        self.cap_of = np.where(cap >= 0, cap, -1).astype(np.int32)
        resident = np.zeros(self.n, dtype=bool)
        resident[self.slot[flags]] = True
        if scale.clamp == "running":
            gains = np.zeros(self.n, dtype=np.int64)
            losses = np.zeros(self.n, dtype=np.int64)
            np.add.at(gains, self.slot[tl], np.maximum(self.points[tl], 0))
            np.add.at(losses, self.slot[tl], np.minimum(self.points[tl], 0))
            resident |= (scale.baseline + gains > scale.ceiling) | (
                scale.baseline + losses < scale.floor
            )
        return resident

    # -- the column path ------------------------------------------------------------------

    def _cap_order(self, rows: I64, name_id: I64, sign: I64) -> I64:
        """Order of capped rows: by cap, resident, sign, then act date, decision date and
        id (the order the timeline applies them). One sort of a packed key when the
        values fit in 63 bits; rows arrive by resident and id, and the sort is stable."""
        act = self.act[rows].astype(np.int64)
        lag = self.decision[rows].astype(np.int64) - act
        span = int(act.max() - act.min()) if act.size else 0
        if (
            act.size
            and span < 1 << 17
            and int(lag.min()) >= 0
            and int(lag.max()) < 1 << 12
            and self.n < 1 << 24
            and int(name_id.max()) < 1 << 4
        ):
            key = (((name_id << 24) | self.slot[rows]) << 1) | (sign > 0)
            key = (((key << 17) | (act - act.min())) << 12) | lag
            found: I64 = np.argsort(key, kind="stable")
            return found
        return np.lexsort((self.id[rows], self.decision[rows], act, sign, self.slot[rows], name_id))

    def _capped(self, points: I64, mask: B) -> I64:
        """Points after calendar-window caps, applied in act order within each window."""
        rows = np.flatnonzero(mask & (self.cap_of >= 0))
        if rows.size == 0:
            return points
        cap_index = self.cap_of[rows]
        name_id = self.c.cap_name[cap_index]
        kind = self.c.cap_window[cap_index]
        when = self.act[rows].astype("datetime64[D]")
        window = np.where(
            kind == 0,
            self.act[rows].astype(np.int64),
            np.where(
                kind == 1,
                when.astype("datetime64[M]").astype(np.int64),
                when.astype("datetime64[Y]").astype(np.int64),
            ),
        )
        sign = np.sign(points[rows])
        limit = self.c.cap_limit[cap_index, (sign > 0).astype(np.int64)]
        order = self._cap_order(rows, name_id, sign)
        rows, name_id, window, sign, limit = (
            rows[order],
            name_id[order],
            window[order],
            sign[order],
            limit[order],
        )
        amount = np.abs(points[rows])
        start = np.r_[
            True,
            (name_id[1:] != name_id[:-1])
            | (self.slot[rows][1:] != self.slot[rows][:-1])
            | (window[1:] != window[:-1])
            | (sign[1:] != sign[:-1]),
        ]
        total = np.cumsum(amount)
        group = np.cumsum(start) - 1
        before = (total - amount)[start][group]  # running total before each group
        used = np.minimum(total - before, limit)
        previous = np.where(start, 0, np.r_[0, used[:-1]])
        capped = points.copy()
        capped[rows] = (used - previous) * sign
        return capped

    def vector_path(
        self, out: _Result, chosen: B, residents: pa.Table, subjects: _SubjectLookup
    ) -> None:
        version = self.c.in_force
        scale = version.scale
        mine = chosen[self.slot] if self.n else np.zeros(0, bool)
        timeline = self.timeline & mine
        points = self._capped(self.points, timeline)
        active = timeline & (self.end > self.T)
        total = np.zeros(self.n, dtype=np.int64)
        np.add.at(total, self.slot[active], points[active])
        final = np.clip(scale.baseline + total, scale.floor, scale.ceiling)
        in_scope = self._in_scope(subjects) & chosen
        out.score[chosen] = final[chosen]
        out.scored[chosen] = in_scope[chosen]
        grades = self._grades(final, active, in_scope)
        perks = self._perks(final, grades, in_scope)
        for i in np.flatnonzero(chosen).tolist():
            out.grade[i] = grades[i]
        out.perks[chosen] = perks[chosen]
        if active.any():
            rows = np.flatnonzero(active)
            key = self.slot[rows] * (len(self.department.values) + 1) + self.department.codes[rows]
            unique, inverse = np.unique(key, return_inverse=True)
            sums = np.zeros(len(unique), dtype=np.int64)
            np.add.at(sums, inverse, points[rows])
            width = len(self.department.values) + 1
            out.parts.append(
                (
                    (unique // width).astype(np.int64),
                    [self.department.values[k] for k in (unique % width).tolist()],
                    sums,
                )
            )

    def _in_scope(self, subjects: _SubjectLookup) -> B:
        scope = self.c.in_force.scope
        ok = np.ones(self.n, dtype=bool)
        if scope.min_age is not None:
            years = subjects.birth_year
            ok &= (years >= 0) & (self.c.as_of.year - years >= scope.min_age)
        if scope.min_residence is not None:
            for i in range(self.n):
                since = subjects.profile.get(i, {}).get(scope.residence_attribute)
                if since is None or scope.min_residence.after(since) > self.c.as_of:
                    ok[i] = False
        return ok

    def _grades(self, final: I64, active: B, in_scope: B) -> list[str | None]:
        scale = self.c.in_force.scale
        if not scale.bands:
            return [None] * self.n
        names = [scale.grade(s) for s in range(scale.floor, scale.ceiling + 1)]
        rank = {band.name: scale.band_rank(band.name) for band in scale.bands}
        grades: list[str | None] = [
            names[int(s) - scale.floor] if ok else None
            for s, ok in zip(final.tolist(), in_scope.tolist(), strict=True)
        ]
        metrics = self.c.in_force.metrics
        forcing = {
            self.c.metric_ids[code]: m.forces_grade
            for code, m in metrics.items()
            if m.forces_grade is not None and code in self.c.metric_ids
        }
        if forcing:
            for row in np.flatnonzero(active & np.isin(self.metric, list(forcing))).tolist():
                i = int(self.slot[row])
                forced = forcing[int(self.metric[row])]
                current = grades[i]
                if in_scope[i] and (current is None or rank[forced] < rank[current]):
                    grades[i] = forced
        return grades

    def _perks(self, final: I64, grades: list[str | None], in_scope: B) -> I64:
        version = self.c.in_force
        mask = np.zeros(self.n, dtype=np.int64)
        grade_array = np.array(grades, dtype=object)
        for bit, perk in enumerate(version.perks.values()):
            if perk.sunset is not None and perk.sunset < self.c.as_of:
                continue
            if perk.essential:
                eligible = np.ones(self.n, dtype=bool)
            else:
                eligible = in_scope.copy()
                if perk.min_score is not None:
                    eligible &= final >= perk.min_score
                if perk.max_score is not None:
                    eligible &= final <= perk.max_score
                if perk.grades:
                    eligible &= np.isin(grade_array, list(perk.grades))
            mask[eligible] |= np.int64(1) << bit
        return mask

    # -- the reference path ---------------------------------------------------------------

    def reference_path(
        self, out: _Result, slot: int, subject: Subject, known_at: dt.datetime | None
    ) -> None:
        lo, hi = np.searchsorted(self.slot, [slot, slot + 1])
        rows = self.records.slice(int(lo), int(hi - lo)).to_pylist()
        stored = [_stored(row) for row in rows]
        result = explain(stored, self.c.policy, self.c.as_of, known_at=known_at, subject=subject)
        out.reference[slot] = True
        out.scored[slot] = result.score is not None
        out.score[slot] = result.score or 0
        out.grade[slot] = result.grade
        out.measures[slot] = len(result.measures)
        out.measure[slot] = result.measures[-1].name if result.measures else None
        out.perks[slot] = sum(1 << bit for bit, p in enumerate(result.perks) if p.eligible)
        by_department: dict[str, int] = defaultdict(int)
        for line in result.lines:
            if line.status == "counted":
                by_department[line.record.department] += line.counted
        ordered = sorted(by_department.items())
        out.parts.append(
            (
                np.full(len(ordered), slot, dtype=np.int64),
                [d for d, _ in ordered],
                np.array([p for _, p in ordered], dtype=np.int64),
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


class _EntryTable:
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
        self.from_act = col("expiry_from_act", bool)
        self.ends_early = col("ends_early", bool)
        self.fixed = np.array([x.fixed_points is not None for x in entries] or [False], dtype=bool)
        self.fixed_points = np.array([x.fixed_points or 0 for x in entries] or [0], dtype=np.int64)
        self.fixed_expiry = col("fixed_expiry", np.int32)
        self.max_life = col("repair_max_life", np.int32)
        self.min_period = col("repair_min_period", np.int32)
