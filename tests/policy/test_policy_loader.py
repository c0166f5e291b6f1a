import datetime as dt
import shutil
from pathlib import Path

import pytest

from factories import POLICY_DIR
from minimal_policy import MINIMAL, write_policy
from osmanthus.errors import PolicyError, RecordRefused
from osmanthus.policy import load_policy, parse_period, summarise

EXAMPLE = (POLICY_DIR / "2020-01-01.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    """A version of the example policy, beside the example's own charter."""
    for governing in ("charter.toml", "instruments.toml"):
        shutil.copy(POLICY_DIR / governing, tmp_path)
    return write_policy(tmp_path, text, name)


def test_example_policy_loads_with_24_metrics_from_20_departments() -> None:
    version = load_policy(POLICY_DIR).latest
    assert sum(metric.scored for metric in version.metrics.values()) == 24
    assert list(version.perks) == [
        "civilization_loan",
        "transit_discount",
        "library_extended_loans",
        "hospital_priority",
    ]
    assert len(version.departments) == 21  # with the civil registry (retention)
    assert (version.scale.baseline, version.scale.floor, version.scale.ceiling) == (100, 0, 200)
    assert all(
        m.legal_basis and m.legal_basis.example for m in version.metrics.values() if m.scored
    )


def test_scored_metric_without_legal_basis_does_not_load(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        'legal_basis = { instrument = "Charity Law", article = "Art. 91", '
        "effective = 2016-09-01, example = true }\n",
        "",
    )
    line = text.splitlines().index("[metrics.charitable_donation]") + 1
    with pytest.raises(
        PolicyError,
        match=rf"^policy.toml:{line}: metrics.charitable_donation: "
        r"'legal_basis' is required for a scored metric",
    ):
        load_policy(write(tmp_path, text))


def test_legal_basis_without_article_names_the_field(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        'instrument = "Charity Law", article = "Art. 91", ', 'instrument = "Charity Law", '
    )
    with pytest.raises(
        PolicyError, match=r"metrics.charitable_donation.legal_basis.article: 'article' is required"
    ):
        load_policy(write(tmp_path, text))


def test_prohibited_category_does_not_load(tmp_path: Path) -> None:
    text = EXAMPLE.replace('category = "charity"', 'category = "religion"')
    with pytest.raises(
        PolicyError,
        match=r"metrics.charitable_donation.category: prohibited data: 'religion' "
        r"\(religion: 'relig'\) \[charter: prohibited.religion\]",
    ):
        load_policy(write(tmp_path, text))


def test_status_metric_may_not_score(tmp_path: Path) -> None:
    text = EXAMPLE.replace('category = "charity"', 'category = "charity"\nkind = "status"')
    with pytest.raises(PolicyError, match="a status metric may not score"):
        load_policy(write(tmp_path, text))


def test_unknown_reporting_department_does_not_load(tmp_path: Path) -> None:
    text = EXAMPLE.replace('reported_by = ["charity-federation"]', 'reported_by = ["temple"]')
    with pytest.raises(PolicyError, match="unknown department 'temple'"):
        load_policy(write(tmp_path, text))


def test_misspelt_field_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.replace("points = 2\nexpiry", "pionts = 2\nexpiry", 1)
    with pytest.raises(PolicyError, match="pionts: Extra inputs are not permitted"):
        load_policy(write(tmp_path, text))


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^broken.toml: not valid TOML"):
        load_policy(write(tmp_path, "[policy\n", "broken.toml"))


def test_scale_must_be_ordered(tmp_path: Path) -> None:
    text = EXAMPLE.replace("floor = 0", "floor = 150")
    with pytest.raises(PolicyError, match="scale: expected floor <= baseline <= ceiling"):
        load_policy(write(tmp_path, text))


def test_version_in_force_is_chosen_by_date(tmp_path: Path) -> None:
    write(tmp_path, EXAMPLE, "a.toml")
    later = EXAMPLE.replace("effective = 2020-01-01\n", "effective = 2027-01-01\n", 1)
    write(tmp_path, later.replace('version = "2026.1"', 'version = "2027.1"'), "b.toml")
    policies = load_policy(tmp_path)
    assert policies.in_force(dt.date(2026, 12, 31)).version == "2026.1"
    assert policies.in_force(dt.date(2027, 1, 1)).version == "2027.1"
    with pytest.raises(PolicyError, match="no version in force on 2019-12-31"):
        policies.in_force(dt.date(2019, 12, 31))


def test_department_must_be_allowed_to_report_metric() -> None:
    version = load_policy(POLICY_DIR).latest
    with pytest.raises(
        RecordRefused, match="department 'tax' may not report metric 'drunk_driving'"
    ):
        version.check_report("tax", "drunk_driving", 1)
    with pytest.raises(RecordRefused, match="metric 'face_match' is not in policy"):
        version.check_report("tax", "face_match", 1)


def test_points_per_unit_rounds_down() -> None:
    metric = load_policy(POLICY_DIR).latest.metrics["volunteer_hours"]
    assert [metric.points_for(h) for h in (9, 10, 19.9, 24, 100)] == [0, 1, 1, 2, 10]


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        (dt.date(2024, 2, 29), "1y", dt.date(2025, 3, 1)),
        (dt.date(2024, 2, 29), "4y", dt.date(2028, 2, 29)),
        (dt.date(2026, 1, 31), "1m", dt.date(2026, 3, 1)),
        (dt.date(2026, 1, 28), "1m", dt.date(2026, 2, 28)),
        (dt.date(2026, 11, 30), "3m", dt.date(2027, 3, 1)),
        (dt.date(2026, 12, 31), "90d", dt.date(2027, 3, 31)),
    ],
)
def test_periods_use_calendar_arithmetic(start: dt.date, period: str, end: dt.date) -> None:
    assert parse_period(period).after(start) == end


@pytest.mark.parametrize("text", ["", "1w", "0y", "-1m", "y"])
def test_bad_period_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a period"):
        parse_period(text)


def test_the_summary_says_never_a_set_grade_and_a_lifetime_window(tmp_path: Path) -> None:
    bands = (
        'ceiling = 200\n\n[[scale.bands]]\nname = "low"\nbelow = 100\n\n'
        '[[scale.bands]]\nname = "high"\nat_least = 100\n'
    )
    text = (
        MINIMAL.replace("ceiling = 200\n", bands)
        .replace('points = 5\nexpiry = "1y"', 'points = 5\nexpiry = "never"\nforces_grade = "high"')
        .replace(
            'points = -10\nexpiry = "1y"',
            'points = -10\nexpiry = "1y"\nforces_grade = "low"\nforces_grade_mode = "set"',
        )
        + '\n[[caps]]\nname = "ever"\nmetrics = ["good"]\nwindow = "lifetime"\nmax_gain = 50\n'
    )
    lines = summarise(load_policy(write_policy(tmp_path, text)).latest)
    good = next(line for line in lines if line.startswith("metric good "))
    bad = next(line for line in lines if line.startswith("metric bad "))
    assert good.endswith(
        ": +5; counts until replaced or retracted (never expires); "
        "forces grade at most high while it counts"
    )
    assert bad.endswith(
        ": -10; counts 1 year from the act date; forces grade exactly low while it counts"
    )
    assert "cap ever: gain 50 per lifetime over good" in lines
