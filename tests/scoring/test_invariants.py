"""Invariants of the reference scorer, checked on random policies and random records
(the generators are in ``tests/strategies.py``); regression cases at the end of the file.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from osmanthus.core import Subject
from osmanthus.policy import Cap, PolicySet, PolicyVersion
from osmanthus.scoring import Explanation, RecordLine, explain
from strategies import (
    CLAMPS,
    DAY,
    DEPARTMENT,
    DIRECTIONS,
    HELD,
    LEGAL_BASIS,
    LIMITED,
    PROPERTY,
    TIMELINE,
    UNSCORED,
    WINDOWS,
    YEARLY,
    Scenario,
    Shape,
    base_metric,
    scenarios,
    stored,
)

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


def asked(line: RecordLine) -> int:
    """Points the record asks the caps for, from its notes: nothing when a reduction's
    conditions failed, the penalty points it could offset when those were fewer than its
    points, else its points."""
    if any(note.startswith("not applied") for note in line.notes):
        return 0
    for note in line.notes:
        if m := LIMITED.match(note):
            return int(m["points"]) * (1 if line.points > 0 else -1)
    return line.points


def allowed(line: RecordLine) -> int:
    """Points the record was allowed past every cap (before a running clamp): what it
    asked for less what each cap held back."""
    held = sum(int(m["points"]) for note in line.notes if (m := HELD.match(note)))
    points = asked(line)
    return points - held if points > 0 else points + held


def reduces(scn: Scenario, line: RecordLine) -> bool:
    return scn.in_force(line.record.act_date).metrics[line.record.metric].kind == "reduction"


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
    if cap.window == "lifetime":
        return "lifetime"
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
            # the end is never later than the record's own expiry (a cycle, repair tier,
            # fulfilment, clearance or a measure's reset may end it earlier); a plain
            # expiry ends it exactly there
            version = scn.in_force(line.record.act_date)
            metric = version.metrics[line.record.metric]
            expiry = metric.effect(line.record.value, line.record.severity).expiry
            reset = any("the standing was reset" in note for note in line.notes)
            if expiry == "never" and not reset:  # no cycle, repair tier or clearance
                assert line.expires_on is None, line
            if expiry is not None and expiry not in ("cycle", "never"):
                base = line.record.act_date
                if metric.expiry_from == "decision":
                    base = line.record.decision_date
                assert line.expires_on is not None and line.expires_on <= expiry.after(base)
                plain = metric.repair_tier is None and version.cycle is None
                if plain and not version.clearances and not reset:
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
        if result.scale.clamp == "final" and not reduces(scn, line):
            assert line.counted == allowed(line), line
        else:  # a running clamp may absorb some of what the caps allowed, never add, and a
            # reduction is used up as the points it offset expire
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
        wanted = asked(line)  # its points, less for a reduction with less to offset
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
@settings(PROPERTY, max_examples=20)  # six variants
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
        "metrics": {code: base_metric(code) | {"points": 5, "expiry": "1y"} for code in ("m", "n")},
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
            "m": base_metric("m") | {"points": -3, "expiry": "1y"},
            "n": base_metric("n") | {"points": -10, "expiry": "1y"},
        }
    )
    first = stored(1, "m", dt.date(2021, 1, 1), incident="case-1")
    later = stored(2, "n", dt.date(2021, 6, 1), incident="case-1")
    policy, on = PolicySet((version,)), dt.date(2021, 3, 1)
    assert explain([first], policy, on).score == 97
    result = explain([first, later], policy, on)
    assert [line.status for line in result.lines] == ["counted", "after_date"]
    assert result.score == 97


def test_a_record_cleared_by_a_clean_period_has_used_its_yearly_limit() -> None:
    """Found by the caps property: a -1 record on 1 January, cleared on 2 January (clean
    for a day), used the yearly penalty limit of 1 while it counted, so a second -1
    record acted on 2 January is held back (the oracle once left cleared records out)."""
    version = _version(
        limits={"max_penalty_per_record": 1, "max_penalty_per_year": 1},
        metrics={"m": base_metric("m") | {"points": -1, "expiry": "1y"}},
        clearances=[
            {"name": "clean", "metrics": ["m"], "clean_for": "1d", "legal_basis": LEGAL_BASIS}
        ],
    )
    records = [stored(1, "m", dt.date(2021, 1, 2)), stored(2, "m", dt.date(2021, 1, 1))]
    result = explain(records, PolicySet((version,)), dt.date(2021, 1, 2))
    lines = {line.record.id: line for line in result.lines}
    assert (lines[2].status, lines[1].status) == ("cleared", "counted")
    assert [note for note in lines[1].notes if HELD.match(note)] == [
        f"cap '{YEARLY}' held back 1 point(s)"
    ]
    assert {i: allowed(line) for i, line in lines.items()} == expected_allowed(
        Scenario(PolicySet((version,)), tuple(records), Subject(), dt.date(2021, 1, 2)),
        timeline_lines(result),
    )
