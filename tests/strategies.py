"""Hypothesis strategies: generated policies and one resident's records under them.

Shared by the reference scorer's invariants and the population engines' parity suite.

Policies are built directly with ``PolicyVersion.model_validate`` from generated dicts
that always pass the guardrails (a legal basis on every scored rule, a per-record limit
no metric can pass, per-year limits no loss cap passes). Most narrow scales have grade
bands, some metrics force a grade (capped or set exactly) and a perk may go by grade;
records that cannot do harm now and then never expire (without a cycle or repair tier);
caps may have a lifetime window. Act dates favour edge days: 29
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from osmanthus.ledger import StoredRecord, Subject
from osmanthus.policy import Metric, PolicySet, PolicyVersion, Scale
from osmanthus.scoring import Explanation, explain

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
TIMELINE = ("counted", "expired", "cleared", "removed")  # records the timeline applied
UNSCORED = ("superseded", "retraction", "fulfilment", "profile", "duplicate")  # never scores
HELD = re.compile(r"^cap '(?P<cap>.+)' held back (?P<points>\d+) point\(s\)$")
LIMITED = re.compile(r"^limited to (?P<points>\d+) point\(s\): ")  # a reduction, to the harm

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
windows = st.one_of(st.sampled_from(["day", "month", "year", "lifetime"]), rolling)
WINDOWS = ("day", "month", "year", "lifetime", "rolling", "cycle")
BANDS = ("E", "D", "C", "B", "A")  # band names, from the lowest scores up


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
    # measures that last and reset, repeat, or apply in a probation; clean-period clearances
    life_rules: bool = True
    reductions: bool = True
    cycles: bool = True
    fulfilment: bool = True
    shared_incidents: bool = True  # scored records may share an incident reference
    straddle: bool = False  # two versions; metric m0 scores differently in each, with
    # records on the day before and the day the second version takes effect


#: no rule that needs the step-by-step timeline: every resident takes the column path,
#: and the prune rule is on
SIMPLE = Shape(
    clamp="final",
    measures="never",
    reductions=False,
    cycles=False,
    caps=False,
    yearly_limit=False,
    life_rules=False,
)


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


def base_metric(code: str) -> dict[str, Any]:
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
    bands: Sequence[str] = (),
) -> dict[str, Any]:
    spec = base_metric(code)
    if bands and draw(st.booleans()):  # a forced grade, capped or set exactly
        spec["forces_grade"] = draw(st.sampled_from(bands))
        mode = draw(st.sampled_from([None, "cap", "set"]))
        spec |= {"forces_grade_mode": mode} if mode else {}
    spec |= _metric_effect(draw, code, reductions, cycle, tiers, direction)
    return spec


def _metric_effect(
    draw: st.DrawFn,
    code: str,
    reductions: bool,
    cycle: bool,
    tiers: Sequence[str],
    direction: str,
) -> dict[str, Any]:
    """A scored metric's kind, points, expiry and what ends it. ``expiry = "never"`` now and
    then where no record can do harm and nothing else would end it (no cycle; then no
    repair tier)."""
    spec: dict[str, Any] = {}
    expiries = st.one_of(periods, st.just("cycle")) if cycle else periods

    def life(*points: float) -> str:
        harm = any(p < 0 if direction == "higher_is_better" else p > 0 for p in points)
        if cycle or harm or draw(st.integers(0, 4)):
            return draw(expiries)
        return "never"

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
        better = 1 if direction == "higher_is_better" else -1  # a reduction improves
        spec |= {"kind": "reduction", "points": better * draw(st.integers(0, 5))}
        spec |= {"conditions": draw(conditions)}
        expiry = draw(st.none() | st.just(life(0)))
        return spec | ({"expiry": expiry} if expiry else {})
    how = draw(st.sampled_from(["points", "severity", "per_unit"]))
    if how == "points":
        spec["points"] = draw(points)
        spec["expiry"] = life(spec["points"])
    elif how == "severity":
        names = draw(
            st.lists(st.sampled_from(["minor", "major", "grave"]), min_size=1, unique=True)
        )
        classes = {name: draw(points) for name in names}
        spec["severity"] = {
            name: {"points": value, "expiry": life(value)} for name, value in classes.items()
        }
    else:
        rate = draw(st.sampled_from(["0.5", "-0.5", "1.5", "-2", "0.1", "-0.3"]))
        spec |= {
            "points_per_unit": rate,
            "unit": "hour",
            "max_value": draw(st.integers(1, 40)),
            "rounding": draw(st.sampled_from(["floor", "ceil", "half_up"])),
            "expiry": life(float(rate)),  # values from 0: the rate's sign
        }
    spec["expiry_from"] = draw(st.sampled_from(["act", "decision"]))
    if draw(st.booleans()):
        spec["overlie"] = draw(periods)
    never = spec.get("expiry") == "never" or any(
        c["expiry"] == "never" for c in spec.get("severity", {}).values()
    )
    if tiers and not never and draw(st.booleans()):
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
    scale: dict[str, Any] = {
        "baseline": baseline,
        "floor": floor,
        "ceiling": ceiling,
        "direction": direction,
        "clamp": clamp,
    }
    if not wide and draw(st.integers(0, 3)):  # grade bands (a wide scale is too long to check)
        scale["bands"] = draw(band_lists(floor, ceiling))
    return scale


@st.composite
def band_lists(draw: st.DrawFn, floor: int, ceiling: int) -> list[dict[str, Any]]:
    """Bands that hold every score from floor to ceiling once: each edge inclusive or
    exclusive, the first open below and the last open above."""
    inner = range(floor + 1, ceiling + 1)
    count = draw(st.integers(min(1, len(inner)), min(len(BANDS) - 1, len(inner))))
    cuts = (
        sorted(draw(st.lists(st.sampled_from(inner), min_size=count, max_size=count, unique=True)))
        if count
        else []
    )
    bands = []
    for index in range(count + 1):
        band: dict[str, Any] = {"name": BANDS[index]}
        if index:  # scores from cuts[index - 1]
            low = cuts[index - 1]
            band |= draw(st.sampled_from([{"at_least": low}, {"above": low - 1}]))
        if index < count:  # scores below cuts[index]
            high = cuts[index]
            band |= draw(st.sampled_from([{"below": high}, {"at_most": high - 1}]))
        bands.append(band)
    return bands


@st.composite
def measure_lists(
    draw: st.DrawFn, scale: dict[str, Any], skips: bool = False, life_rules: bool = False
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
        if life_rules:
            measure |= draw(measure_life(key, threshold, low, high))
        measures.append(measure)
    return measures


@st.composite
def measure_life(draw: st.DrawFn, key: str, threshold: int, low: int, high: int) -> dict[str, Any]:
    """Now and then: a stage that repeats, lasts (and resets the standing to a value that
    leaves it), or applies only within a probation from the ``ANCHOR`` date."""
    extra: dict[str, Any] = {}
    if not draw(st.integers(0, 2)):
        extra["repeats"] = True
    if not draw(st.integers(0, 2)):
        extra["lasts"] = draw(periods)
        below = (
            (low, min(high, threshold - 1))
            if key == "at_least"
            else (max(low, threshold + 1), high)
        )
        if below[0] <= below[1] and draw(st.booleans()):
            extra["then_reset_to"] = draw(st.integers(*below))
    if not draw(st.integers(0, 3)):
        extra["during"] = {"anchor": ANCHOR, "length": draw(periods)}
    return extra


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
    bands = tuple(band["name"] for band in scale.get("bands", ()))
    metrics = {
        code: draw(
            metric_dicts(
                code,
                reductions=reductions,
                cycle=has_cycle,
                tiers=tuple(tiers),
                direction=direction,
                bands=bands,
            )
        )
        for code in codes
    }
    if m0_points is not None:
        metrics["m0"] = base_metric("m0") | {"points": m0_points, "expiry": draw(periods)}
    if common.fulfilment:
        metrics["paid"] = base_metric("paid") | {"kind": "fulfilment", "fulfils": list(codes)}
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
    if bands and draw(st.booleans()):  # a perk by grade (the grade after forcing)
        spec["perks"] = {
            "perk": {
                "code": "perk",
                "title": "A perk",
                "provider": "Provider",
                "grades": draw(st.lists(st.sampled_from(bands), min_size=1, unique=True)),
                "valid_for": "30d",
                "legal_basis": LEGAL_BASIS,
            }
        }
    if shape.measures == "always" or (shape.measures == "sometimes" and draw(st.integers(0, 3))):
        spec["measures"] = draw(
            measure_lists(scale, skips=shape.measures == "always", life_rules=shape.life_rules)
        )
    mortal = [c for c in codes if "never" not in str(metrics[c])]  # never: refused
    if shape.life_rules and mortal and not draw(st.integers(0, 3)):
        group = draw(st.lists(st.sampled_from(mortal), unique=True, min_size=1))
        spec["clearances"] = [
            {"name": "clean", "metrics": group, "clean_for": draw(periods)}
            | {"legal_basis": LEGAL_BASIS}
        ]
    probation = any("during" in m for m in spec.get("measures", ()))
    if has_cycle:
        spec["cycle"] = {"length": common.cycle, "anchor": ANCHOR}
    if has_cycle or probation:
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
    dated = common.cycle or any(m.during for v in policy.versions for m in v.measures)
    subject = Subject(profile={ANCHOR: anchor} if dated and anchor else {})
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


# -- per-unit metrics with values below zero -----------------------------------------


def _fields(model: BaseModel) -> dict[str, Any]:
    """A model's fields, one level deep (nested models and periods stay objects)."""
    return {name: getattr(model, name) for name in type(model).model_fields}


@st.composite
def negative_value_scenarios(draw: st.DrawFn, shape: Shape = Shape()) -> Scenario:
    """A scenario whose per-unit metrics also take values below zero: each gets a
    negative ``min_value``, so one metric's points can take either sign (0.5 points per
    hour over -6..10 hours gives losses and gains). The per-record limit is raised to the
    new worst harm when needed, and every per-unit record draws its value again over the
    whole range (a negative value now and then)."""
    scn = draw(scenarios(shape))
    rebuilt = []
    for version in scn.policy.versions:
        metrics = {}
        for code, metric in version.metrics.items():
            if metric.points_per_unit is not None and metric.max_value is not None:
                low = draw(st.integers(1, int(metric.max_value)))
                fields = _fields(metric) | {"min_value": Decimal(-low)}
                if metric.expiry == "never":  # now it can do harm: it must expire
                    fields["expiry"] = draw(periods)
                metric = Metric.model_validate(fields)
            metrics[code] = metric
        limits = _fields(version.limits)
        worst = _worst_harm(version.scale, metrics.values())
        limits["max_penalty_per_record"] = max(limits["max_penalty_per_record"], worst)
        rebuilt.append(
            PolicyVersion.model_validate(_fields(version) | {"metrics": metrics, "limits": limits})
        )
    policy = PolicySet(tuple(rebuilt))
    records = []
    for record in scn.records:
        metric = policy.in_force(record.act_date).metrics[record.metric]
        if metric.points_per_unit is not None and metric.max_value is not None:
            low, high = int(metric.min_value) * 2, int(metric.max_value) * 2
            below = st.integers(low, -1).map(lambda n: n / 2)
            value = draw(st.one_of(below, st.integers(low, high).map(lambda n: n / 2)))
            record = replace(record, value=value)
        records.append(record)
    return Scenario(policy, tuple(records), scn.subject, scn.as_of)
