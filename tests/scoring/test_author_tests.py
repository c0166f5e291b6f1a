"""The authors' test format and runner (scoring/author_cases.py, scoring/author_tests.py):
what each new expectation checks, that a wrong one fails with a line naming the case and
what differed, and that a bad test file stops with one line naming file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import example_policy
from osmanthus.errors import PolicyError
from osmanthus.policy import load_policy
from osmanthus.scoring import CaseResult, run_cases

YIELD = '{ metric = "failure_to_yield", act = 2026-06-01'  # Suzhou: -3, 1y, tier general


def run(folder: Path, text: str) -> list[CaseResult]:
    (folder / "tests" / "cases.toml").write_text(text, encoding="utf-8")
    return run_cases(folder, load_policy(folder))


def problems(folder: Path, text: str) -> list[str]:
    """The problems of the file's only entry."""
    (result,) = run(folder, text)
    return list(result.problems)


def case(on: str, records: list[str], expect: str = "{}", more: str = "") -> str:
    """A case on ``on`` with ``records`` (inline tables), ``expect`` and ``more`` lines."""
    listed = ",\n  ".join(records)
    return (
        f'[[case]]\nname = "c"\non = {on}\n{more}records = [\n  {listed},\n]\nexpect = {expect}\n'
    )


@pytest.fixture
def suzhou(tmp_path: Path) -> Path:
    return example_policy(tmp_path)


# -- facts and statuses ------------------------------------------------------------------


def test_a_repaired_record_ends_on_the_grant_date(suzhou: Path) -> None:
    record = (
        f'{YIELD}, repaired = 2026-11-04, expect = {{ status = "repaired", ends = 2026-11-04 }} }}'
    )
    assert problems(suzhou, case("2026-11-04", [record], "{ score = 100 }")) == []
    assert problems(suzhou, case("2026-11-03", [record], "{ score = 97 }")) == [
        "records.0 failure_to_yield: status: expected 'repaired', got 'counted' (counts)"
    ]
    unrepaired = record.replace("repaired = 2026-11-04, ", "")
    assert problems(suzhou, case("2026-11-04", [unrepaired], "{ score = 97 }")) == [
        "records.0 failure_to_yield: status: expected 'repaired', got 'counted' (counts)",
        "records.0 failure_to_yield: ends: expected 2026-11-04, got 2027-06-01",
    ]


def test_a_repair_is_recorded_the_day_after_the_grant(suzhou: Path) -> None:
    record = f"{YIELD}, repaired = 2026-11-04, expect = {{ status = %s }} }}"
    late = "known_at = 2026-11-04T23:00:00Z\n"
    assert problems(suzhou, case("2026-11-10", [record % '"counted"'], more=late)) == []
    known = "known_at = 2026-11-05T00:00:00Z\n"
    assert problems(suzhou, case("2026-11-10", [record % '"repaired"'], more=known)) == []


def test_a_correction_of_a_repaired_record_is_repaired_too(suzhou: Path) -> None:
    records = [
        '{ metric = "volunteer_hours", act = 2026-06-01, value = 30 }',
        '{ metric = "tax_arrears", act = 2025-01-10, repaired = 2026-02-01 }',
        '{ corrects = 1, value = 1, on = 2026-03-01, expect = { status = "repaired" } }',
    ]
    assert (
        problems(suzhou, case("2026-11-01", records, "{ score = 103, counted = [3, 0, 0] }")) == []
    )


def test_set_aside_then_counting_again(suzhou: Path) -> None:
    record = f"{YIELD}, set_aside = 2026-10-01, counts_again = 2026-10-20"
    aside = case(
        "2026-10-05", [f'{record}, expect = {{ status = "suspended" }} }}'], "{ score = 100 }"
    )
    assert problems(suzhou, aside) == []
    again = case("2026-10-20", [f'{record}, expect = {{ status = "suspended" }} }}'])
    assert problems(suzhou, again) == [
        "records.0 failure_to_yield: status: expected 'suspended', got 'counted' (counts)"
    ]


def test_over_lie_end_and_removal_days(tmp_path: Path) -> None:
    folder = example_policy(tmp_path, "flensburg-example")
    offence = (
        '{ metric = "traffic_offence", severity = "one_point", act = 2021-07-15, '
        'decision = 2021-09-01, expect = { status = "expired", ends = 2024-03-01, '
        "removed = 2025-03-01 } }"
    )
    assert problems(folder, case("2024-06-01", [offence])) == []
    assert problems(folder, case("2025-03-01", [offence])) == [
        "records.0 traffic_offence: status: expected 'expired', got 'removed' "
        "(removed after its over-lie period)"
    ]
    wrong_day = offence.replace("removed = 2025-03-01", "removed = 2025-03-02")
    assert problems(folder, case("2024-06-01", [wrong_day])) == [
        "records.0 traffic_offence: removed: expected 2025-03-02, got 2025-03-01"
    ]
    seminar = '{ metric = "aptitude_seminar", act = 2019-03-01, expect = { ends = "never" } }'
    assert problems(folder, case("2019-06-01", [seminar])) == []


def test_counted_has_one_entry_per_record_with_a_row(suzhou: Path) -> None:
    records = [
        f"{YIELD}, repaired = 2026-10-01 }}",
        '{ metric = "loan_default", act = 2026-05-01, department = "tax", '
        'expect = { refused = "may not report" } }',
        '{ metric = "charitable_donation", act = 2026-07-01 }',
    ]
    assert problems(suzhou, case("2026-11-01", records, "{ counted = [0, 2] }")) == []


def test_a_record_not_known_yet_is_named(suzhou: Path) -> None:
    record = f'{YIELD}, decision = 2026-08-01, expect = {{ status = "counted" }} }}'
    text = case("2026-11-01", [record], more="known_at = 2026-07-01T00:00:00Z\n")
    assert problems(suzhou, text) == [
        "records.0 failure_to_yield: not known at 2026-07-01 00:00:00+00:00: nothing to compare"
    ]


# -- refusals at the ledger's door -------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            '{ metric = "loan_default", act = 2026-05-01, department = "tax"',
            "department 'tax' may not report metric 'loan_default' (allowed: pboc)",
        ),
        (
            '{ metric = "parking", act = 2026-05-01, department = "traffic-police"',
            "metric 'parking' is not in policy suzhou-example",
        ),
        (
            '{ metric = "volunteer_hours", act = 2026-05-01, value = 800',
            "value 800.0 is outside the range 0 and 744",
        ),
        (
            '{ metric = "failure_to_yield", act = 2026-05-01, severity = "grave"',
            "metric 'failure_to_yield' has no severity classes",
        ),
        (
            '{ metric = "church_attendance", act = 2026-05-01',
            "metric 'church_attendance' is prohibited data (religion",
        ),
        (
            '{ metric = "failure_to_yield", act = 2026-05-01, decision = 2026-04-30',
            "decision_date: 2026-04-30 is before the act date 2026-05-01",
        ),
        ('{ metric = "failure_to_yield", act = 2019-12-31', "no version in force on 2019-12-31"),
    ],
)
def test_a_record_the_door_refuses(suzhou: Path, record: str, message: str) -> None:
    expected = f'{record}, expect = {{ refused = "{message}" }} }}'
    assert problems(suzhou, case("2026-11-01", [expected], "{ score = 100 }")) == []
    other = f'{record}, expect = {{ refused = "no such message" }} }}'
    (problem,) = problems(suzhou, case("2026-11-01", [other]))
    assert problem.startswith("records.0 ")
    assert ": refused: expected a message containing 'no such message', got " in problem
    assert message in problem


def test_a_correction_and_a_reason_pass_the_door_too(suzhou: Path) -> None:
    records = [
        f"{YIELD} }}",
        '{ corrects = 0, value = 2, expect = { refused = "expected value 1" } }',
        '{ retracts = 0, reason = "blood type AB", expect = { refused = "prohibited data" } }',
    ]
    assert problems(suzhou, case("2026-11-01", records, "{ score = 97 }")) == []


def test_a_record_expected_refused_but_accepted_fails(suzhou: Path) -> None:
    record = f'{YIELD}, expect = {{ refused = {{ matches = "may not report .*" }} }} }}'
    assert problems(suzhou, case("2026-11-01", [record])) == [
        "records.0 failure_to_yield: refused: expected a refusal matching /may not report .*/, "
        "but the record was accepted"
    ]


def test_an_unexpected_refusal_means_the_case_cannot_be_scored(suzhou: Path) -> None:
    record = '{ metric = "loan_default", act = 2026-05-01, department = "tax" }'
    assert problems(suzhou, case("2026-11-01", [record], "{ score = 100 }")) == [
        "could not score: records.0 loan_default: refused: department 'tax' may not report "
        "metric 'loan_default' (allowed: pboc)"
    ]


# -- applications for early repair -------------------------------------------------------


def test_repair_before_the_minimum_period_is_refused_naming_the_day(suzhou: Path) -> None:
    refused = (
        f'{YIELD}, expect = {{ repair_from = 2026-09-01, repair_refused = "early repair may '
        'be requested from 2026-09-01 (3 months after the record" } }'
    )
    assert problems(suzhou, case("2026-08-31", [refused])) == []
    assert problems(suzhou, case("2026-09-01", [refused])) == [
        "records.0 failure_to_yield: repair_refused: expected a refusal containing 'early "
        "repair may be requested from 2026-09-01 (3 months after the record', but an "
        "application on 2026-09-01 would be filed"
    ]


def test_repair_refused_false_expects_the_application_filed(suzhou: Path) -> None:
    allowed = f"{YIELD}, expect = {{ repair_refused = false }} }}"
    assert problems(suzhou, case("2026-09-01", [allowed])) == []
    assert problems(suzhou, case("2026-08-31", [allowed])) == [
        'records.0 failure_to_yield: repair_refused: expected no refusal, got "record 1: '
        "early repair may be requested from 2026-09-01 (3 months after the record, the "
        "policy's minimum period)\""
    ]


def test_repair_refusals_for_records_that_do_not_qualify(suzhou: Path) -> None:
    records = [
        '{ metric = "charitable_donation", act = 2026-07-01, '
        'expect = { repair_refused = "not a negative record" } }',
        '{ metric = "fare_evasion", act = 2026-07-01, '
        'expect = { repair_from = "never", repair_refused = "allows no early repair" } }',
        f'{YIELD}, repaired = 2026-10-01, expect = {{ repair_refused = "already repaired" }} }}',
        '{ metric = "running_red_light", act = 2026-07-01, set_aside = 2026-10-01, '
        'expect = { repair_refused = "it does not count today (set aside" } }',
    ]
    assert problems(suzhou, case("2026-11-01", records)) == []


def test_a_tier_that_requires_fulfilment(suzhou: Path) -> None:
    version = suzhou / "2020-01-01.toml"
    text = version.read_text(encoding="utf-8")
    version.write_text(
        text.replace("fulfilment_ends_early = true\n", "requires_fulfilment = true\n", 1),
        encoding="utf-8",
    )
    record = (
        '{ metric = "loan_default", act = 2025-01-10, incident = "L-1", '
        'expect = { repair_refused = "the obligation is not fulfilled" } }'
    )
    assert problems(suzhou, case("2026-11-01", [record])) == []
    paid = '{ metric = "debt_repaid", act = 2026-09-15, incident = "L-1", department = "pboc" }'
    assert problems(suzhou, case("2026-11-01", [record, paid])) == [
        "records.0 loan_default: repair_refused: expected a refusal containing 'the "
        "obligation is not fulfilled', but an application on 2026-11-01 would be filed"
    ]


def test_on_a_scale_where_higher_is_worse_a_penalty_is_negative(tmp_path: Path) -> None:
    """The Flensburg register, given a repair tier: its points are penalties."""
    folder = example_policy(tmp_path, "flensburg-example")
    version = folder / "2014-05-01.toml"
    text = version.read_text(encoding="utf-8")
    basis = next(line for line in text.splitlines() if line.startswith("legal_basis = "))
    version.write_text(
        text.replace('overlie = "1y"', 'overlie = "1y"\nrepair_tier = "general"', 1)
        + f'\n[repair_tiers.general]\nmin_period = "1y"\nmax_life = "10y"\n{basis}\n',
        encoding="utf-8",
    )
    offence = (
        '{ metric = "traffic_offence", severity = "two_points", act = 2019-05-01, '
        "decision = 2019-06-01, expect = { repair_from = 2020-06-01, repair_refused = %s } }"
    )
    early = offence % '"early repair may be requested from 2020-06-01 (1 year after"'
    assert problems(folder, case("2020-05-31", [early], "{ score = 2 }")) == []
    assert problems(folder, case("2020-06-01", [offence % "false"], "{ score = 2 }")) == []
    seminar = (
        '{ metric = "aptitude_seminar", act = 2019-07-01, decision = 2019-07-02, '
        'expect = { repair_refused = "not a negative record" } }'
    )
    assert problems(folder, case("2020-06-01", [offence % "false", seminar])) == []


# -- versions that must not load ---------------------------------------------------------


def must_not_load(body: str) -> str:
    return f'[[must_not_load]]\nname = "v"\n{body}\n'


def test_a_changed_version_must_not_load(suzhou: Path) -> None:
    text = must_not_load(
        "patch = { metrics.failure_to_yield.points = -80 }\n"
        'error = "a record may cost 80 points, above the per-record limit of 60"'
    )
    (result,) = run(suzhou, text)
    assert result.passed and result.case.source == "cases.toml#must_not_load.0"
    removed = must_not_load(
        'remove = ["metrics.failure_to_yield.legal_basis"]\n'
        "error = \"2020-01-01.toml: metrics.failure_to_yield: 'legal_basis' is required\""
    )
    assert problems(suzhou, removed) == []
    entry = must_not_load('patch = { caps.0.max_gain = "many" }\nerror = "caps.0.max_gain"')
    assert problems(suzhou, entry) == []


def test_a_change_that_loads_fails_the_entry(suzhou: Path) -> None:
    text = must_not_load('patch = { metrics.failure_to_yield.points = -5 }\nerror = "above"')
    assert problems(suzhou, text) == [
        "error: expected a refusal containing 'above', but the changed 2020-01-01.toml loaded"
    ]
    other = must_not_load(
        'patch = { metrics.failure_to_yield.points = -80 }\nerror = { matches = "^limit" }'
    )
    (problem,) = problems(suzhou, other)
    assert problem.startswith('error: expected a message matching /^limit/, got "2020-01-01')
    assert problem.endswith('a record may cost 80 points, above the per-record limit of 60"')


def test_the_changed_version_replaces_its_base(suzhou: Path) -> None:
    text = (suzhou / "2020-01-01.toml").read_text(encoding="utf-8")
    (suzhou / "2027-01-01.toml").write_text(
        text.replace("effective = 2020-01-01", "effective = 2027-01-01", 1).replace(
            'version = "2026.1"', 'version = "2027.1"', 1
        ),
        encoding="utf-8",
    )
    collide = must_not_load(
        'base = "2027-01-01.toml"\npatch = { policy.effective = 2020-01-01 }\n'
        'error = "effective date 2020-01-01 is also the date of"'
    )
    assert problems(suzhou, collide) == []
    renamed = must_not_load(
        'base = "2020-01-01.toml"\npatch = { policy.name = "elsewhere" }\n'
        "error = \"differs from 'elsewhere'\""
    )
    assert problems(suzhou, renamed) == []


# -- bad test files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            case("2026-11-01", [f"{YIELD} }}"], more="profile = { licence_issued = 2020-01-01 }\n"),
            "cases.toml: case 0: profile.licence_issued: the policy declares no profile "
            "attribute 'licence_issued' (declared: died_on, left_city_on)",
        ),
        (
            case("2026-11-01", [f"{YIELD}, set_aside = 2026-10-01, counts_again = 2026-10-01 }}"]),
            "cases.toml: case 0: records.0.counts_again: expected a day after set_aside "
            "(2026-10-01), found 2026-10-01",
        ),
        (
            case("2026-11-01", [f"{YIELD}, repaired = 2026-05-31 }}"]),
            "cases.toml: case 0: records.0.repaired: expected a day on or after the act "
            "(2026-06-01)",
        ),
        (
            case("2026-11-01", [f"{YIELD}, counts_again = 2026-10-01 }}"]),
            "cases.toml: case 0: records.0.counts_again: a record counts again only after "
            "set_aside",
        ),
        (
            case("2026-11-01", [f"{YIELD} }}", "{ corrects = 2, value = 1 }"]),
            "cases.toml: case 0: records.1.corrects: expected the index of an earlier record "
            "(0 to 0), found 2",
        ),
        (
            case("2026-11-01", [f"{YIELD} }}", "{ retracts = 0, repaired = 2026-10-01 }"]),
            "cases.toml: case 0: records.1.repaired: not for a retraction",
        ),
        (
            case("2026-11-01", [f'{YIELD}, expect = {{ status = "gone" }} }}']),
            "cases.toml: case 0: records.0.expect.status: Input should be 'counted', ",
        ),
        (
            case("2026-11-01", [f'{YIELD}, expect = {{ ends = "soon" }} }}']),
            "cases.toml: case 0: records.0.expect.ends: expected a date (2026-11-04) or "
            "\"never\", found 'soon'",
        ),
        (
            case("2026-11-01", [f'{YIELD}, expect = {{ refused = "x", status = "counted" }} }}']),
            "cases.toml: case 0: records.0.expect.status: a refused record has no row",
        ),
        (
            case("2026-11-01", [f'{YIELD}, expect = {{ refused = {{ matches = "(" }} }} }}']),
            "cases.toml: case 0: records.0.expect.refused: matches: not a regular expression",
        ),
        (
            must_not_load('base = "2031-01-01.toml"\npatch = { a = 1 }\nerror = "x"'),
            "cases.toml: must_not_load 0: base: expected a version file of the policy "
            "(2020-01-01.toml)",
        ),
        (
            must_not_load('remove = ["metrics.parking.points"]\nerror = "x"'),
            "cases.toml: must_not_load 0: remove.0: 'metrics.parking.points' is not in "
            "2020-01-01.toml",
        ),
        (
            must_not_load('patch = { caps.1.max_gain = 5 }\nerror = "x"'),
            "cases.toml: must_not_load 0: patch.caps.1: expected the index of an entry of "
            "2020-01-01.toml (0 to 0)",
        ),
        (
            must_not_load('error = "x"'),
            "cases.toml: must_not_load 0: patch: give patch, remove or both",
        ),
        (
            '[[tests]]\nname = "x"\n',
            "cases.toml: tests: unknown table (expected [[case]] or [[must_not_load]])",
        ),
    ],
)
def test_a_bad_test_file_is_one_line_naming_file_entry_and_field(
    suzhou: Path, text: str, error: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        run(suzhou, text)
    assert str(caught.value).startswith(error)
    assert "\n" not in str(caught.value)
