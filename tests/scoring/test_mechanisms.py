"""Each mechanism of the policy language on a small policy, including edge dates.

Cases are written as authors write them (`osmanthus.scoring.Case`), so the expectations
read in the policy's own terms.
"""

from pathlib import Path
from typing import Any

import pytest

from minimal_policy import BASIS, MINIMAL, policy_from
from osmanthus.policy import PolicySet
from osmanthus.scoring import Case, run_case


def check(policy: PolicySet, **case: Any) -> None:
    result = run_case(Case.model_validate({"name": "t", **case}), policy)
    assert result.passed, result.problems


def extend(tmp_path: Path, extra: str, base: str = MINIMAL) -> PolicySet:
    return policy_from(tmp_path, base + extra)


BANDS = """
[[scale.bands]]
name = "D"
below = 60
[[scale.bands]]
name = "C"
at_least = 60
below = 100
[[scale.bands]]
name = "B"
at_least = 100
at_most = 110
[[scale.bands]]
name = "A"
above = 110
"""


def test_band_edges_inclusive_and_exclusive(tmp_path: Path) -> None:
    policy = policy_from(tmp_path, MINIMAL.replace("ceiling = 200\n", "ceiling = 200\n" + BANDS))
    good = {"metric": "good", "act": "2026-01-10"}
    check(policy, on="2026-02-01", records=[], expect={"score": 100, "grade": "B"})
    check(policy, on="2026-02-01", records=[good, good], expect={"score": 110, "grade": "B"})
    check(policy, on="2026-02-01", records=[good] * 3, expect={"score": 115, "grade": "A"})
    bad = {"metric": "bad", "act": "2026-01-10"}
    check(policy, on="2026-02-01", records=[bad], expect={"score": 90, "grade": "C"})
    check(policy, on="2026-02-01", records=[bad] * 4, expect={"score": 60, "grade": "C"})
    check(policy, on="2026-02-01", records=[bad] * 5, expect={"score": 50, "grade": "D"})


def test_forced_grade_while_the_record_is_active(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("ceiling = 200\n", "ceiling = 200\n" + BANDS)
        + f"""
[metrics.drunk]
title = "Drunk driving"
category = "traffic"
reported_by = ["dept"]
points = -5
expiry = "1y"
forces_grade = "C"
{BASIS}
"""
    )
    policy = policy_from(tmp_path, text)
    records = [{"metric": "good", "act": "2026-01-10"}] * 4 + [
        {"metric": "drunk", "act": "2026-01-20"}
    ]
    check(policy, on="2026-06-01", records=records, expect={"score": 115, "grade": "C"})
    check(policy, on="2027-01-20", records=records, expect={"score": 100, "grade": "B"})


def test_severity_classes_expiry_from_decision_and_over_lie(tmp_path: Path) -> None:
    policy = extend(
        tmp_path,
        f"""
[metrics.offence]
title = "Offence"
category = "traffic"
reported_by = ["dept"]
expiry_from = "decision"
overlie = "1y"
{BASIS}
[metrics.offence.severity.minor]
points = -2
expiry = "6m"
[metrics.offence.severity.major]
points = -8
expiry = "2y"
""",
    )
    minor = {
        "metric": "offence",
        "severity": "minor",
        "act": "2024-01-10",
        "decision": "2024-02-29",
    }
    check(policy, on="2024-08-28", records=[minor], expect={"score": 98})
    check(policy, on="2024-08-29", records=[minor], expect={"score": 100, "counted": [0]})
    result = run_case(
        Case.model_validate({"name": "t", "on": "2025-08-28", "records": [minor], "expect": {}}),
        policy,
    )
    assert result.explanation and result.explanation.lines[0].status == "expired"
    assert "over-lie: kept and shown until 2025-08-29" in result.explanation.lines[0].notes
    result = run_case(
        Case.model_validate({"name": "t", "on": "2025-08-29", "records": [minor], "expect": {}}),
        policy,
    )
    assert result.explanation and result.explanation.lines[0].status == "removed"
    major = {**minor, "severity": "major"}
    # 2 years from 29 Feb 2024 run through 28 Feb 2026 (no 29 Feb: the month's last day)
    check(policy, on="2026-02-28", records=[major], expect={"score": 92})
    check(policy, on="2026-03-01", records=[major], expect={"score": 100})


@pytest.mark.parametrize(
    ("window", "second", "expected"),
    [
        ("day", "2026-03-01", [5, 0]),
        ("day", "2026-03-02", [5, 5]),
        ("month", "2026-03-31", [5, 0]),
        ("month", "2026-04-01", [5, 5]),
        ("year", "2026-12-31", [5, 0]),
        ("rolling:30d", "2026-03-30", [5, 0]),
        ("rolling:30d", "2026-03-31", [5, 5]),
    ],
)
def test_cap_windows(tmp_path: Path, window: str, second: str, expected: list[int]) -> None:
    policy = extend(
        tmp_path,
        f'\n[[caps]]\nname = "gains"\nmetrics = ["good"]\nwindow = "{window}"\nmax_gain = 5\n',
    )
    records = [{"metric": "good", "act": "2026-03-01"}, {"metric": "good", "act": second}]
    check(
        policy,
        on="2027-02-01" if second.startswith("2027") else "2026-12-31",
        records=records,
        expect={"counted": expected},
    )


def test_cap_over_every_metric_with_an_exemption(tmp_path: Path) -> None:
    text = f"""
[metrics.bounty]
title = "Bounty"
category = "conduct_test"
reported_by = ["dept"]
points = 20
expiry = "1y"
{BASIS}

[[caps]]
name = "daily"
exempt = ["bounty"]
window = "day"
max_gain = 7
"""
    policy = extend(tmp_path, text)
    day = "2026-05-05"
    records = [{"metric": "good", "act": day}] * 2 + [{"metric": "bounty", "act": day}]
    check(policy, on="2026-06-01", records=records, expect={"counted": [5, 2, 20], "score": 127})


def test_running_floor_absorbed_points_do_not_come_back(tmp_path: Path) -> None:
    running = MINIMAL.replace("baseline = 100\nfloor = 0", "baseline = 5\nfloor = 1").replace(
        "ceiling = 200\n", 'ceiling = 200\nclamp = "running"\n'
    )
    final = running.replace('clamp = "running"', 'clamp = "final"')
    records = [{"metric": "bad", "act": "2026-01-01"}, {"metric": "good", "act": "2026-02-01"}]
    # running: 5 - 10 -> held at 1 (6 absorbed), + 5 -> 6
    check(
        policy_from(tmp_path, running),
        on="2026-03-01",
        records=records,
        expect={"score": 6, "counted": [-4, 5]},
    )
    # final: 5 - 10 + 5 = 0 -> held at 1 at the end
    check(
        policy_from(tmp_path, final),
        on="2026-03-01",
        records=records,
        expect={"score": 1, "counted": [-10, 5]},
    )


REPAIR = f"""
[repair_tiers.debt]
min_period = "6m"
max_life = "2y"
fulfilment_ends_early = true
{BASIS}

[metrics.default]
title = "Default"
category = "credit"
reported_by = ["dept"]
points = -30
expiry = "5y"
repair_tier = "debt"
{BASIS}

[metrics.paid]
title = "Debt paid"
kind = "fulfilment"
category = "credit"
reported_by = ["dept"]
fulfils = ["default"]
"""


def test_repair_tier_maximum_life(tmp_path: Path) -> None:
    policy = extend(tmp_path, REPAIR)
    record = [{"metric": "default", "act": "2024-02-29", "incident": "D1"}]
    check(policy, on="2026-02-28", records=record, expect={"score": 70})
    check(policy, on="2026-03-01", records=record, expect={"score": 100})


def test_fulfilment_ends_a_record_but_not_before_the_minimum_period(tmp_path: Path) -> None:
    policy = extend(tmp_path, REPAIR)
    default = {"metric": "default", "act": "2026-01-15", "incident": "D1"}
    early = {"metric": "paid", "act": "2026-03-01", "incident": "D1"}
    check(policy, on="2026-07-14", records=[default, early], expect={"score": 70})
    check(policy, on="2026-07-15", records=[default, early], expect={"score": 100})
    late = {"metric": "paid", "act": "2026-09-01", "incident": "D1"}
    check(policy, on="2026-08-31", records=[default, late], expect={"score": 70})
    check(policy, on="2026-09-01", records=[default, late], expect={"score": 100})
    other = {"metric": "paid", "act": "2026-09-01", "incident": "D2"}
    check(policy, on="2026-09-01", records=[default, other], expect={"score": 70})


def test_perks_by_score_and_grade_with_validity(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("ceiling = 200\n", "ceiling = 200\n" + BANDS)
        + f"""
[perks.loan]
title = "Loan"
provider = "Bank"
min_score = 100
valid_for = "30d"
{BASIS}

[perks.library]
title = "Library"
provider = "Library"
grades = ["A"]
valid_for = "3m"
{BASIS}

[perks.emergency]
title = "Emergency care"
provider = "Hospital"
essential = true
valid_for = "1y"
{BASIS}
"""
    )
    policy = policy_from(tmp_path, text)
    check(
        policy,
        on="2026-02-01",
        records=[{"metric": "bad", "act": "2026-01-01"}],
        expect={"perks": ["emergency"]},
    )
    check(
        policy,
        on="2026-02-01",
        records=[{"metric": "good", "act": "2026-01-01"}] * 3,
        expect={"perks": ["loan", "library", "emergency"]},
    )
    result = run_case(
        Case.model_validate({"name": "t", "on": "2026-01-31", "records": [], "expect": {}}), policy
    )
    assert result.explanation
    loan = next(p for p in result.explanation.perks if p.code == "loan")
    assert (loan.eligible, str(loan.valid_until)) == (True, "2026-03-01")  # 30 days, last day


def test_scope_minimum_age_and_residence(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
[scope]
min_age = 18
min_residence = "12m"

[profile.resident_since]
title = "Resident since"
category = "residence"
reported_by = ["dept"]
"""
    )
    policy = policy_from(tmp_path, text)
    # age is the years reached in the calendar year of the scoring date: 2009 is 17 in 2026
    check(
        policy,
        on="2026-06-01",
        birth_year=2009,
        profile={"resident_since": "2020-01-01"},
        expect={"out_of_scope": True},
    )
    check(
        policy,
        on="2026-06-01",
        birth_year=2007,
        profile={"resident_since": "2025-06-02"},
        expect={"out_of_scope": True, "perks": []},
    )
    check(
        policy,
        on="2026-06-01",
        birth_year=2007,
        profile={"resident_since": "2025-06-01"},
        expect={"out_of_scope": False, "score": 100},
    )
    check(policy, on="2026-06-01", birth_year=1990, expect={"out_of_scope": True})


def test_cycle_resets_at_its_end_including_a_leap_day_anchor(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + f"""
[cycle]
length = "12m"
anchor = "licence_issued"

[profile.licence_issued]
title = "Licence issued"
category = "driving_licence"
reported_by = ["dept"]

[metrics.violation]
title = "Violation"
category = "traffic"
reported_by = ["dept"]
points = -3
expiry = "cycle"
{BASIS}
"""
    )
    policy = policy_from(tmp_path, text)
    profile = {"licence_issued": "2020-02-29"}
    record = [{"metric": "violation", "act": "2025-06-01"}]
    # a cycle from 29 Feb runs to the end of February in common years; the next begins 1 Mar
    check(policy, on="2026-02-28", profile=profile, records=record, expect={"score": 97})
    check(policy, on="2026-03-01", profile=profile, records=record, expect={"score": 100})
    check(policy, on="2026-02-27", records=record, expect={"score": 100})  # no anchor: no cycle


def test_a_never_expiring_gain_counts_until_it_is_retracted(tmp_path: Path) -> None:
    policy = extend(
        tmp_path, "", MINIMAL.replace('points = 5\nexpiry = "1y"', 'points = 5\nexpiry = "never"')
    )
    good = {"metric": "good", "act": "2020-03-01"}
    check(policy, on="2020-02-29", records=[good], expect={"score": 100, "counted": [0]})
    check(policy, on="2020-03-01", records=[good], expect={"score": 105, "counted": [5]})
    check(policy, on="2099-12-31", records=[good], expect={"score": 105, "counted": [5]})
    retracted = [good, {"retracts": 0, "on": "2031-05-01"}]
    check(
        policy,
        on="2031-04-30",
        records=retracted,
        known_at="2031-05-01T00:00:00Z",
        expect={"score": 105},
    )
    check(policy, on="2099-12-31", records=retracted, expect={"score": 100, "counted": [0, 0]})
    result = run_case(
        Case.model_validate({"name": "t", "on": "2099-12-31", "records": [good], "expect": {}}),
        policy,
    )
    assert result.explanation is not None
    line = result.explanation.lines[0]
    assert (line.status, line.expires_on, line.notes) == ("counted", None, ())


@pytest.mark.parametrize(
    ("window", "later"),
    [("lifetime", 100), ("rolling:73000d", 100), ("year", 105)],
)
def test_a_lifetime_cap_never_resets(tmp_path: Path, window: str, later: int) -> None:
    """At most 8 points from 'good' in a resident's lifetime: the third record, ten years
    later, when the first two have long expired, is held back entirely, exactly as under
    the window authors used to write for it (rolling:73000d); a yearly window lets it in."""
    policy = extend(
        tmp_path,
        f'\n[[caps]]\nname = "gains"\nmetrics = ["good"]\nwindow = "{window}"\nmax_gain = 8\n',
    )
    records = [
        {"metric": "good", "act": "2021-03-01"},
        {"metric": "good", "act": "2021-07-01"},
        {"metric": "good", "act": "2031-02-01"},
    ]
    check(policy, on="2021-12-31", records=records, expect={"score": 108, "counted": [5, 3, 0]})
    check(policy, on="2031-06-30", records=records, expect={"score": later})
    result = run_case(
        Case.model_validate({"name": "t", "on": "2031-06-30", "records": records, "expect": {}}),
        policy,
    )
    assert result.explanation is not None
    held = ["cap 'gains' held back 5 point(s)"] if window != "year" else []
    assert list(result.explanation.lines[2].notes) == held


FORCING = f"""
[metrics.plan]
title = "Court-approved repayment plan"
category = "credit"
reported_by = ["dept"]
points = 1
expiry = "1y"
forces_grade = "C"
forces_grade_mode = "set"
{BASIS}

[metrics.mentor]
title = "Mentor of the year"
category = "conduct_test"
reported_by = ["dept"]
points = 2
expiry = "1y"
forces_grade = "B"
forces_grade_mode = "set"
{BASIS}

[metrics.listed]
title = "Listed debtor"
category = "credit"
reported_by = ["dept"]
points = -1
expiry = "6m"
forces_grade = "D"
{BASIS}
"""


@pytest.mark.parametrize(
    ("metrics", "score", "grade", "forced_by"),
    [
        (["good"] * 4, 120, "A", None),
        (["good"] * 4 + ["plan"], 121, "C", "Court-approved repayment plan"),  # set: lowers
        (["bad"] * 5 + ["plan"], 51, "C", "Court-approved repayment plan"),  # set: raises
        (["bad"] * 4 + ["plan"], 61, "C", None),  # set to the score's own band: not forced
        (["good"] * 4 + ["mentor", "plan"], 123, "C", "Court-approved repayment plan"),
        (["good"] * 4 + ["plan", "mentor"], 123, "C", "Court-approved repayment plan"),
        (["good"] * 4 + ["mentor"], 122, "B", "Mentor of the year"),
        (["bad"] * 5 + ["plan", "listed"], 50, "D", "Listed debtor"),  # a cap holds
        (["good"] * 4 + ["listed", "mentor"], 121, "D", "Listed debtor"),  # the cap after
        (["good"] * 4 + ["listed"], 119, "D", "Listed debtor"),
    ],
)
def test_a_grade_set_exactly_and_one_capped(
    tmp_path: Path, metrics: list[str], score: int, grade: str, forced_by: str | None
) -> None:
    """A grade set exactly replaces the score's band, up or down (several: the worst);
    a capped grade then pulls it down if worse. Order of the records does not matter."""
    text = MINIMAL.replace("ceiling = 200\n", "ceiling = 200\n" + BANDS) + FORCING
    policy = policy_from(tmp_path, text)
    records = [{"metric": code, "act": "2026-01-10"} for code in metrics]
    check(policy, on="2026-03-01", records=records, expect={"score": score, "grade": grade})
    result = run_case(
        Case.model_validate({"name": "t", "on": "2026-03-01", "records": records, "expect": {}}),
        policy,
    )
    assert result.explanation is not None and result.explanation.forced_by == forced_by
    # once every record has expired, nothing forces the grade
    check(policy, on="2027-01-10", records=records, expect={"score": 100, "grade": "B"})
