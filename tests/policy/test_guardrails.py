"""Every guardrail: a policy that breaks one does not load, and the message names the file,
the line and the field."""

import datetime as dt
import re
from pathlib import Path

import pytest

from minimal_policy import BASIS, MINIMAL, policy_from, write_policy
from osmanthus.errors import PolicyError
from osmanthus.policy import load_policy


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def refused(tmp_path: Path, text: str, pattern: str) -> str:
    with pytest.raises(PolicyError, match=pattern) as info:
        load_policy(write_policy(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_minimal_policy_loads(tmp_path: Path) -> None:
    assert policy_from(tmp_path, MINIMAL).latest.metrics["bad"].points == -10


def test_scored_metric_without_legal_basis(tmp_path: Path) -> None:
    text = MINIMAL.replace(f'points = 5\nexpiry = "1y"\n{BASIS}', 'points = 5\nexpiry = "1y"')
    line = line_of(text, "[metrics.good]")
    refused(tmp_path, text, rf"^policy.toml:{line}: metrics.good: 'legal_basis' is required")


def test_legal_basis_without_effective_date(tmp_path: Path) -> None:
    text = MINIMAL.replace(", effective = 2020-01-01 }", " }", 1)
    line = line_of(text, "[metrics.good]") + 6
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: metrics.good.legal_basis.effective: 'effective' is required",
    )


def test_perk_without_legal_basis(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[perks.bus]\ntitle = "Bus discount"\nprovider = "Bus company"\nmin_score = 110\n'
        'valid_for = "30d"\n'
    )
    line = line_of(text, "[perks.bus]")
    refused(tmp_path, text, rf"^policy.toml:{line}: perks.bus: 'legal_basis' is required")


@pytest.mark.parametrize(
    "category",
    [
        "religion",
        "health",
        "biometrics",
        "Blood type",
        "sexual-orientation",
        "political_opinion",
        "ethnicity",
    ],
)
def test_prohibited_category(tmp_path: Path, category: str) -> None:
    text = MINIMAL.replace('category = "conduct_test"', f'category = "{category}"', 1)
    line = line_of(text, f'category = "{category}"')
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: metrics.good.category: prohibited data: '{category}' "
        r"\(.*\) \[charter: prohibited\.\w+\]$",
    )


def test_prohibited_profile_attribute(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[cycle]\nlength = "12m"\nanchor = "blood"\n\n[profile.blood]\ntitle = "Blood group"\n'
        'category = "blood_type"\nreported_by = ["dept"]\n'
    )
    refused(
        tmp_path,
        text,
        r"profile.blood.title: prohibited data: 'Blood group' \(blood type: 'blood_group'\) "
        r"\[charter: prohibited.blood_type\]",
    )


def test_status_metric_may_not_score(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '[metrics.good]\ntitle = "Good conduct"',
        '[metrics.good]\ntitle = "Married"\nkind = "status"',
    )
    refused(tmp_path, text, r"metrics.good: a status metric may not score")


def test_deduction_above_the_per_record_limit(tmp_path: Path) -> None:
    text = MINIMAL.replace("points = -10", "points = -60")
    line = line_of(text, "[metrics.bad]")
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: metrics.bad: metric 'bad': a record may cost "
        r"60 points, above the per-record limit of 50",
    )


def test_per_unit_deduction_is_bounded_by_the_limit(tmp_path: Path) -> None:
    text = MINIMAL.replace("points = -10\n", 'points_per_unit = -1\nunit = "day"\nmax_value = 80\n')
    refused(tmp_path, text, r"metric 'bad': a record may cost 80 points")


def test_loss_cap_above_the_per_period_limit(tmp_path: Path) -> None:
    text = MINIMAL.replace("max_penalty_per_year = 500", "max_penalty_per_year = 80")
    text += '\n[[caps]]\nname = "losses"\nwindow = "year"\nmax_loss = 90\n'
    refused(
        tmp_path,
        text,
        r"^policy.toml:\d+: caps.0: cap 'losses': allows a loss of 90 points, above the "
        r"per-period limit of 80",
    )


def test_essential_service_may_not_depend_on_the_score(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[perks.er]\ntitle = "Emergency care"\nprovider = "Hospitals"\nessential = true\n'
        f'min_score = 100\nvalid_for = "30d"\n{BASIS}\n'
    )
    line = line_of(text, "[perks.er]")
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: perks.er: an essential service .* may not "
        r"depend on the score",
    )


def test_bands_must_cover_the_scale_once(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "ceiling = 200\n",
        'ceiling = 200\n\n[[scale.bands]]\nname = "low"\n'
        'below = 100\n\n[[scale.bands]]\nname = "high"\nabove = 100\n',
    )
    refused(tmp_path, text, r"scale: .*score 100 falls in no band; expected exactly one")
    overlap = text.replace("above = 100", "at_least = 99")
    refused(tmp_path, overlap, r"score 99 falls in bands low, high")


def test_unknown_references(tmp_path: Path) -> None:
    refused(
        tmp_path,
        MINIMAL.replace('reported_by = ["dept"]', 'reported_by = ["temple"]', 1),
        r"reported_by names unknown department 'temple'",
    )
    refused(
        tmp_path,
        MINIMAL + '\n[[caps]]\nname = "c"\nmetrics = ["nope"]\nwindow = "day"\nmax_gain = 1\n',
        r"caps.0: cap 'c': unknown metric 'nope'",
    )
    refused(
        tmp_path,
        MINIMAL.replace('expiry = "1y"\n', 'expiry = "1y"\nrepair_tier = "x"\n', 1),
        r"unknown repair_tier 'x'",
    )


def test_profile_data_only_where_a_rule_needs_it(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[profile.education]\ntitle = "Education level"\ncategory = "education"\n'
        'reported_by = ["dept"]\n'
    )
    refused(tmp_path, text, r"profile.education: no rule needs this attribute")


def test_misspelt_field_names_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("points = 5\n", "pionts = 5\n")
    line = line_of(text, "pionts = 5")
    refused(tmp_path, text, rf"^policy.toml:{line}: metrics.good.pionts: Extra inputs")


def test_rule_past_its_sunset_lapses_with_a_warning(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'points = 5\nexpiry = "1y"\n', 'points = 5\nexpiry = "1y"\nsunset = 2025-12-31\n'
    )
    policy = policy_from(tmp_path, text)
    assert policy.lapsed(dt.date(2025, 12, 31)) == []
    assert policy.lapsed(dt.date(2026, 1, 1)) == [
        "policy.toml: metric 'good' lapsed on 2025-12-31 (sunset); acts after it are refused"
    ]
    with pytest.raises(Exception, match="after the rule lapsed"):
        policy.latest.check_report("dept", "good", 1, dt.date(2026, 1, 1))
    policy.latest.check_report("dept", "good", 1, dt.date(2025, 12, 31))


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (
            '\n[perks.p]\ntitle = "Perk"\nprovider = "Shop"\ngrades = ["Z"]\nvalid_for = "1m"\n'
            + BASIS
            + "\n",
            r"perks.p: grades names unknown band 'Z'",
        ),
        (
            '\n[perks.p]\ntitle = "Perk"\nprovider = "Shop"\nmin_score = 120\nmax_score = 110\n'
            'valid_for = "1m"\n' + BASIS + "\n",
            r"perks.p: min_score 120 is above max_score 110",
        ),
        (
            '\n[[caps]]\nname = "c"\nwindow = "day"\nmax_gain = 1\n'
            '\n[[caps]]\nname = "c"\nwindow = "year"\nmax_gain = 9\n',
            r"caps: cap names must be unique",
        ),
        (
            '\n[[measures]]\nname = "second"\nat_least = 8\n' + BASIS + "\n"
            '\n[[measures]]\nname = "first"\nat_least = 4\n' + BASIS + "\n",
            r"measures.1: stages must be listed from the first to the last",
        ),
    ],
)
def test_inconsistent_rules_do_not_load(tmp_path: Path, extra: str, pattern: str) -> None:
    refused(tmp_path, MINIMAL + extra, pattern)


def test_per_unit_penalty_is_bounded_at_both_ends(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "points = -10\n",
        'points_per_unit = "0.1"\nunit = "yuan"\nmin_value = -10000\nmax_value = 0\n',
    )
    refused(tmp_path, text, r"metric 'bad': a record may cost 1000 points")


def test_reduction_must_improve_and_only_fulfilments_fulfil(tmp_path: Path) -> None:
    running = MINIMAL.replace("ceiling = 200\n", 'ceiling = 200\nclamp = "running"\n')
    reduction = (
        '\n[metrics.course]\ntitle = "Course"\nkind = "reduction"\ncategory = "education_course"\n'
        'reported_by = ["dept"]\npoints = -2\n' + BASIS + "\n[metrics.course.conditions]\n"
        "standing_at_least = 1\n"
    )
    refused(tmp_path, running + reduction, r"metric 'course': a reduction must improve")
    fulfils = MINIMAL.replace(
        'points = 5\nexpiry = "1y"\n', 'points = 5\nexpiry = "1y"\nfulfils = ["bad"]\n'
    )
    refused(tmp_path, fulfils, r"metric 'good': only a fulfilment metric may name 'fulfils'")


def test_profile_reporters_must_be_known(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[cycle]\nlength = "12m"\nanchor = "issued"\n\n[profile.issued]\ntitle = "Issued"\n'
        'category = "driving_licence"\nreported_by = ["nobody"]\n'
    )
    refused(tmp_path, text, r"profile.issued: reported_by names unknown department 'nobody'")


def test_unknown_header_field_and_bad_period_name_the_field(tmp_path: Path) -> None:
    refused(
        tmp_path,
        MINIMAL.replace('title = "Test policy"', 'title = "Test policy"\nauthor = "x"'),
        r"^policy.toml:\d+: policy.author: Extra inputs are not permitted",
    )
    message = refused(
        tmp_path,
        MINIMAL.replace('expiry = "1y"', 'expiry = "1w"', 1),
        r"^policy.toml:\d+: metrics.good.expiry: .*expected a period",
    )
    assert "function-" not in message


# -- expiry = "never": only for records that cannot cost points ---------------------------

NEVER_GOOD = MINIMAL.replace('points = 5\nexpiry = "1y"', 'points = 5\nexpiry = "never"', 1)
WORSE_UP = 'baseline = 100\nfloor = 0\nceiling = 200\ndirection = "higher_is_worse"'


def test_a_never_expiring_gain_loads(tmp_path: Path) -> None:
    assert policy_from(tmp_path, NEVER_GOOD).latest.metrics["good"].expiry == "never"


@pytest.mark.parametrize(
    ("text", "field", "cost"),
    [
        pytest.param(
            MINIMAL.replace('points = -10\nexpiry = "1y"', 'points = -10\nexpiry = "never"'),
            "metrics.bad.expiry",
            10,
            id="a fixed loss",
        ),
        pytest.param(
            NEVER_GOOD.replace("baseline = 100\nfloor = 0\nceiling = 200", WORSE_UP),
            "metrics.good.expiry",
            5,
            id="a fixed gain where higher is worse",
        ),
        pytest.param(
            NEVER_GOOD.replace(
                "points = 5\n",
                'points_per_unit = 1\nunit = "hour"\nmin_value = -3\nmax_value = 8\n',
            ),
            "metrics.good.expiry",
            3,
            id="per unit with values below zero",
        ),
        pytest.param(
            MINIMAL.replace(
                f'points = -10\nexpiry = "1y"\n{BASIS}',
                f'{BASIS}\n[metrics.bad.severity.minor]\npoints = 2\nexpiry = "never"'
                '\n[metrics.bad.severity.grave]\npoints = -7\nexpiry = "never"',
            ),
            "metrics.bad.severity.grave.expiry",
            7,
            id="a severity class",
        ),
        pytest.param(
            MINIMAL.replace(
                f'points = -10\nexpiry = "1y"\n{BASIS}',
                f'expiry = "never"\n{BASIS}\n[metrics.bad.severity.minor]\npoints = -4'
                '\nexpiry = "1y"',
            ),
            "metrics.bad.expiry",
            4,
            id="the metric's own expiry over a class that costs points",
        ),
    ],
)
def test_a_record_that_can_cost_points_may_not_be_kept_for_ever(
    tmp_path: Path, text: str, field: str, cost: int
) -> None:
    """Every negative record expires: ``expiry = "never"`` is refused, naming the file,
    the line and the field, wherever one record of the metric or class can cost points."""
    line = line_of(text, 'expiry = "never"') if field.count(".") == 2 else r"\d+"
    code = field.split(".")[1]
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: {re.escape(field)}: metric '{code}': expiry 'never' is only "
        rf"for records that cannot cost points, but a record may cost {cost}: a negative "
        r"record must expire$",
    )


def test_never_cannot_hold_where_a_cycle_or_a_repair_tier_ends_the_record(
    tmp_path: Path,
) -> None:
    cycle = (
        '\n[cycle]\nlength = "12m"\nanchor = "issued"\n\n[profile.issued]\ntitle = "Issued"\n'
        'category = "driving_licence"\nreported_by = ["dept"]\n'
    )
    refused(
        tmp_path,
        NEVER_GOOD + cycle,
        r"^policy.toml:\d+: metrics.good.expiry: metric 'good': expiry 'never' cannot hold in "
        r"a scheme with a \[cycle\]: every record ends with its cycle \(write expiry = 'cycle'\)$",
    )
    tier = f'\n[repair_tiers.t]\nmin_period = "1m"\nmax_life = "2y"\n{BASIS}\n'
    text = NEVER_GOOD.replace('expiry = "never"\n', 'expiry = "never"\nrepair_tier = "t"\n') + tier
    refused(
        tmp_path,
        text,
        r"metrics.good.expiry: metric 'good': expiry 'never' cannot hold with repair_tier 't': "
        r"the tier's max_life ends every record$",
    )


def test_an_unknown_expiry_word_names_the_field(tmp_path: Path) -> None:
    text = MINIMAL.replace('expiry = "1y"', 'expiry = "forever"', 1)
    line = line_of(text, 'expiry = "forever"')
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: metrics.good.expiry: expected a period such as '90d', '3m' or "
        r"'1y', or 'cycle' or 'never', found 'forever'$",
    )


def test_a_lifetime_window_loads_and_a_misspelt_one_names_the_field(tmp_path: Path) -> None:
    cap = '\n[[caps]]\nname = "c"\nwindow = "{}"\nmax_gain = 9\n'
    assert policy_from(tmp_path, MINIMAL + cap.format("lifetime")).latest.caps[0].window == (
        "lifetime"
    )
    text = MINIMAL + cap.format("life")
    line = line_of(text, 'window = "life"')
    refused(
        tmp_path,
        text,
        rf"^policy.toml:{line}: caps.0.window: expected a window of day, month, year, cycle, "
        r"lifetime or rolling:<N>d, found 'life'$",
    )


@pytest.mark.parametrize(
    ("field", "pattern"),
    [
        (
            'forces_grade_mode = "set"\n',
            r"metrics.good: forces_grade_mode 'set' needs forces_grade \(the band it sets\)$",
        ),
        (
            'forces_grade = "low"\nforces_grade_mode = "exact"\n',
            r"metrics.good.forces_grade_mode: Input should be 'cap' or 'set'$",
        ),
        (
            'forces_grade = "E"\nforces_grade_mode = "set"\n',
            r"metrics.good: metric 'good': forces_grade names unknown band 'E'$",
        ),
    ],
)
def test_a_forced_grade_mode_names_its_field(tmp_path: Path, field: str, pattern: str) -> None:
    banded = MINIMAL.replace(
        "ceiling = 200\n",
        'ceiling = 200\n\n[[scale.bands]]\nname = "low"\nbelow = 100\n\n'
        '[[scale.bands]]\nname = "high"\nat_least = 100\n',
    )
    good = 'expiry = "1y"\nforces_grade = "low"\nforces_grade_mode = "set"\n'
    metric = policy_from(tmp_path, banded.replace('expiry = "1y"\n', good, 1)).latest.metrics
    assert (metric["good"].forces_grade_mode, metric["bad"].forces_grade_mode) == ("set", "cap")
    text = banded.replace('expiry = "1y"\n', 'expiry = "1y"\n' + field, 1)
    refused(tmp_path, text, rf"^policy.toml:\d+: {pattern}")
