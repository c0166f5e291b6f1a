"""Reductions offset penalty points that count when they apply, and are used up once
those points have expired (policy-language.md 7.7): never a credit against a later
offence, never a bonus. Small cases in the policy's own terms, and a property on
generated policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, target

from minimal_policy import BASIS, TEST_CHARTER, policy_from, write_charter
from osmanthus.policy import PolicySet
from osmanthus.scoring import Case, Explanation, run_case
from strategies import PROPERTY, TIMELINE, Scenario, Shape, scenarios

REGISTER = f"""
[policy]
name = "register"
version = "1"
title = "Register"
effective = 2014-05-01

[scale]
baseline = 0
floor = 0
ceiling = 20
direction = "higher_is_worse"
clamp = "running"

[limits]
max_penalty_per_record = 3
max_penalty_per_year = 20

[departments]
dept = {{ name = "Register" }}

[metrics.offence]
title = "Offence"
category = "traffic"
reported_by = ["dept"]
{BASIS}

[metrics.offence.severity.short]
points = 2
expiry = "1y"

[metrics.offence.severity.long]
points = 3
expiry = "5y"

[metrics.seminar]
title = "Seminar"
kind = "reduction"
category = "traffic"
reported_by = ["dept"]
points = -1
conditions = {{ standing_at_least = 1 }}
{BASIS}
"""


def register(tmp_path: Path) -> PolicySet:
    """The register, under a charter whose worst standing is its ceiling."""
    write_charter(tmp_path, TEST_CHARTER.replace("worst_standing = -10000", "worst_standing = 20"))
    return policy_from(tmp_path, REGISTER)


SHORT = {"metric": "offence", "severity": "short"}
LONG = {"metric": "offence", "severity": "long"}


def explained(policy: PolicySet, on: str, records: list[dict[str, Any]]) -> Explanation:
    result = run_case(
        Case.model_validate({"name": "t", "on": on, "records": records, "expect": {}}), policy
    )
    assert result.explanation is not None, result.problems
    return result.explanation


def scores(policy: PolicySet, records: list[dict[str, Any]], *days: str) -> list[int | None]:
    return [explained(policy, day, records).score for day in days]


def test_a_reduction_never_takes_a_point_off_a_later_offence(tmp_path: Path) -> None:
    """2 points, a seminar takes 1 off (1), 3 more points (4). When the 2 expire, the
    point the seminar offset goes with them: 3, the later offence in full (not 2)."""
    policy = register(tmp_path)
    records = [
        SHORT | {"act": "2020-01-10"},
        {"metric": "seminar", "act": "2020-03-01"},
        LONG | {"act": "2020-06-01"},
    ]
    assert scores(policy, records, "2020-03-01", "2020-06-01", "2021-01-09", "2021-01-10") == [
        1,
        4,
        4,
        3,
    ]
    assert scores(policy, records, "2025-05-31", "2025-06-01") == [3, 0]
    before = explained(policy, "2021-01-09", records)
    after = explained(policy, "2021-01-10", records)
    assert [line.counted for line in before.lines] == [2, -1, 3]
    assert [line.counted for line in after.lines] == [0, 0, 3]
    assert after.lines[1].status == "counted"  # the seminar does not expire; it is used up
    assert "used up on 2021-01-10: the points it offset no longer count" in after.lines[1].notes
    assert (after.raw, after.score) == (3, 3)  # baseline + counted: nothing unexplained


def test_a_reduction_offsets_the_points_that_count_longest(tmp_path: Path) -> None:
    """With 2 points ending in a year and 3 ending in five, the seminar's point is taken
    from the 3: it lasts as long as it can. 5 - 1 = 4; the 2 expire: 2; the 3 expire: 0."""
    policy = register(tmp_path)
    records = [
        SHORT | {"act": "2020-01-10"},
        LONG | {"act": "2020-01-20"},
        {"metric": "seminar", "act": "2020-03-01"},
    ]
    assert scores(policy, records, "2020-03-01", "2021-01-10", "2025-01-19", "2025-01-20") == [
        4,
        2,
        2,
        0,
    ]
    assert [line.counted for line in explained(policy, "2021-01-10", records).lines] == [0, 3, -1]


HIGHER_IS_BETTER = f"""
[policy]
name = "civic"
version = "1"
title = "Civic"
effective = 2020-01-01

[scale]
baseline = 100
floor = 0
ceiling = 200
clamp = "running"

[limits]
max_penalty_per_record = 50
max_penalty_per_year = 500

[departments]
dept = {{ name = "Department" }}

[metrics.fine]
title = "Fine"
category = "conduct_test"
reported_by = ["dept"]
points = -10
expiry = "1y"
{BASIS}

[metrics.course]
title = "Course"
kind = "reduction"
category = "education_course"
reported_by = ["dept"]
points = 4
conditions = {{ standing_at_most = 99, once_per = "1y" }}
{BASIS}

[metrics.repair]
title = "Repair work"
kind = "reduction"
category = "education_course"
reported_by = ["dept"]
points = 8
conditions = {{}}
{BASIS}
"""


def test_a_reduction_is_never_a_bonus_where_higher_is_better(tmp_path: Path) -> None:
    """A fine of 10, a course gives 4 back (94). When the fine expires the course is used
    up: 100, not 104."""
    policy = policy_from(tmp_path, HIGHER_IS_BETTER)
    records = [{"metric": "fine", "act": "2024-01-10"}, {"metric": "course", "act": "2024-02-01"}]
    assert scores(policy, records, "2024-02-01", "2025-01-09", "2025-01-10") == [94, 94, 100]
    assert [line.counted for line in explained(policy, "2025-01-10", records).lines] == [0, 0]


def test_a_reduction_offsets_only_what_counts_and_no_point_twice(tmp_path: Path) -> None:
    """Nothing to offset: not applied, and no once_per period starts (a course a month
    later, with a fine counting, still applies). A reduction worth more than what counts
    offsets only that; a second one cannot offset the same points again."""
    policy = policy_from(tmp_path, HIGHER_IS_BETTER)
    records = [
        {"metric": "repair", "act": "2024-01-05"},  # nothing counts yet
        {"metric": "fine", "act": "2024-01-10"},
        {"metric": "repair", "act": "2024-01-20"},  # 8 of the 10
        {"metric": "course", "act": "2024-02-01"},  # 4, but only 2 are left
    ]
    result = explained(policy, "2024-03-01", records)
    assert [line.counted for line in result.lines] == [0, -10, 8, 2]
    assert result.score == 100
    assert result.lines[0].notes == ("not applied: no penalty points count that it could offset",)
    assert result.lines[3].notes == (
        "limited to 2 point(s): the penalty points that count, not yet offset",
    )
    assert scores(policy, records, "2025-01-10") == [100]


# -- the property ---------------------------------------------------------------------------


def applied(line: Any) -> bool:
    return line.points != 0 and not any(n.startswith("not applied") for n in line.notes)


@PROPERTY
@given(
    scn=scenarios(
        Shape(
            clamp="running",
            wide=True,
            caps=False,
            yearly_limit=False,
            measures="never",
            reductions=True,
        )
    )
)
def test_reductions_offset_only_earlier_penalties_that_still_count(scn: Scenario) -> None:
    """Without caps, measures or reachable bounds, what reductions take off the score on
    any date (the penalties of the conduct records that count, less the score's harm)
    is never negative (no bonus) and never more than the penalties that count on that
    date from records applied before the last reduction that applied: a reduction is used
    up once the points it offset have expired, and never offsets a later record."""
    result = scn.explain()
    version = scn.in_force(scn.as_of)
    harm = 1 if version.scale.direction == "higher_is_worse" else -1
    kinds = {line.record.id: scn.in_force(line.record.act_date) for line in result.lines}

    def kind(line: Any) -> str:
        return kinds[line.record.id].metrics[line.record.metric].kind

    def order(line: Any) -> tuple[Any, ...]:
        return (line.record.act_date, line.record.decision_date, line.record.id)

    conduct = [ln for ln in result.lines if ln.status == "counted" and kind(ln) == "conduct"]
    reductions = [
        ln
        for ln in result.lines
        if kind(ln) == "reduction"
        and ln.status in TIMELINE
        and ln.record.act_date <= scn.as_of
        and (ln.expires_on is None or ln.record.act_date < ln.expires_on)
        and applied(ln)
    ]
    assert result.score is not None
    penalties = sum(harm * ln.counted for ln in conduct)
    taken_off = penalties - harm * (result.score - version.scale.baseline)
    target(float(taken_off), label="points reductions take off")
    assert taken_off >= 0, "a reduction gave a bonus"
    if not reductions:
        assert taken_off == 0
        return
    last = max(order(ln) for ln in reductions)
    earlier = sum(max(0, harm * ln.counted) for ln in conduct if order(ln) < last)
    assert taken_off <= earlier, "a reduction offset a later record, or outlived its points"
    for line in reductions:  # what one still counts: improving, at most its points
        assert harm * line.counted <= 0 and abs(line.counted) <= abs(line.points), line
