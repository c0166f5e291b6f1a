"""The column path: which residents it can score, and their scores.

For most residents the score is computed column by column over the whole bucket: the
records that count are current, scored, not repeating an incident, acted by the scoring
date and not yet ended; calendar-window caps hold back what passes them, in act order, by
a running sum per window; the final clamp, grade, forced grade, perks and scope follow
the version in force on the scoring date. :func:`needs_timeline` names the residents
whose records need the step-by-step timeline instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from osmanthus.population.columns import I32, I64, B, Bucket, SubjectLookup
from osmanthus.population.result import Labels, Result

__all__ = ["needs_timeline", "score_columns"]


def needs_timeline(b: Bucket) -> B:
    """Residents whose records need the step-by-step timeline (the reference scorer)."""
    c, version = b.c, b.c.in_force
    scale = version.scale
    flags = b.bad | b.cycle | b.cycle_expiry
    tl = b.timeline
    flags |= tl & b.reduction
    worse = b.points < 0 if scale.direction == "higher_is_better" else b.points > 0
    flags |= tl & b.measured & worse
    # a clean-period clearance: its end depends on later acts; a covered record ended
    # without it has ended with it too (its end is the earliest of its ends), so only the
    # records still counting need the timeline (and the day that changes is their end,
    # which next_change holds)
    flags |= tl & b.cleared & (b.end > b.T)
    side = (b.points > 0).astype(np.int64)
    cap = np.where(tl & (b.points != 0), c.binding[b.e, side], -1)
    flags |= cap == -2
    b.cap_of = np.where(cap >= 0, cap, -1).astype(np.intp)
    resident = np.zeros(b.n, dtype=bool)
    resident[b.slot[flags]] = True
    if scale.clamp == "running":
        gains = np.zeros(b.n, dtype=np.int64)
        losses = np.zeros(b.n, dtype=np.int64)
        np.add.at(gains, b.slot[tl], np.maximum(b.points[tl], 0))
        np.add.at(losses, b.slot[tl], np.minimum(b.points[tl], 0))
        resident |= (scale.baseline + gains > scale.ceiling) | (
            scale.baseline + losses < scale.floor
        )
    return resident


# -- the column path ------------------------------------------------------------------


def _cap_order(b: Bucket, rows: I64, name_id: I64, sign: I64) -> I64:
    """Order of capped rows: by cap, resident, sign, then act date, decision date and
    id (the order the timeline applies them). One sort of a packed key when the
    values fit in 63 bits; rows arrive by resident and id, and the sort is stable."""
    act = b.act[rows].astype(np.int64)
    lag = b.decision[rows].astype(np.int64) - act
    span = int(act.max() - act.min()) if act.size else 0
    if (
        act.size
        and span < 1 << 17
        and int(lag.min()) >= 0
        and int(lag.max()) < 1 << 12
        and b.n < 1 << 24
        and int(name_id.max()) < 1 << 4
    ):
        key = (((name_id << 24) | b.slot[rows]) << 1) | (sign > 0)
        key = (((key << 17) | (act - act.min())) << 12) | lag
        found: I64 = np.argsort(key, kind="stable")
        return found
    return np.lexsort((b.id[rows], b.decision[rows], act, sign, b.slot[rows], name_id))


def _may_bind(b: Bucket, points: I64, rows: I64) -> I64:
    """The capped ``rows`` of the residents a cap may hold back: those whose points
    under one cap on one side, summed over all its windows, pass its limit. Where the sum
    stays within the limit every window's running sum does too and nothing is held back,
    so most residents need no ordering of their rows (a cap's terms are the same in every
    version, or ``binding`` sends the record to the timeline)."""
    if rows.size == 0:
        return rows
    cap_index = b.cap_of[rows]
    side = (points[rows] > 0).astype(np.int64)
    names = int(b.c.cap_name.max()) + 1
    key = (b.slot[rows] * names + b.c.cap_name[cap_index]) * 2 + side
    total = np.bincount(key, weights=np.abs(points[rows]), minlength=b.n * names * 2)
    over = total[key] > b.c.cap_limit[cap_index, side]
    if not over.any():
        return rows[:0]
    held = np.zeros(b.n, dtype=bool)
    held[b.slot[rows[over]]] = True
    found: I64 = rows[held[b.slot[rows]]]
    return found


def _capped(b: Bucket, points: I64, mask: B) -> I64:
    """Points after calendar-window and lifetime caps, applied in act order within each
    window (a lifetime cap has one window per resident)."""
    rows = _may_bind(b, points, np.flatnonzero(mask & (b.cap_of >= 0)))
    if rows.size == 0:
        return points
    cap_index = b.cap_of[rows]
    name_id = b.c.cap_name[cap_index]
    kind = b.c.cap_window[cap_index]
    act = b.act[rows]
    window = np.zeros(rows.size, dtype=np.int64)  # kinds: compiled.WINDOW_KINDS
    low = int(act.min())  # the month or year of each day of the span, looked up
    span = np.arange(low, int(act.max()) + 1).astype("datetime64[D]")
    for number, unit in ((0, "D"), (1, "M"), (2, "Y")):  # a lifetime is one window
        where = kind == number
        if where.any():
            table = span.astype(f"datetime64[{unit}]").astype(np.int64)
            window = np.where(where, table[(act - low).astype(np.intp)], window)
    sign = np.sign(points[rows])
    limit = b.c.cap_limit[cap_index, (sign > 0).astype(np.int64)]
    order = _cap_order(b, rows, name_id, sign)
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
        | (b.slot[rows][1:] != b.slot[rows][:-1])
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


def score_columns(b: Bucket, out: Result, chosen: B, subjects: SubjectLookup) -> None:
    """Fill ``out`` for the residents ``chosen`` (those not needing the timeline)."""
    version = b.c.in_force
    scale = version.scale
    mine = chosen[b.slot] if b.n else np.zeros(0, bool)
    timeline = b.timeline & mine
    points = _capped(b, b.points, timeline)
    active = timeline & (b.end > b.T)
    total = _sums(b.slot[active], points[active], b.n)
    final = np.clip(scale.baseline + total, scale.floor, scale.ceiling)
    in_scope = _in_scope(b, subjects) & chosen
    out.score[chosen] = final[chosen]
    out.scored[chosen] = in_scope[chosen]
    grades = _grades(b, final, active, in_scope, out.grade)
    perks = _perks(b, final, grades, out.grade, in_scope)
    out.grade.codes[chosen] = grades[chosen]
    out.perks[chosen] = perks[chosen]
    if active.any():
        rows = np.flatnonzero(active)
        # departments by name, however the column's codes happen to be numbered (a
        # resident's list is the same from a full run and from an incremental one)
        names = sorted(b.department.values)
        rank = np.argsort(np.array(b.department.values, dtype=object)).argsort()
        width = len(names) + 1
        key = b.slot[rows] * width + rank[b.department.codes[rows]]
        unique, inverse = np.unique(key, return_inverse=True)
        counted = points[rows]
        gained = _sums(inverse.reshape(-1), np.maximum(counted, 0), len(unique))
        lost = _sums(inverse.reshape(-1), np.minimum(counted, 0), len(unique))
        out.parts.append(
            (
                (unique // width).astype(np.int64),
                pa.DictionaryArray.from_arrays(
                    pa.array((unique % width).astype(np.int32)), pa.array(names, pa.string())
                ).cast(pa.string()),
                gained,
                lost,
            )
        )


def _sums(groups: I64, values: I64, n: int) -> I64:
    """The sum of ``values`` in each of ``n`` groups (exact: points stay far below 2**53)."""
    found: I64 = np.bincount(groups, weights=values, minlength=n).astype(np.int64)
    return found


def _in_scope(b: Bucket, subjects: SubjectLookup) -> B:
    scope = b.c.in_force.scope
    ok = np.ones(b.n, dtype=bool)
    if scope.min_age is not None:
        years = subjects.birth_year
        ok &= (years >= 0) & (b.c.as_of.year - years >= scope.min_age)
    if scope.min_residence is not None:
        for i in range(b.n):
            since = subjects.profile.get(i, {}).get(scope.residence_attribute)
            if since is None or scope.min_residence.after(since) > b.c.as_of:
                ok[i] = False
    return ok


def _grades(b: Bucket, final: I64, active: B, in_scope: B, labels: Labels) -> I32:
    """Each resident's grade as a code of ``labels`` (-1: none)."""
    scale = b.c.in_force.scale
    if not scale.bands:
        return np.full(b.n, -1, dtype=np.int32)
    table = np.array(
        [labels.code(scale.grade(s)) for s in range(scale.floor, scale.ceiling + 1)], np.int32
    )
    grades: I32 = np.where(in_scope, table[final - scale.floor], -1).astype(np.int32)
    rank = {band.name: scale.band_rank(band.name) for band in scale.bands}
    metrics = b.c.in_force.metrics
    forcing = {
        b.c.metric_ids[code]: (m.forces_grade, m.forces_grade_mode)
        for code, m in metrics.items()
        if m.forces_grade is not None and code in b.c.metric_ids
    }
    if not forcing:
        return grades
    # per resident, the worst band set exactly and the worst band capped (as _grade in
    # the reference scorer): the set band replaces the score's, the cap then pulls down
    worst: dict[tuple[int, str], str] = {}
    for row in np.flatnonzero(active & np.isin(b.metric, list(forcing))).tolist():
        i = int(b.slot[row])
        band, mode = forcing[int(b.metric[row])]
        held = worst.get((i, mode))
        if in_scope[i] and (held is None or rank[band] < rank[held]):
            worst[i, mode] = band
    for (i, how), band in sorted(worst.items(), key=lambda item: item[0][1] == "cap"):
        current = labels.names[grades[i]] if grades[i] >= 0 else None
        if how == "set" or current is None or rank[band] < rank[current]:
            grades[i] = labels.code(band)
    return grades


def _perks(b: Bucket, final: I64, grades: I32, labels: Labels, in_scope: B) -> I64:
    version = b.c.in_force
    mask = np.zeros(b.n, dtype=np.int64)
    for bit, perk in enumerate(version.perks.values()):
        if perk.sunset is not None and perk.sunset < b.c.as_of:
            continue
        if perk.essential:
            eligible = np.ones(b.n, dtype=bool)
        else:
            eligible = in_scope.copy()
            if perk.min_score is not None:
                eligible &= final >= perk.min_score
            if perk.max_score is not None:
                eligible &= final <= perk.max_score
            if perk.grades:
                eligible &= np.isin(grades, [labels.code(g) for g in perk.grades])
        mask |= eligible.astype(np.int64) << bit
    return mask


# -- the reference path ---------------------------------------------------------------
