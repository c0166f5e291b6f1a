"""Invariants of the reference scorer, checked on random policies and random records.

Policies are built directly with ``PolicyVersion.model_validate`` from generated dicts
that always pass the guardrails (a legal basis on every scored rule, a per-record limit
no metric can pass, per-year limits no loss cap passes). Act dates favour edge days: 29
February, 28 February and 1 March, year boundaries, the day a version takes effect and
the day before. The scoring date favours each record's act date, expiry day and the day
before it, and its removal day.

Caps keep their window by name across versions; a generated second version carries
some caps of the first (with the same window and metrics, the same or new limits), adds
caps of new names, and may change the yearly penalty limit; both versions share the
direction and the cycle. Each record is held to the limits of the version in force on its
act date (a regression case at the end of the file).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from osmanthus.ledger import StoredRecord, Subject
from osmanthus.policy import Cap, Metric, PolicySet, PolicyVersion, Scale
from osmanthus.scoring import Explanation, RecordLine, explain

LEGAL_BASIS = {
    "instrument": "Property Test Act",
    "article": "Art. 1",
    "effective": dt.date(2000, 1, 1),
    "example": True,
}
DEPARTMENT = "registry"
ANCHOR = "licence"
YEARLY = "yearly penalty limit"
RECORDED_AT = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LATEST_ACT = dt.date(2026, 12, 31)
LATEST_SCORE = dt.date(2031, 12, 31)
CLAMPS = ("final", "running")
DIRECTIONS = ("higher_is_better", "higher_is_worse")
DAY = dt.timedelta(days=1)
TIMELINE = ("counted", "expired", "removed")  # statuses of records applied by the timeline
UNSCORED = ("superseded", "retraction", "fulfilment", "profile", "duplicate")  # never scores
HELD = re.compile(r"^cap '(?P<cap>.+)' held back (?P<points>\d+) point\(s\)$")

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _edge_days() -> tuple[dt.date, ...]:
    days = {dt.date(2020, 2, 29), dt.date(2024, 2, 29)}
    for year in range(2018, 2032):
        days |= {dt.date(year, 1, 1), dt.date(year, 2, 28), dt.date(year, 3, 1)}
        days |= {dt.date(year, 12, 31)}
    return tuple(sorted(days))


EDGE_DAYS = _edge_days()


def dates_between(
    low: dt.date, high: dt.date, extra: Iterable[dt.date] = ()
) -> st.SearchStrategy[dt.date]:
    """Any date in ``low..high``, often an edge day."""
    edges = sorted({d for d in (*EDGE_DAYS, *extra) if low <= d <= high})
    plain = st.dates(low, high)
    return st.one_of(st.sampled_from(edges), plain) if edges else plain


periods = st.one_of(
    st.sampled_from(["1y", "12m", "365d", "366d", "1m", "1d", "2y"]),
    st.integers(1, 500).map(lambda n: f"{n}d"),
    st.integers(1, 24).map(lambda n: f"{n}m"),
    st.integers(1, 3).map(lambda n: f"{n}y"),
)
cycle_lengths = st.one_of(
    st.sampled_from(["1y", "2y", "6m", "90d"]), st.integers(1, 36).map(lambda n: f"{n}m")
)
points = st.integers(-30, 30)
rolling = st.one_of(
    st.sampled_from(["rolling:1d", "rolling:30d", "rolling:365d"]),
    st.integers(1, 400).map(lambda n: f"rolling:{n}d"),
)
windows = st.one_of(st.sampled_from(["day", "month", "year"]), rolling)
WINDOWS = ("day", "month", "year", "rolling", "cycle")


@dataclass(frozen=True)
class Shape:
    """What a generated scenario may contain."""

    versions: tuple[int, ...] = (1, 2)
    clamp: str | None = None  # None: each version draws its own
    direction: str | None = None
    wide: bool = False  # floor and ceiling so far apart that nothing reaches them
    caps: bool = True
    min_caps: int = 0  # declared caps in each version, at least
    window: str | None = None  # every new cap's window is of this kind (one of WINDOWS)
    metrics: tuple[int, int] = (1, 3)  # how many scored metrics, at least and at most
    yearly_limit: bool = True
    measures: str = "sometimes"  # staged measures: "never", "sometimes" or "always"
    reductions: bool = True
    cycles: bool = True
    fulfilment: bool = True
    shared_incidents: bool = True  # scored records may share an incident reference
    straddle: bool = False  # two versions; metric m0 scores differently in each, with
    # records on the day before and the day the second version takes effect


@dataclass(frozen=True)
class Scenario:
    policy: PolicySet
    records: tuple[StoredRecord, ...]
    subject: Subject
    as_of: dt.date

    def in_force(self, day: dt.date) -> PolicyVersion:
        """The version in force on ``day`` (found without the policy set's lookup)."""
        return max(
            (v for v in self.policy.versions if v.effective <= day), key=lambda v: v.effective
        )

    def explain(self) -> Explanation:
        return explain(self.records, self.policy, self.as_of, subject=self.subject)


def stored(
    record_id: int,
    metric: str,
    act: dt.date,
    decision: dt.date | None = None,
    *,
    value: float = 1.0,
    severity: str | None = None,
    incident: str | None = None,
    kind: str = "original",
    supersedes: int | None = None,
) -> StoredRecord:
    return StoredRecord(
        id=record_id,
        department=DEPARTMENT,
        metric=metric,
        value=value,
        act_date=act,
        decision_date=decision or act,
        recorded_at=RECORDED_AT,
        source_ref=f"REF-{record_id}",
        incident_ref=incident,
        kind=kind,
        supersedes_id=supersedes,
        reason=None if kind == "original" else "property test",
        severity=severity,
    )


# -- generated policies ---------------------------------------------------------------


def _base_metric(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": f"Metric {code}",
        "category": "conduct",
        "reported_by": [DEPARTMENT],
        "legal_basis": LEGAL_BASIS,
    }


@st.composite
def metric_dicts(
    draw: st.DrawFn,
    code: str,
    *,
    reductions: bool,
    cycle: bool,
    tiers: Sequence[str],
    direction: str,
) -> dict[str, Any]:
    spec = _base_metric(code)
    expiries = st.one_of(periods, st.just("cycle")) if cycle else periods
    if reductions and draw(st.booleans()):
        conditions = st.fixed_dictionaries(
            {},
            optional={
                "standing_at_least": st.integers(-60, 160),
                "standing_at_most": st.integers(-60, 160),
                "once_per": periods,
                "filed_within": periods,
            },
        )
        expiry = draw(st.none() | expiries)
        better = 1 if direction == "higher_is_better" else -1  # a reduction improves
        spec |= {"kind": "reduction", "points": better * draw(st.integers(0, 5))}
        spec |= {"conditions": draw(conditions)}
        return spec | ({"expiry": expiry} if expiry else {})
    how = draw(st.sampled_from(["points", "severity", "per_unit"]))
    if how == "points":
        spec |= {"points": draw(points), "expiry": draw(expiries)}
    elif how == "severity":
        names = draw(
            st.lists(st.sampled_from(["minor", "major", "grave"]), min_size=1, unique=True)
        )
        spec["severity"] = {
            name: {"points": draw(points), "expiry": draw(expiries)} for name in names
        }
    else:
        spec |= {
            "points_per_unit": draw(st.sampled_from(["0.5", "-0.5", "1.5", "-2", "0.1", "-0.3"])),
            "unit": "hour",
            "max_value": draw(st.integers(1, 40)),
            "rounding": draw(st.sampled_from(["floor", "ceil", "half_up"])),
            "expiry": draw(expiries),
        }
    spec["expiry_from"] = draw(st.sampled_from(["act", "decision"]))
    if draw(st.booleans()):
        spec["overlie"] = draw(periods)
    if tiers and draw(st.booleans()):
        spec["repair_tier"] = draw(st.sampled_from(tiers))
    return spec


@st.composite
def scale_dicts(draw: st.DrawFn, clamp: str, direction: str, wide: bool) -> dict[str, Any]:
    if wide:
        floor, ceiling, baseline = -100_000, 100_000, draw(st.integers(-100, 100))
    else:
        # the simplest scale is wide with the baseline in the middle; narrow ones (even a
        # single score) and a baseline on a bound are as likely
        floor = draw(st.integers(-60, 100))
        span = st.integers(0, 150).map(lambda k: 150 - k)
        ceiling = floor + draw(st.one_of(span, st.sampled_from([0, 1, 3])))
        middle = (floor + ceiling) // 2
        offset = st.integers(floor - middle, ceiling - middle).map(lambda d: middle + d)
        baseline = draw(st.one_of(offset, st.sampled_from([floor, ceiling])))
    return {
        "baseline": baseline,
        "floor": floor,
        "ceiling": ceiling,
        "direction": direction,
        "clamp": clamp,
    }


@st.composite
def measure_lists(
    draw: st.DrawFn, scale: dict[str, Any], skips: bool = False
) -> list[dict[str, Any]]:
    """Staged measures that worsen step by step, some (or, with ``skips``, all but the
    first) with a skipped-stage rule."""
    count = draw(st.sampled_from([2, 3, 1]))
    low, high, base = scale["floor"], scale["ceiling"], scale["baseline"]
    steps = draw(st.lists(st.integers(1, 4), min_size=count, max_size=count))
    distances = [sum(steps[: i + 1]) - 1 for i in range(count)]  # the first may be 0
    if scale["direction"] == "higher_is_better":  # stages in small steps below the baseline
        key, thresholds = "at_most", [base - d for d in distances]
    else:
        key, thresholds = "at_least", [base + d for d in distances]
    measures = []
    for index, threshold in enumerate(thresholds):
        measure = {"name": f"stage-{index}", key: threshold, "legal_basis": LEGAL_BASIS}
        if index and (skips or draw(st.integers(0, 3))):
            measure["if_previous_not_taken"] = {"reduce_to": draw(st.integers(low, high))}
        measures.append(measure)
    return measures


@st.composite
def cap_lists(
    draw: st.DrawFn,
    codes: Sequence[str],
    *,
    index: int,
    has_cycle: bool,
    yearly: int | None,
    worse: str,
    earlier: Sequence[dict[str, Any]],
    least: int = 0,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Caps of version ``index``: some of the earlier version's (same name, window and
    metrics; the same limits or new ones), and new ones with names of their own. No loss
    cap passes the yearly penalty limit."""
    window = st.one_of(windows, st.just("cycle")) if has_cycle else windows
    if kind is not None:
        window = rolling if kind == "rolling" else st.just(kind)
    amounts = st.one_of(st.sampled_from([0, 1, 5, 10]), st.integers(0, 40))
    caps = []
    for old in earlier:
        if draw(st.booleans()):
            cap = dict(old)
            if draw(st.booleans()):  # carried with new limits
                cap |= {side: draw(amounts) for side in ("max_gain", "max_loss") if side in old}
            if yearly is not None and cap.get(worse) is not None:
                cap[worse] = min(cap[worse], yearly)
            caps.append(cap)
    fewest = max(0, least - len(caps))
    for number in range(draw(st.integers(fewest, max(fewest, 3 - len(caps))))):
        sides = draw(st.sampled_from([("max_gain",), ("max_loss",), ("max_gain", "max_loss")]))
        cap: dict[str, Any] = {
            "name": f"v{index + 1}-cap-{number}",
            "window": draw(window),
            "metrics": draw(st.lists(st.sampled_from(codes), unique=True)),
            "exempt": [draw(st.sampled_from(codes))] if draw(st.integers(0, 3)) == 0 else [],
            "legal_basis": LEGAL_BASIS,
        }
        cap |= {side: draw(amounts) for side in sides}
        if yearly is not None and cap.get(worse) is not None:
            cap[worse] = min(cap[worse], yearly)
        caps.append(cap)
    return caps


def _worst_harm(scale: Scale, metrics: Iterable[Metric]) -> int:
    harms = [0]
    for metric in metrics:
        harms += [metric.points or 0, *(s.points for s in metric.severity.values())]
        if metric.points_per_unit is not None and metric.max_value is not None:
            harms += [metric.points_for(metric.min_value), metric.points_for(metric.max_value)]
    return max(scale.penalty(p) for p in harms)


@dataclass(frozen=True)
class Common:
    """What every version of one scenario shares."""

    codes: tuple[str, ...]
    direction: str
    cycle: str | None  # the cycle length, or no cycle
    yearly: int | None  # limits.max_penalty_per_year of the first version
    fulfilment: bool  # a fulfilment metric 'paid' ends records of the same incident


@st.composite
def versions(
    draw: st.DrawFn,
    shape: Shape,
    common: Common,
    *,
    index: int,
    effective: dt.date,
    m0_points: int | None,
    earlier: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The dict of one valid version (``PolicyVersion.model_validate`` takes it)."""
    codes, direction = common.codes, common.direction
    clamp = shape.clamp or draw(st.sampled_from(CLAMPS))
    scale = draw(scale_dicts(clamp, direction, shape.wide))
    has_cycle = common.cycle is not None
    tiers: dict[str, Any] = {}
    if shape.fulfilment and draw(st.booleans()):
        tiers["tier"] = {
            "min_period": draw(periods),
            "max_life": draw(periods),
            "fulfilment_ends_early": draw(st.booleans()),
            "legal_basis": LEGAL_BASIS,
        }
    reductions = shape.reductions and clamp == "running"
    metrics = {
        code: draw(
            metric_dicts(
                code,
                reductions=reductions,
                cycle=has_cycle,
                tiers=tuple(tiers),
                direction=direction,
            )
        )
        for code in codes
    }
    if m0_points is not None:
        metrics["m0"] = _base_metric("m0") | {"points": m0_points, "expiry": draw(periods)}
    if common.fulfilment:
        metrics["paid"] = _base_metric("paid") | {"kind": "fulfilment", "fulfils": list(codes)}
        del metrics["paid"]["legal_basis"]
    worse = "max_loss" if direction == "higher_is_better" else "max_gain"
    yearly = common.yearly
    if yearly is not None and index and draw(st.booleans()):  # a new yearly limit
        yearly = draw(st.integers(1, 80))
    caps = []
    if shape.caps:
        caps = draw(
            cap_lists(
                codes,
                index=index,
                has_cycle=has_cycle,
                yearly=yearly,
                worse=worse,
                earlier=earlier,
                least=shape.min_caps,
                kind=shape.window,
            )
        )
    worst = _worst_harm(
        Scale.model_validate(scale), (Metric.model_validate(m) for m in metrics.values())
    )
    limits: dict[str, Any] = {"max_penalty_per_record": max(worst, 1) + draw(st.integers(0, 3))}
    if yearly is not None:
        limits["max_penalty_per_year"] = yearly
    spec: dict[str, Any] = {
        "name": "prop",
        "version": f"v{index + 1}",
        "title": "Property test policy",
        "effective": effective,
        "scale": scale,
        "limits": limits,
        "departments": {DEPARTMENT: {"name": "Registry"}},
        "metrics": metrics,
        "caps": caps,
        "repair_tiers": tiers,
    }
    if shape.measures == "always" or (shape.measures == "sometimes" and draw(st.integers(0, 3))):
        spec["measures"] = draw(measure_lists(scale, skips=shape.measures == "always"))
    if has_cycle:
        spec["cycle"] = {"length": common.cycle, "anchor": ANCHOR}
        spec["profile"] = {
            ANCHOR: {
                "code": ANCHOR,
                "title": "Licence issued",
                "category": "licensing",
                "reported_by": [DEPARTMENT],
            }
        }
    return spec


def values_for(metric: Metric) -> st.SearchStrategy[tuple[float, str | None]]:
    """A value and severity the metric accepts."""
    if metric.severity:
        return st.tuples(st.just(1.0), st.sampled_from(sorted(metric.severity)))
    if metric.points_per_unit is not None and metric.max_value is not None:
        top = int(metric.max_value) * 2
        return st.tuples(st.integers(0, top).map(lambda n: n / 2), st.none())
    return st.just((1.0, None))


@st.composite
def scenarios(draw: st.DrawFn, shape: Shape = Shape()) -> Scenario:
    count = 2 if shape.straddle else draw(st.sampled_from(shape.versions))
    first = draw(dates_between(dt.date(2018, 1, 1), dt.date(2019, 12, 31)))
    effectives = [first]
    if count == 2:
        effectives.append(draw(dates_between(first + DAY, dt.date(2026, 6, 30))))
    common = Common(
        codes=tuple(f"m{i}" for i in range(draw(st.integers(*shape.metrics)))),
        direction=shape.direction or draw(st.sampled_from(DIRECTIONS)),
        cycle=(
            draw(cycle_lengths)
            if shape.window == "cycle"
            else draw(st.none() | cycle_lengths)
            if shape.cycles
            else None
        ),
        yearly=draw(st.none() | st.integers(1, 80)) if shape.yearly_limit else None,
        fulfilment=shape.fulfilment and draw(st.booleans()),
    )
    m0: list[int | None] = [None, None]
    if shape.straddle:
        m0[0] = draw(points)
        m0[1] = draw(points.filter(lambda p: p != m0[0]))
    specs: list[dict[str, Any]] = []
    for i, day in enumerate(effectives):
        earlier = specs[-1]["caps"] if specs else ()
        specs.append(
            draw(versions(shape, common, index=i, effective=day, m0_points=m0[i], earlier=earlier))
        )
    policy = PolicySet(tuple(PolicyVersion.model_validate(spec) for spec in specs))
    # The cycle anchor: before every act, among them (earlier acts are outside any
    # cycle), or now and then unknown (every act is).
    center = draw(dates_between(first, LATEST_ACT))
    anchor = draw(
        st.one_of(
            st.integers(0, 800).map(lambda k: first - dt.timedelta(days=k)),
            st.integers(-400, 100).map(lambda k: max(first, center + dt.timedelta(days=k))),
        )
    )
    if draw(st.integers(0, 7)) == 0:
        anchor = None
    subject = Subject(profile={ANCHOR: anchor} if common.cycle and anchor else {})
    scn = Scenario(policy, (), subject, first)

    boundaries = [*effectives, *(day - DAY for day in effectives[1:])]

    def clip(day: dt.date) -> dt.date:
        return min(max(day, first), LATEST_ACT)

    def apart(days: st.SearchStrategy[dt.date]) -> st.SearchStrategy[dt.date]:
        """About a year or two before or after one of ``days``."""
        years, shift = st.sampled_from([-2, -1, 1, 2]), st.integers(-10, 10)
        return st.tuples(days, years, shift).map(
            lambda t: clip(t[0] + dt.timedelta(days=365 * t[1] + t[2]))
        )

    near = st.integers(-150, 150).map(lambda k: clip(center + dt.timedelta(days=k)))
    anywhere = dates_between(first, LATEST_ACT, extra=boundaries)
    records: list[StoredRecord] = []
    if shape.straddle:
        switch = effectives[1]
        records += [stored(1, "m0", switch - DAY), stored(2, "m0", switch)]
    for _ in range(draw(st.integers(1, 14))):
        earlier = [st.sampled_from(sorted({r.act_date for r in records}))] if records else []
        related = [*earlier, *earlier, *(apart(day) for day in earlier)]  # the same day, or not
        act = draw(st.one_of(near, anywhere, near, apart(st.just(center)), *related))
        version = scn.in_force(act)
        scored = sorted(code for code, m in version.metrics.items() if m.scored)
        code = draw(st.one_of(st.sampled_from(scored), st.sampled_from(sorted(version.metrics))))
        value, severity = draw(values_for(version.metrics[code]))
        delay = draw(st.one_of(st.sampled_from([0, 1, 365]), st.integers(0, 60)))
        incident = draw(st.sampled_from([None, f"case-{len(records) + 1}"]))
        shared = ["case-1", *(r.incident_ref for r in records if r.incident_ref)]
        # a fulfilment names the incident it ends; now and then one is reported twice
        twice = shape.shared_incidents and draw(st.integers(0, 3)) == 0
        if code not in scored or twice:
            incident = draw(st.sampled_from(shared))
        records.append(
            stored(
                len(records) + 1,
                code,
                act,
                act + dt.timedelta(days=delay),
                value=value,
                severity=severity,
                incident=incident,
            )
        )
    originals = list(records)
    if originals:
        targets = draw(st.lists(st.sampled_from(originals), max_size=2, unique_by=lambda r: r.id))
        for old in targets:
            kind = draw(st.sampled_from(["correction", "retraction"]))
            value = old.value
            if kind == "correction":
                value, _ = draw(values_for(scn.in_force(old.act_date).metrics[old.metric]))
            fields = {"value": value, "severity": old.severity, "incident": old.incident_ref}
            records.append(
                stored(
                    len(records) + 1,
                    old.metric,
                    old.act_date,
                    old.decision_date,
                    kind=kind,
                    supersedes=old.id,
                    **fields,
                )
            )

    # Score on an edge day (most often the day a record ends), the day before an act or an
    # end, or any day.
    preview = explain(records, policy, LATEST_SCORE, subject=subject)
    ends = {day for line in preview.lines for day in (line.expires_on, line.removed_on) if day}
    acts = {line.record.act_date for line in preview.lines}
    eves = {day - DAY for day in (*ends, *acts)}
    others = {*EDGE_DAYS, *boundaries, *acts}
    choices = [
        st.dates(first, LATEST_SCORE),
        st.integers(0, 400).map(lambda k: center + dt.timedelta(days=k)),  # after most acts
    ]
    for days in (others, eves, ends, ends):
        days = {day for day in days if first <= day <= LATEST_SCORE}
        choices += [st.sampled_from(sorted(days))] if days else []
    as_of = draw(st.one_of(*reversed(choices)))
    return Scenario(policy, tuple(records), subject, as_of)


# -- reading an explanation ---------------------------------------------------------


def timeline_lines(result: Explanation) -> list[RecordLine]:
    """Lines of records the timeline applied: current, scored, acted by the scoring date,
    with a life of at least one day (one acted outside any cycle ends on its act date)."""
    return [
        line
        for line in result.lines
        if line.status in TIMELINE
        and (line.expires_on is None or line.record.act_date < line.expires_on)
    ]


def allowed(line: RecordLine) -> int:
    """Points the record was allowed past every cap (before a running clamp), from its
    notes: nothing when a reduction's conditions failed, else its points less what each
    cap held back."""
    if any(note.startswith("not applied") for note in line.notes):
        return 0
    held = sum(int(m["points"]) for note in line.notes if (m := HELD.match(note)))
    return line.points - held if line.points > 0 else line.points + held


def cap_rules(version: PolicyVersion) -> list[Cap]:
    """The version's caps and its yearly penalty limit (a cap over every metric)."""
    caps = list(version.caps)
    limit = version.limits.max_penalty_per_year
    if limit is not None:
        side = "max_gain" if version.scale.direction == "higher_is_worse" else "max_loss"
        caps.append(Cap.model_validate({"name": YEARLY, "window": "year", side: limit}))
    return caps


def window_key(cap: Cap, scn: Scenario, day: dt.date) -> object:
    """The calendar window (or cycle) of ``cap`` that holds ``day``."""
    if cap.window == "day":
        return day
    if cap.window == "month":
        return (day.year, day.month)
    if cap.window == "year":
        return day.year
    cycle = scn.in_force(day).cycle  # every version of a scenario has the same cycle
    assert cap.window == "cycle" and cycle is not None
    return cycle.bounds(scn.subject.profile[cycle.anchor], day)[0]


def in_window(cap: Cap, scn: Scenario, day: dt.date, end: dt.date) -> bool:
    """True when an act on ``day`` falls in the window of ``cap`` of an act on ``end``."""
    days = cap.rolling_days
    if days is not None:
        return end - dt.timedelta(days=days) < day <= end
    return window_key(cap, scn, day) == window_key(cap, scn, end)


def in_order(lines: Iterable[RecordLine]) -> list[RecordLine]:
    """Lines in the order the timeline applies acts: act date, decision date, id."""
    return sorted(lines, key=lambda ln: (ln.record.act_date, ln.record.decision_date, ln.record.id))


def covering(scn: Scenario, line: RecordLine) -> list[Cap]:
    """The caps over a record: those of the version in force on its act date (with its
    yearly penalty limit) that apply to its metric."""
    caps = cap_rules(scn.in_force(line.record.act_date))
    return [cap for cap in caps if cap.applies_to(line.record.metric)]


def gains_and_losses(amounts: Iterable[int]) -> tuple[int, int]:
    amounts = list(amounts)
    return sum(a for a in amounts if a > 0), -sum(a for a in amounts if a < 0)


# -- 1. the score stays between floor and ceiling -----------------------------------


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("clamp", CLAMPS)
@settings(PROPERTY, max_examples=40)  # four variants
@given(data=st.data())
def test_score_stays_between_floor_and_ceiling_of_the_version_in_force(
    clamp: str, direction: str, data: st.DataObject
) -> None:
    scn = data.draw(scenarios(Shape(clamp=clamp, direction=direction)))
    result = scn.explain()
    version = scn.in_force(scn.as_of)
    assert result.policy == f"{version.name} {version.version}"
    assert result.scale == version.scale
    assert result.score is not None
    assert version.scale.floor <= result.score <= version.scale.ceiling


# -- 2. an expired record never counts -----------------------------------------------


@PROPERTY
@given(scn=scenarios())
def test_a_record_counts_only_from_its_act_date_until_the_day_before_it_ends(
    scn: Scenario,
) -> None:
    result = scn.explain()
    for line in result.lines:
        if line.status != "counted":
            assert line.counted == 0, line
        if line.expires_on is not None and line.expires_on <= scn.as_of:
            assert line.status not in ("counted", "after_date"), line
        if line.removed_on is not None and line.removed_on <= scn.as_of:
            assert line.status in ("removed", *UNSCORED), line
        if line.status == "counted":
            assert line.record.act_date <= scn.as_of
            assert line.expires_on is None or scn.as_of < line.expires_on
        if line.status not in UNSCORED:
            # the end is never later than the record's own expiry (a cycle, repair tier
            # or fulfilment may end it earlier); a plain expiry ends it exactly there
            version = scn.in_force(line.record.act_date)
            metric = version.metrics[line.record.metric]
            expiry = metric.effect(line.record.value, line.record.severity).expiry
            if expiry is not None and expiry != "cycle":
                base = line.record.act_date
                if metric.expiry_from == "decision":
                    base = line.record.decision_date
                assert line.expires_on is not None and line.expires_on <= expiry.after(base)
                if metric.repair_tier is None and version.cycle is None:
                    assert line.expires_on == expiry.after(base), line


@pytest.mark.parametrize("clamp", CLAMPS)
@settings(PROPERTY, max_examples=40)  # two variants
@given(data=st.data())
def test_the_score_is_the_sum_of_exactly_the_unexpired_records(
    clamp: str, data: st.DataObject
) -> None:
    """Without caps, measures or reductions (and, clamping as it goes, with bounds too far
    apart to reach), the score is the baseline plus the points of exactly the records
    acted on or before the scoring date whose end is after it."""
    shape = Shape(
        clamp=clamp,
        wide=clamp == "running",
        caps=False,
        yearly_limit=False,
        measures="never",
        reductions=False,
    )
    scn = data.draw(scenarios(shape))
    result = scn.explain()
    live = [
        line
        for line in result.lines
        if line.status not in UNSCORED
        and line.record.act_date <= scn.as_of
        and (line.expires_on is None or scn.as_of < line.expires_on)
    ]
    for line in result.lines:
        assert line.counted == (line.points if line in live else 0), line
    scale = scn.in_force(scn.as_of).scale
    assert result.score == scale.clamp_score(scale.baseline + sum(ln.points for ln in live))


# -- 3. caps are never exceeded --------------------------------------------------------


@PROPERTY
@given(scn=scenarios())
def test_caps_are_never_exceeded(scn: Scenario) -> None:
    """In every window of every cap (calendar day, month, year or cycle of the act, or the
    N days ending on it for ``rolling:Nd``), the points allowed past the caps, and so the
    points that still count, stay within ``max_gain`` upwards and ``max_loss`` downwards:
    the limits of the version in force on the act date of the record that counts."""
    result = scn.explain()
    lines = timeline_lines(result)
    for line in lines:
        assert line.status == "counted" or line.counted == 0
        if line.status != "counted":
            continue
        if result.scale.clamp == "final":
            assert line.counted == allowed(line), line
        else:  # a running clamp may absorb some of what the caps allowed, never add
            assert line.counted * allowed(line) >= 0, line
            assert abs(line.counted) <= abs(allowed(line)), line
    # A record that counts never takes its window, up to and including itself, past a
    # cap over it (with one cap's limits throughout: never past it in any window).
    seen: dict[str, list[RecordLine]] = defaultdict(list)  # by cap name, across versions
    for line in in_order(lines):
        for cap in covering(scn, line):
            seen[cap.name].append(line)
            act = line.record.act_date
            window = [ln for ln in seen[cap.name] if in_window(cap, scn, ln.record.act_date, act)]
            for amounts in ([allowed(ln) for ln in window], [ln.counted for ln in window]):
                gain, loss = gains_and_losses(amounts)
                if amounts[-1] > 0 and cap.max_gain is not None:
                    assert gain <= cap.max_gain, (cap, window)
                if amounts[-1] < 0 and cap.max_loss is not None:
                    assert loss <= cap.max_loss, (cap, window)


def expected_allowed(scn: Scenario, lines: Sequence[RecordLine]) -> dict[int, int]:
    """What each record is allowed past the caps: acts in order of act date, decision date
    and id; each counts at most what every cap over it (the caps of the version in force
    on its act date) has left in its window, and what it counts is what it uses of each
    window. A cap's window is kept by name, also across versions."""
    used: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    result = {}
    for line in in_order(lines):
        act = line.record.act_date
        wanted = line.points  # what it asks for: its points, or 0 for a refused reduction
        if any(note.startswith("not applied") for note in line.notes):
            wanted = 0
        over = covering(scn, line) if wanted else []
        amount = wanted
        for cap in over:
            window = [a for day, a in used[cap.name] if in_window(cap, scn, day, act)]
            gain, loss = gains_and_losses(window)
            if amount > 0 and cap.max_gain is not None:
                amount = min(amount, max(0, cap.max_gain - gain))
            if amount < 0 and cap.max_loss is not None:
                amount = -min(-amount, max(0, cap.max_loss - loss))
        for cap in over:
            used[cap.name].append((act, amount))
        result[line.record.id] = amount
    return result


@pytest.mark.parametrize("window", WINDOWS)
@settings(PROPERTY, max_examples=25)
@given(data=st.data())
def test_caps_hold_back_exactly_what_would_pass_them(window: str, data: st.DataObject) -> None:
    """Caps hold back no more and no less than what passes them. Observed for every
    applied record, expired or not, through its points and the caps' notes (what a cap
    allows does not depend on the scoring date). Two or more caps of one kind of window
    (and the yearly penalty limit) over one metric, so that caps overlap."""
    scn = data.draw(scenarios(Shape(min_caps=2, metrics=(1, 1), window=window)))
    result = scn.explain()
    lines = timeline_lines(result)
    target(float(sum(allowed(line) != line.points for line in lines)), label="held back")
    expected = expected_allowed(scn, lines)
    assert {line.record.id: allowed(line) for line in lines} == expected


# -- 4. a record is scored by the rule of its act date --------------------------------


@PROPERTY
@given(scn=scenarios(Shape(straddle=True)))
def test_each_record_is_scored_by_the_rule_of_its_act_date(scn: Scenario) -> None:
    result = scn.explain()
    first, second = scn.policy.versions
    assert first.metrics["m0"].points != second.metrics["m0"].points
    eve, switch = result.lines[0], result.lines[1]
    assert (eve.record.act_date, switch.record.act_date) == (
        second.effective - DAY,
        second.effective,
    )
    for line in result.lines:
        version = scn.in_force(line.record.act_date)
        assert line.rule == f"{version.name} {version.version}"
        if line.status in ("superseded", "retraction"):
            assert line.points == 0
            continue
        metric = version.metrics[line.record.metric]
        assert line.points == metric.effect(line.record.value, line.record.severity).points
    if result.lines[0].status not in ("superseded",):
        assert eve.points == first.metrics["m0"].points and eve.rule.endswith(" v1")
    if result.lines[1].status not in ("superseded",):
        assert switch.points == second.metrics["m0"].points and switch.rule.endswith(" v2")


# -- 5. the score is accounted for, line by line ----------------------------------------


@PROPERTY
@given(scn=scenarios(Shape(clamp="final", measures="always")))  # skipped stages adjust
def test_counted_points_and_adjustments_account_for_the_score(scn: Scenario) -> None:
    result = scn.explain()
    target(float(len(result.adjustments)), label="adjustments")  # steer towards measures
    scale = scn.in_force(scn.as_of).scale
    counted = sum(line.counted for line in result.lines)
    adjustments = sum(a.delta for a in result.adjustments)
    assert result.counted_total == counted
    assert result.raw == scale.baseline + counted + adjustments
    assert result.score == scale.clamp_score(scale.baseline + counted + adjustments)
    assert result.adjustment == result.score - result.raw
    if scale.floor <= result.raw <= scale.ceiling:
        assert result.adjustment == 0


# -- 6. what is acted after the scoring date does not change the score on it ----------


@PROPERTY
@given(scn=scenarios())
def test_an_act_after_the_scoring_date_never_changes_the_score_on_it(scn: Scenario) -> None:
    """Scoring with or without the rows acted after the scoring date gives the same
    score, adjustments, measures, and status and counted points of every other row
    (also when a later record repeats an incident: a regression case below)."""
    result = scn.explain()
    acted = [r for r in scn.records if r.act_date <= scn.as_of]
    alone = explain(acted, scn.policy, scn.as_of, subject=scn.subject)
    assert (alone.score, alone.raw) == (result.score, result.raw)
    assert (alone.adjustments, alone.measures) == (result.adjustments, result.measures)
    lines = {line.record.id: line for line in result.lines}
    for line in alone.lines:
        assert line.status == lines[line.record.id].status, line.record
        assert line.counted == lines[line.record.id].counted, line.record
    for record in scn.records:
        if record not in acted and lines[record.id].status not in UNSCORED:
            assert lines[record.id].status == "after_date", record


# -- regressions: minimal cases of engine bugs these properties found --


def _version(**overrides: Any) -> PolicyVersion:
    """A small valid version: metrics m (+5) and n (+5), each counting 1 year."""
    spec: dict[str, Any] = {
        "name": "prop",
        "version": "v1",
        "title": "Property test policy",
        "effective": dt.date(2020, 1, 1),
        "scale": {"baseline": 100, "floor": 0, "ceiling": 200},
        "limits": {"max_penalty_per_record": 50},
        "departments": {DEPARTMENT: {"name": "Registry"}},
        "metrics": {
            code: _base_metric(code) | {"points": 5, "expiry": "1y"} for code in ("m", "n")
        },
    }
    return PolicyVersion.model_validate(spec | overrides)


@pytest.mark.parametrize("carried", ["cap", "yearly-limit"])
def test_a_cap_carried_with_a_lower_limit_applies_the_new_limit(carried: str) -> None:
    """v1 allows 20 a year, v2 (from 1 July 2021) 5; a +5 record on 30 June (v1) uses the
    shared window, so a +5 record on 1 July (v2) must be held back entirely."""

    def limited(version: str, effective: dt.date, limit: int) -> PolicyVersion:
        if carried == "cap":
            cap = {"name": "c", "metrics": ["m"], "window": "year", "max_gain": limit}
            return _version(version=version, effective=effective, caps=[cap])
        return _version(  # higher is worse: the yearly limit caps gains
            version=version,
            effective=effective,
            scale={"baseline": 0, "floor": 0, "ceiling": 100, "direction": "higher_is_worse"},
            limits={"max_penalty_per_record": 5, "max_penalty_per_year": limit},
        )

    first, second = limited("v1", dt.date(2020, 1, 1), 20), limited("v2", dt.date(2021, 7, 1), 5)
    records = [stored(1, "m", dt.date(2021, 6, 30)), stored(2, "m", dt.date(2021, 7, 1))]
    result = explain(records, PolicySet((first, second)), dt.date(2021, 8, 1))
    assert [line.rule for line in result.lines] == ["prop v1", "prop v2"]
    assert [line.counted for line in result.lines] == [5, 0]


def test_an_incident_reported_again_later_still_counts_before_the_later_act() -> None:
    version = _version(
        metrics={
            "m": _base_metric("m") | {"points": -3, "expiry": "1y"},
            "n": _base_metric("n") | {"points": -10, "expiry": "1y"},
        }
    )
    first = stored(1, "m", dt.date(2021, 1, 1), incident="case-1")
    later = stored(2, "n", dt.date(2021, 6, 1), incident="case-1")
    policy, on = PolicySet((version,)), dt.date(2021, 3, 1)
    assert explain([first], policy, on).score == 97
    result = explain([first, later], policy, on)
    assert [line.status for line in result.lines] == ["counted", "after_date"]
    assert result.score == 97
