"""Which record rows can change a score on the scoring date: one rule, two renderings.

:meth:`osmanthus.population.compiled.Compiled.prune_rule` derives the rule from the
policy (its docstring says why each part is safe). :meth:`PruneRule.sql` renders it as a
SQL condition for Spark and DuckDB queries; :meth:`PruneRule.mask` evaluates it on Arrow
columns as read from the lake, with NumPy over each text column's dictionary codes
instead of comparing strings row by row. Both keep exactly the same rows (a property
test evaluates them side by side, SQL's null logic included).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from osmanthus.policy import Cap, Period
from osmanthus.population.columns import B, Codes, codes, valid
from osmanthus.population.compiled import Compiled, days

__all__ = ["PruneRule", "SeverityRefusal", "prune_rule", "prune_sql"]


@dataclass(frozen=True)
class SeverityRefusal:
    """Rows of ``code`` acted in [``start``, ``end``) (None: unbounded) whose severity the
    versions then refuse: one not in ``classes``, or any at all when ``classes`` is empty."""

    code: str
    start: dt.date | None
    end: dt.date | None
    classes: tuple[str, ...]


@dataclass(frozen=True)
class PruneRule:
    """Keep a row when it carries an incident reference, names another row or is not an
    original; or its metric is unknown on its act date (acted before ``earliest``, or
    before ``known[code]``); or its severity is refused (``refused``); or it is acted on
    or after its metric's ``cut`` (metrics without a cut: always)."""

    cut: dict[str, dt.date]
    earliest: dt.date
    known: dict[str, dt.date]
    refused: tuple[SeverityRefusal, ...]

    def sql(self) -> str:
        cases = " ".join(
            f"WHEN '{code}' THEN DATE '{cut.isoformat()}'" for code, cut in sorted(self.cut.items())
        )
        conditions = [f"act_date < DATE '{self.earliest.isoformat()}'"] + [
            f"(metric = '{code}' AND act_date < DATE '{known.isoformat()}')"
            for code, known in sorted(self.known.items())
        ]
        plain = [r.code for r in self.refused if _plain(r)]
        if plain:
            listed = ", ".join(f"'{code}'" for code in plain)
            conditions.append(f"(severity IS NOT NULL AND metric IN ({listed}))")
        for r in self.refused:
            if _plain(r):
                continue
            listed = ", ".join(f"'{name}'" for name in r.classes)
            refused = (
                f"(severity IS NULL OR severity NOT IN ({listed}))"
                if r.classes
                else "severity IS NOT NULL"
            )
            when = "" if r.start is None else f" AND act_date >= DATE '{r.start.isoformat()}'"
            when += "" if r.end is None else f" AND act_date < DATE '{r.end.isoformat()}'"
            conditions.append(f"(metric = '{r.code}'{when} AND {refused})")
        return (
            "(incident_ref IS NOT NULL OR supersedes_id IS NOT NULL OR kind <> 'original' "
            f"OR {' OR '.join(conditions)} "
            f"OR act_date >= CASE metric {cases} ELSE DATE '0001-01-01' END)"
        )

    def mask(self, records: pa.Table) -> B:
        """The rows of ``records`` (lake columns) the rule keeps, as SQL would: a null
        kind or act date keeps a row only through another part of the rule."""
        act_valid = valid(records["act_date"])
        act = records["act_date"].cast(pa.int32())
        act = (act if act.null_count == 0 else act.fill_null(0)).to_numpy()
        metric = codes(records["metric"])
        by_metric = metric.codes.astype(np.intp)  # an index twice or more below
        severity = codes(records["severity"])
        kind = codes(records["kind"])
        # a kind other than "original" (a null kind is not "<> 'original'")
        keep = _lookup(np.array([v != "original" for v in kind.values], bool), kind.codes, False)
        keep |= valid(records["incident_ref"]) | valid(records["supersedes_id"])
        # per metric code: kept when acted before it is known, or on or after its cut (a
        # metric without a cut, or a null metric, the CASE's ELSE: every dated row); the
        # bounds as int32, like the days, so no comparison widens a column
        values = metric.values
        known = [days(self.known.get(v, self.earliest)) for v in values]
        low = _lookup(np.array(known, np.int32), by_metric, days(self.earliest))
        lowest = np.iinfo(np.int32).min
        cuts = [days(self.cut[v]) if v in self.cut else lowest for v in values]
        cut = _lookup(np.array(cuts, np.int32), by_metric, lowest)
        dated = (act < low) | (act >= cut)
        keep |= dated if act_valid.all() else dated & act_valid
        plain = {r.code for r in self.refused if _plain(r)}
        graded = severity.codes >= 0
        if plain and graded.any():
            refuses_any = _lookup(np.array([v in plain for v in values], bool), by_metric, False)
            keep |= refuses_any & graded
        for r in self.refused:
            if _plain(r):
                continue
            rows = metric.codes == _code(metric, r.code)
            if r.start is not None:
                rows &= act_valid & (act >= days(r.start))
            if r.end is not None:
                rows &= act_valid & (act < days(r.end))
            if r.classes:
                allowed = np.isin(np.arange(len(severity.values)), _codes(severity, r.classes))
                keep |= rows & ~_lookup(allowed, severity.codes, False)
            else:
                keep |= rows & (severity.codes >= 0)
        found: B = keep
        return found


def prune_rule(c: Compiled) -> PruneRule | None:
    """The rule keeping only the record rows that can change a score on the scoring
    date; None when every row may matter.

    A row can matter only if it may still count (acted after the scoring date minus
    the longest life its metric has in any version), or shares a calendar cap window
    with a row that may still count (a lifetime cap's window is shared by every row of
    the metrics it binds: they are never pruned), or carries an incident reference
    (one count per incident, fulfilments), or is a correction or retraction. This
    holds only when no resident needs the step-by-step timeline (no cycles,
    reductions, staged measures, running clamp, rolling or changing caps): otherwise
    every row is kept.
    Metrics whose life runs from the decision date are never pruned. Nor is a row
    whose metric the version in force on its act date does not define (the reference
    scorer refuses it, and so must the engines): rows acted before the first version
    that defines their metric are kept, and a metric that a later version drops again
    is not pruned at all. Nor, for the same reason, is a row whose severity class (or
    lack of one) the version in force on its act date does not accept.
    """
    if any(
        v.cycle is not None
        or v.measures
        or v.scale.clamp == "running"
        or any(m.kind == "reduction" for m in v.metrics.values())
        for v in c.versions
    ) or bool((c.binding == -2).any()):
        return None
    life = _group_lives(c, _longest_lives(c))
    signs = _signs(c)

    def binds(cap: Cap, code: str, sign: int) -> bool:
        limit = cap.max_gain if sign > 0 else cap.max_loss
        return limit is not None and cap.applies_to(code) and sign in signs.get(code, ())

    since: dict[str, tuple[dt.date, dt.date]] = {}  # code: (cut, first known)
    for code, days_ in life.items():
        defined = [code in v.metrics for v in c.versions]
        first = defined.index(True)
        if not all(defined[first:]):
            continue  # unknown again after a version: keep every row
        cut = None if days_ is None else c.as_of - dt.timedelta(days=days_)
        for _, cap in c.caps:
            for sign in (1, -1):
                if cut is None or not binds(cap, code, sign):
                    continue
                if cap.window == "lifetime":  # every row ever acted shares its window
                    cut = None
                    break
                lives = [life.get(other) for other in signs if binds(cap, other, sign)]
                if any(x is None for x in lives):
                    cut = None
                    break
                start = c.as_of - dt.timedelta(days=max(x or 0 for x in lives))
                window = {"year": start.replace(month=1, day=1), "month": start.replace(day=1)}
                cut = min(cut, window.get(cap.window, start))
        if cut is not None:
            since[code] = (cut, c.versions[first].effective)
    if not since:
        return None
    # rows acted before their metric is known: one bound for all, and one more for
    # each metric a later version brings in (a date comparison is cheaper than a CASE)
    earliest = min(known for _, known in since.values())
    return PruneRule(
        cut={code: cut for code, (cut, _) in since.items()},
        earliest=earliest,
        known={code: known for code, (_, known) in since.items() if known > earliest},
        refused=tuple(_refused_severities(c, sorted(since))),  # and a severity it refuses
    )


def prune_sql(c: Compiled) -> str | None:
    """:func:`prune_rule` as a SQL condition (None: every row may matter)."""
    rule = prune_rule(c)
    return rule.sql() if rule else None


def _group_lives(c: Compiled, life: dict[str, int | None]) -> dict[str, int | None]:
    """The longest lives, each raised to the longest of its clearance group: when a
    record of the group is cleared depends on every later act of the group, and a row
    acted before the scoring date minus the group's longest life is earlier than any
    record of the group that may still count."""
    changed = True
    while changed:
        changed = False
        for version in c.versions:
            for clearance in version.clearances:
                group = [
                    code
                    for code, metric in version.metrics.items()
                    if metric.scored and clearance.covers(code) and code in life
                ]
                lives = [life[code] for code in group]
                bounded = [x for x in lives if x is not None]
                longest = max(bounded, default=0) if len(bounded) == len(lives) else None
                for code in group:
                    if life[code] != longest:
                        life[code], changed = longest, True
    return life


def _refused_severities(c: Compiled, codes: list[str]) -> list[SeverityRefusal]:
    """The rows of these metrics whose severity the version in force on their act date
    refuses (``Metric.effect`` raises): a class it does not list, none where it has
    classes, or one where it has none.

    Each metric is defined in every version from its first on. Metrics whose classes
    never change get one condition each, without dates (all those without classes
    share one); the others get one per run of versions with the same classes.
    """
    found: list[SeverityRefusal] = []
    for code in codes:
        runs: list[tuple[dt.date, dt.date | None, tuple[str, ...]]] = []
        for version in c.versions:
            if code not in version.metrics:
                continue  # before the metric is known: kept by the caller
            classes = tuple(sorted(version.metrics[code].severity))
            if runs and runs[-1][2] == classes:
                continue
            if runs:
                runs[-1] = (runs[-1][0], version.effective, runs[-1][2])
            runs.append((version.effective, None, classes))
        for k, (start, end, classes) in enumerate(runs):
            found.append(SeverityRefusal(code, None if k == 0 else start, end, classes))
    return found


def _signs(c: Compiled) -> dict[str, set[int]]:
    """Per scored metric code: the signs its points can take, over every version.

    Points per unit are monotonic in the value, so a per-unit metric's points lie
    between those of its smallest and its largest value: a positive rate over values
    from -10 gives losses too.
    """
    found: dict[str, set[int]] = {}
    for version in c.versions:
        for code, metric in version.metrics.items():
            if not metric.scored:
                continue
            if metric.severity:
                points = [sev.points for sev in metric.severity.values()]
            elif metric.points_per_unit is not None:
                points = [metric.points_for(metric.min_value)]
                if metric.max_value is not None:
                    points.append(metric.points_for(metric.max_value))
                else:  # no largest value: as far as the rate goes
                    points.append(1 if metric.points_per_unit > 0 else -1)
            else:
                points = [metric.points or 0]
            found.setdefault(code, set()).update((p > 0) - (p < 0) for p in points if p)
    return found


def _longest_lives(c: Compiled) -> dict[str, int | None]:
    """Per scored metric code: an upper bound in days on how long a record can count
    after its act date, over every version and severity (None: no bound, or a life
    that runs from the decision date)."""

    def bound(period: object) -> int | None:
        if not isinstance(period, Period):
            return None
        return period.amount * {"d": 1, "m": 31, "y": 366}[period.unit] + 1

    lives: dict[str, int | None] = {}
    for version in c.versions:
        for code, metric in version.metrics.items():
            if not metric.scored:
                continue  # unscored rows count only through an incident reference
            tier = version.repair_tiers.get(metric.repair_tier) if metric.repair_tier else None
            expiries: list[object] = [s.expiry for s in metric.severity.values()] or [metric.expiry]
            longest: int | None = 0
            for expiry in expiries:
                ends = [
                    b
                    for b in (bound(expiry), bound(tier.max_life) if tier else None)
                    if b is not None
                ]
                if not ends or metric.expiry_from != "act" or longest is None:
                    longest = None
                else:
                    longest = max(longest, min(ends))
            earlier = lives.get(code, 0)
            lives[code] = None if longest is None or earlier is None else max(earlier, longest)
    return lives


def _plain(refusal: SeverityRefusal) -> bool:
    """A refusal of any severity at all, on every act date."""
    return not refusal.classes and refusal.start is None and refusal.end is None


def _code(column: Codes, value: str) -> int:
    """The code of ``value`` in the column (-2, which no row has, when absent)."""
    return column.values.index(value) if value in column.values else -2


def _codes(column: Codes, values: tuple[str, ...]) -> list[int]:
    return [i for i, v in enumerate(column.values) if v in values]


def _lookup(table: np.ndarray, index: np.ndarray, null: object) -> np.ndarray:
    """``table[index]`` with ``null`` where the index is -1 (a null value): -1 picks the
    last element, which is ``null``."""
    values = np.append(table, np.array([null], dtype=table.dtype))
    if (values == values[0]).all():  # one answer for every row (all "original", say)
        return np.full(index.size, values[0], dtype=values.dtype)
    if index.dtype != np.intp:  # NumPy would convert it anyway, more slowly
        index = index.astype(np.intp)
    found: np.ndarray = values[index]
    return found
