"""A policy set turned into lookup tables for column-at-a-time scoring.

Everything here is derived from the policy objects themselves: points come from
``Metric.effect`` (evaluated once per distinct input and looked up by array index) and
dates from ``Period.after``'s calendar rule applied to whole arrays of days (a test checks
it against ``Period.after`` day by day), so the vectorised path does not drift from the
reference scorer's arithmetic. What the tables cannot express (cycles, reductions, staged
measures, clean-period clearances, rolling or changing caps) is flagged, and the kernel
leaves those residents to the reference scorer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from osmanthus.policy import Cap, Period, PolicySet, PolicyVersion
from osmanthus.scoring.timeline import version_caps

__all__ = ["EPOCH", "NEVER", "WINDOW_KINDS", "Compiled", "days", "from_days"]

EPOCH = dt.date(1970, 1, 1)
#: The cap windows the column path applies: calendar day, month and year, and lifetime.
WINDOW_KINDS = {"day": 0, "month": 1, "year": 2, "lifetime": 3}
NEVER = np.int32(2**31 - 1)  # "date.max": a record that never ends

I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]


def days(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def from_days(value: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(value))


def period_after(period: Period, start: npt.NDArray[np.int64]) -> I32:
    """``period.after`` of each day of ``start`` (day numbers), by calendar arithmetic on
    whole arrays: days added, or months added with the month-end rule (a start day the
    target month lacks runs to the first of the next month). It is checked equal to
    ``Period.after`` day by day in ``tests/population/test_compiled.py``."""
    if period.unit == "d":
        found: I32 = (start + period.amount).astype(np.int32)
        return found
    day = start.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    day_of_month = day - month.astype("datetime64[D]")  # 0 for the first
    target = month + period.amount * (12 if period.unit == "y" else 1)
    begins = target.astype("datetime64[D]")
    following = (target + 1).astype("datetime64[D]")
    shifted = np.where(begins + day_of_month < following, begins + day_of_month, following)
    ends: I32 = shifted.astype(np.int64).astype(np.int32)
    return ends


_SPAN = 100_000  # days (about 270 years) a period table may span without a second look


class PeriodEnds:
    """``Period.after`` of every period the policy names, for every day of a range,
    computed once and looked up by (period index, day) for all rows at once.

    One :class:`Compiled` is shared by the DuckDB engine's threads. The table and its
    first day are therefore published together, as one tuple in one attribute store, and
    every lookup reads that tuple once: a lookup never pairs a new table with an old first
    day. Two threads widening at once each build their own table; the last one stored
    wins, and a lookup it does not cover widens it again.
    """

    def __init__(self) -> None:
        self.periods: list[Period] = []
        self._span: tuple[int, I32] = (0, np.empty((0, 0), dtype=np.int32))  # first day, table

    def add(self, period: Period) -> int:
        self.periods.append(period)
        self._span = (0, np.empty((0, 0), dtype=np.int32))
        return len(self.periods) - 1

    def after(self, period: I32, start: I32, mask: B) -> I32:
        """``Period.after(start)`` of each row's period index where ``mask``; NEVER
        elsewhere (and for a row without a period)."""
        wanted = mask & (period >= 0)
        count = int(np.count_nonzero(wanted))
        if count < start.size // 2 or count == 0:  # few: look up only those
            few: I32 = np.full(start.size, NEVER, dtype=np.int32)
            if count:
                rows = np.flatnonzero(wanted)
                few[rows] = self.after(period[rows], start[rows], np.ones(rows.size, bool))
            return few
        low, high = int(start.min()), int(start.max())
        narrow = high - low <= _SPAN  # else a row that does not count is dated far off
        if not narrow:  # (a typo a correction replaced, 9999-12-30): only the rows looked
            picked = start[wanted]  # up size the table
            low, high = int(picked.min()), int(picked.max())
        first, table = self._span
        if table.size == 0 or low < first or high >= first + table.shape[1]:
            if table.size:
                low, high = min(low, first), max(high, first + table.shape[1] - 1)
            first = low - 366  # room, so neighbouring buckets rarely rebuild
            table = np.full((len(self.periods) + 1, high + 367 - first), NEVER, dtype=np.int32)
            span = np.arange(first, high + 367, dtype=np.int64)
            for index, value in enumerate(self.periods):  # the last row: no period
                table[index] = period_after(value, span)
            self._span = (first, table)
        # one flat index per row: its period's row (the last: no period), then its day
        which = np.where(wanted, period, len(self.periods)).astype(np.int64)
        which *= table.shape[1]
        if narrow:  # every row's day lies in the table
            which += start
            which -= first
        else:
            which += np.where(wanted, start.astype(np.int64) - first, 0)
        found: I32 = np.take(table.reshape(-1), which)
        return found


@dataclass
class Entry:
    """One metric as one policy version defines it."""

    version: int
    code: str
    scored: bool
    reduction: bool
    fulfilment: bool
    expiry_from_act: bool
    per_unit: bool
    fixed_points: int | None
    fixed_expiry: int  # period index, -1 none or "never" (ends NEVER), -2 cycle
    repair_max_life: int  # period index or -1
    repair_min_period: int
    ends_early: bool
    measures: bool
    cycle: bool
    cleared: bool  # a clean-period clearance covers it
    caps: tuple[int, ...]  # indices into Compiled.caps that cover this metric


@dataclass
class Compiled:
    """Lookup tables of one policy set for one scoring date."""

    policy: PolicySet
    as_of: dt.date
    versions: tuple[PolicyVersion, ...] = ()
    effective: I32 = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    metric_ids: dict[str, int] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    entry_of: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty((0, 0), np.int32))
    periods: PeriodEnds = field(default_factory=PeriodEnds)
    caps: list[tuple[str, Cap]] = field(default_factory=list)
    unstable_caps: set[str] = field(default_factory=set)
    fulfils: set[tuple[int, int, int]] = field(default_factory=set)
    severity_periods: dict[tuple[int, str, str], int] = field(default_factory=dict)
    binding: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty((0, 2), np.int32))
    cap_name: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    cap_window: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    cap_limit: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty((0, 2), np.int64))
    #: Metric.effect of (entry, value, severity): points, expiry period, refused (filled
    #: by the buckets as they meet them; a dict's item store is atomic across threads)
    effects: dict[tuple[int, float, str | None], tuple[int, int, bool]] = field(
        default_factory=dict
    )

    @classmethod
    def build(cls, policy: PolicySet, as_of: dt.date) -> Compiled:
        self = cls(policy=policy, as_of=as_of, versions=tuple(policy.versions))
        self.effective = np.array([days(v.effective) for v in self.versions], dtype=np.int32)
        codes = sorted({code for v in self.versions for code in v.metrics})
        self.metric_ids = {code: i for i, code in enumerate(codes)}
        self.entry_of = np.full((len(self.versions), len(codes)), -1, dtype=np.int32)
        period_index: dict[Period, int] = {}

        def period(value: object) -> int:
            if value == "cycle":
                return -2
            if not isinstance(value, Period):
                return -1
            if value not in period_index:
                period_index[value] = self.periods.add(value)
            return period_index[value]

        seen: dict[str, Cap] = {}
        for vi, version in enumerate(self.versions):
            caps = []
            for cap in version_caps(version):
                earlier = seen.setdefault(cap.name, cap)
                if earlier.model_dump(exclude={"legal_basis"}) != cap.model_dump(
                    exclude={"legal_basis"}
                ):
                    self.unstable_caps.add(cap.name)
                caps.append(len(self.caps))
                self.caps.append((cap.name, cap))
            for code, metric in version.metrics.items():
                tier = version.repair_tiers.get(metric.repair_tier) if metric.repair_tier else None
                fixed = not metric.severity and metric.points_per_unit is None
                self.entry_of[vi, self.metric_ids[code]] = len(self.entries)
                self.entries.append(
                    Entry(
                        version=vi,
                        code=code,
                        scored=metric.scored,
                        reduction=metric.kind == "reduction",
                        fulfilment=metric.kind == "fulfilment",
                        expiry_from_act=metric.expiry_from == "act",
                        per_unit=metric.points_per_unit is not None,
                        fixed_points=metric.points_for(1) if fixed else None,
                        fixed_expiry=period(metric.expiry) if not metric.severity else -1,
                        repair_max_life=period(tier.max_life) if tier else -1,
                        repair_min_period=period(tier.min_period) if tier else -1,
                        ends_early=bool(tier and tier.fulfilment_ends_early),
                        measures=bool(version.measures),
                        cycle=version.cycle is not None,
                        cleared=metric.scored and any(c.covers(code) for c in version.clearances),
                        caps=tuple(i for i in caps if self.caps[i][1].applies_to(code)),
                    )
                )
                for other in metric.fulfils:  # (version, fulfilling metric, ended metric)
                    if other in self.metric_ids:
                        self.fulfils.add((vi, self.metric_ids[code], self.metric_ids[other]))
        self._binding_caps()
        self.severity_periods = {
            (vi, code, name): period(sev.expiry)
            for vi, version in enumerate(self.versions)
            for code, metric in version.metrics.items()
            for name, sev in metric.severity.items()
        }
        return self

    def _binding_caps(self) -> None:
        """For each entry and sign, the one cap that binds it: its index, -1 for none, or
        -2 when the column path cannot apply it (two caps, a rolling or cycle window, or a
        cap whose terms change between versions). Calendar windows and the lifetime one
        are kinds 0 to 3 (:data:`WINDOW_KINDS`)."""
        names = {name: k for k, name in enumerate(sorted({n for n, _ in self.caps}))}
        kinds = WINDOW_KINDS
        self.cap_name = np.array([names[n] for n, _ in self.caps] or [0], dtype=np.int64)
        self.cap_window = np.array(
            [kinds.get(c.window, -1) for _, c in self.caps] or [0], dtype=np.int64
        )
        self.cap_limit = np.array(
            [[c.max_loss or 0, c.max_gain or 0] for _, c in self.caps] or [[0, 0]],
            dtype=np.int64,
        )
        self.binding = np.full((max(len(self.entries), 1), 2), -1, dtype=np.int32)
        for e, entry in enumerate(self.entries):
            for side, attribute in ((0, "max_loss"), (1, "max_gain")):
                found = [i for i in entry.caps if getattr(self.caps[i][1], attribute) is not None]
                if not found:
                    continue
                name, cap = self.caps[found[0]]
                simple = cap.window in kinds and name not in self.unstable_caps
                self.binding[e, side] = found[0] if len(found) == 1 and simple else -2

    @property
    def in_force(self) -> PolicyVersion:
        """The version in force on the scoring date (scale, bands, perks, scope)."""
        return self.policy.in_force(self.as_of)

    def version_of(self, act: I32) -> I32:
        """Index of the version in force on each act date (-1 before the first)."""
        if len(self.effective) == 1:  # one version: no search
            one: I32 = np.where(act >= self.effective[0], np.int32(0), np.int32(-1))
            return one
        found = np.searchsorted(self.effective, act, side="right") - 1
        return found.astype(np.int32)

    def entries_of(self, version: I32, metric: I32) -> I32:
        """The entry of each (version, metric) pair; -1 where either is -1 (unknown)."""
        width = self.entry_of.shape[1]
        flat = np.append(self.entry_of.reshape(-1), np.int32(-1))  # the last: unknown
        which = version.astype(np.intp) * width + metric
        which[(version < 0) | (metric < 0)] = flat.size - 1
        found: I32 = flat[which]
        return found

    def severity_period(self, version: int, code: str, severity: str) -> int:
        return self.severity_periods[(version, code, severity)]
