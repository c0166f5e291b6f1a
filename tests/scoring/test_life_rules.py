"""The life of a standing: stages for a probation only, measures that last and reset the
standing, stages that repeat, and clean-period clearances (docs/policy-language.md)."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from minimal_policy import TEST_CHARTER, policy_from, write_charter
from osmanthus.core import Subject
from osmanthus.errors import PolicyError
from osmanthus.policy import PolicySet
from osmanthus.residents.projection import project
from osmanthus.scoring import Case, run_case

BASIS = 'legal_basis = { instrument = "Test Measures", article = "Art. 1", effective = 2020-01-01 }'

# A demerit scheme: points count up from 0; a novice (the first 2 years from the licence
# date) is banned at 7, everyone at 12; a warning at 9 is given again each time 9 is
# reached anew; the ban lasts 6 months and then the standing starts again at 0; minor
# offences are all cleared after a year with no new minor offence.
DEMERIT = f"""
[policy]
name = "demerit"
version = "1"
title = "Demerit points"
effective = 2020-01-01

[scale]
baseline = 0
floor = 0
ceiling = 100
direction = "higher_is_worse"
clamp = "running"

[limits]
max_penalty_per_record = 12
max_penalty_per_year = 100

[departments]
police = {{ name = "Traffic police" }}

[profile.licence_issued]
title = "Licence first issued"
category = "driving_licence"
reported_by = ["police"]

[metrics.minor]
title = "Minor offence"
category = "traffic"
reported_by = ["police"]
points = 2
expiry = "3y"
{BASIS}

[metrics.major]
title = "Major offence"
category = "traffic"
reported_by = ["police"]
points = 5
expiry = "3y"
{BASIS}

[[measures]]
name = "novice ban"
at_least = 7
during = {{ anchor = "licence_issued", length = "2y" }}
lasts = "6m"
then_reset_to = 0
{BASIS}

[[measures]]
name = "warning"
at_least = 9
repeats = true
{BASIS}

[[measures]]
name = "ban"
at_least = 12
lasts = "6m"
then_reset_to = 0
{BASIS}

[[clearances]]
name = "minor offences"
metrics = ["minor"]
clean_for = "1y"
{BASIS}
"""


@pytest.fixture(scope="module")
def demerit(tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    return load(tmp_path_factory.mktemp("demerit"), DEMERIT)


def load(folder: Path, text: str) -> PolicySet:
    """``text`` under the test charter, with a worst standing for points that count up."""
    write_charter(folder, TEST_CHARTER.replace("worst_standing = -10000", "worst_standing = 100"))
    return policy_from(folder, text)


def check(policy: PolicySet, **case: Any) -> None:
    result = run_case(Case.model_validate({"name": "t", **case}), policy)
    assert result.passed, result.problems


def record(metric: str, act: str, expect: dict[str, Any]) -> dict[str, Any]:
    if "ends" in expect:
        expect["ends"] = dt.date.fromisoformat(expect["ends"])
    return {"metric": metric, "act": act} | ({"expect": expect} if expect else {})


def minor(act: str, **expect: Any) -> dict[str, Any]:
    return record("minor", act, expect)


def major(act: str, **expect: Any) -> dict[str, Any]:
    return record("major", act, expect)


VETERAN = {"licence_issued": "2010-01-01"}
NOVICE = {"licence_issued": "2025-06-01"}


def test_a_lower_threshold_holds_only_within_the_probation(demerit: PolicySet) -> None:
    records = [major("2026-03-01"), minor("2026-04-01")]  # 7 points
    check(
        demerit,
        on="2026-05-01",
        profile=NOVICE,
        records=records,
        expect={"score": 7, "measures": ["novice ban"], "measures_running": ["novice ban"]},
    )
    check(
        demerit,
        on="2026-05-01",
        profile=VETERAN,
        records=records,
        expect={"score": 7, "measures": []},
    )
    # the probation ends on 2027-06-01: the same points after it take no measure
    later = [major("2027-06-01"), minor("2027-06-02")]
    check(demerit, on="2027-07-01", profile=NOVICE, records=later, expect={"measures": []})
    # no licence date: never on probation
    check(demerit, on="2026-05-01", records=records, expect={"measures": []})


def test_a_measure_that_ends_resets_the_standing_and_clears_the_records(
    demerit: PolicySet,
) -> None:
    # 5, then 10 (warning at 9), then 12 on 2026-03-01: the ban, for 6 months
    records = [major("2026-01-10"), major("2026-02-01"), minor("2026-03-01")]
    running = {"score": 12, "measures": ["warning", "ban"], "measures_running": ["ban"]}
    check(demerit, on="2026-08-31", profile=VETERAN, records=records, expect=running)
    ended = {"score": 0, "measures": ["warning", "ban"], "measures_running": []}
    check(demerit, on="2026-09-01", profile=VETERAN, records=records, expect=ended)
    after = [
        major("2026-01-10", status="cleared", ends="2026-09-01"),
        major("2026-02-01", status="cleared", ends="2026-09-01"),
        minor("2026-03-01", status="cleared", ends="2026-09-01"),
        minor("2026-10-01", status="counted", ends="2027-10-01"),  # after the reset
    ]
    check(
        demerit,
        on="2026-10-01",
        profile=VETERAN,
        records=after,
        expect={"score": 2, "counted": [0, 0, 0, 2]},
    )
    # the ladder starts again: 10 more points take the ban a second time
    again = [*records, minor("2026-10-01"), major("2026-11-01"), major("2026-12-01")]
    check(
        demerit,
        on="2026-12-02",
        profile=VETERAN,
        records=again,
        expect={"score": 12, "measures": ["warning", "ban", "ban"]},
    )


def test_a_record_acted_before_the_reset_and_reported_after_it_is_cleared(
    demerit: PolicySet,
) -> None:
    records = [
        major("2026-01-10"),
        major("2026-02-01"),
        {"metric": "minor", "act": "2026-03-01"},
        # acted during the ban, decided after its end: counted by its act date, cleared
        {
            "metric": "minor",
            "act": "2026-05-01",
            "decision": "2026-12-01",
            "expect": {"status": "cleared"},
        },
    ]
    check(demerit, on="2027-01-01", profile=VETERAN, records=records, expect={"score": 0})


def test_a_stage_that_repeats_is_taken_again_when_reached_anew(demerit: PolicySet) -> None:
    records = [major("2026-01-10"), minor("2026-02-01"), minor("2026-03-01")]  # 9: warning
    check(
        demerit,
        on="2026-04-01",
        profile=VETERAN,
        records=records,
        expect={"score": 9, "measures": ["warning"]},
    )
    # the minor ones are cleared on 2027-03-01 (a clean year): 5; two more reach 9 again
    more = [*records, minor("2027-05-01"), minor("2027-05-02")]
    check(
        demerit,
        on="2027-06-01",
        profile=VETERAN,
        records=more,
        expect={"score": 9, "measures": ["warning", "warning"]},
    )


def test_a_stage_without_repeats_is_taken_once(tmp_path: Path) -> None:
    text = DEMERIT.replace(
        'name = "warning"\nat_least = 9\nrepeats = true\n', 'name = "warning"\nat_least = 9\n'
    )
    policy = load(tmp_path, text)
    more = [
        major("2026-01-10"),
        minor("2026-02-01"),
        minor("2026-03-01"),
        minor("2027-05-01"),
        minor("2027-05-02"),
    ]
    check(
        policy,
        on="2027-06-01",
        profile=VETERAN,
        records=more,
        expect={"score": 9, "measures": ["warning"]},
    )


def test_a_clean_period_clears_the_whole_group(demerit: PolicySet) -> None:
    records = [
        minor("2026-01-01"),
        minor("2026-06-01"),  # within a year of the first: both count on
        major("2026-07-01"),  # not in the group
    ]
    check(
        demerit,
        on="2027-05-31",
        profile=VETERAN,
        records=records,
        expect={"score": 9, "counted": [2, 2, 5]},
    )
    cleared = [
        minor("2026-01-01", status="cleared", ends="2027-06-01"),
        minor("2026-06-01", status="cleared", ends="2027-06-01"),
        major("2026-07-01", status="counted", ends="2029-07-01"),
    ]
    check(
        demerit,
        on="2027-06-01",
        profile=VETERAN,
        records=cleared,
        expect={"score": 5, "counted": [0, 0, 5]},
    )
    # a new minor offence on the day of the clearance does not revive the cleared ones
    late = [*records, minor("2027-06-01", status="counted")]
    check(
        demerit,
        on="2027-07-01",
        profile=VETERAN,
        records=late,
        expect={"score": 7, "counted": [0, 0, 5, 2]},
    )


def test_a_record_still_ends_on_its_own_expiry_within_a_busy_group(demerit: PolicySet) -> None:
    every_ten_months = [minor(f"{2026 + k * 10 // 12}-{k * 10 % 12 + 1:02d}-01") for k in range(5)]
    check(
        demerit,
        on="2029-01-02",
        profile=VETERAN,
        records=[minor("2026-01-01", status="expired", ends="2029-01-01"), *every_ten_months[1:]],
        expect={"score": 6},
    )


GUARDRAILS = [
    (('lasts = "6m"\nthen_reset_to = 0\n', "then_reset_to = 0\n"), "then_reset_to needs lasts"),
    (("then_reset_to = 0\n", "then_reset_to = 7\n"), "reaches the measure's own threshold"),
    (("then_reset_to = 0\n", "then_reset_to = -1\n"), "outside the scale"),
    (('metrics = ["minor"]', 'metrics = ["nothing"]'), "unknown metric 'nothing'"),
    (("at_least = 9\nrepeats", "at_least = 7\nrepeats"), "each threshold further"),
    (('anchor = "licence_issued"', 'anchor = "first_licence"'), "'first_licence' is used by"),
    (('clean_for = "1y"', 'clean_for = "0d"'), "clean_for: expected a period"),
    (('clean_for = "1y"\n' + BASIS, 'clean_for = "1y"\n'), "'legal_basis' is required"),
    (('points = 2\nexpiry = "3y"', 'points = -2\nexpiry = "never"'), "expiry 'never'"),
]


@pytest.mark.parametrize(("change", "message"), GUARDRAILS)
def test_a_rule_that_cannot_hold_does_not_load(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in DEMERIT
    with pytest.raises(PolicyError, match=message.replace("(", r"\(")):
        load(tmp_path, DEMERIT.replace(old, new, 1))


def test_a_probation_stage_may_share_the_threshold_of_the_stage_before(tmp_path: Path) -> None:
    ladder = f"""
[[measures]]
name = "ban"
at_least = 12
{BASIS}

[[measures]]
name = "novice ban"
at_least = 12
during = {{ anchor = "licence_issued", length = "2y" }}
{BASIS}
"""
    head = DEMERIT[: DEMERIT.index("[[measures]]")]
    policy = load(tmp_path, head + ladder)
    records = [major("2026-01-10"), major("2026-02-01"), minor("2026-03-01")]
    check(
        policy,
        on="2026-04-01",
        profile=NOVICE,
        records=records,
        expect={"measures": ["novice ban"]},
    )
    check(policy, on="2026-04-01", profile=VETERAN, records=records, expect={"measures": ["ban"]})


def test_the_expiry_calendar_shows_the_day_a_measure_resets_the_standing(
    demerit: PolicySet,
) -> None:
    case = Case.model_validate(
        {
            "name": "t",
            "on": "2026-04-01",
            "records": [major("2026-01-10"), major("2026-02-01"), minor("2026-03-01")],
            "expect": {},
        }
    )
    scored = run_case(case, demerit).explanation
    assert scored is not None
    rows = [line.record for line in scored.lines]
    subject = Subject(profile={"licence_issued": dt.date(2010, 1, 1)})
    ahead = project(rows, demerit, case.on, subject=subject)
    assert ahead.today.score == 12
    reset = next(step for step in ahead.steps if step.on == dt.date(2026, 9, 1))
    assert reset.score == 0
    assert len(reset.expiring) == 3
