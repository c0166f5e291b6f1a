"""Row-level validation: each problem names the row, the field, the value and the reason."""

import datetime as dt
from pathlib import Path

from factories import make_id
from osmanthus.intake import read_batch, validate_batch
from osmanthus.policy import PolicySet

TODAY = dt.date(2026, 11, 1)
HEADER = "national_id,metric,act_date,decision_date,source_ref,value\n"


def batch(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "b.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def good(ref: str, **fields: str) -> str:
    values = {
        "national_id": make_id(),
        "metric": "failure_to_yield",
        "act_date": "2026-06-01",
        "decision_date": "2026-06-03",
        "source_ref": ref,
        "value": "1",
        **fields,
    }
    return ",".join(values[name] for name in HEADER.strip().split(","))


def test_a_clean_batch_has_no_problems(tmp_path: Path, policy: PolicySet) -> None:
    table = read_batch(batch(tmp_path, good("A"), good("B", value="")))
    result = validate_batch(table, policy, "traffic-police", TODAY)
    assert result.problems == [] and result.ok.all()
    assert result.value is not None and result.value.tolist() == [1.0, 1.0]


def test_each_bad_field_is_reported_with_row_field_value_and_reason(
    tmp_path: Path, policy: PolicySet
) -> None:
    rows = [
        good("A"),
        good("B", national_id=make_id()[:17] + "Z"),
        good("C", act_date="2026-02-30"),
        good("D", act_date="2027-01-01", decision_date="2027-01-02"),
        good("E", decision_date="2026-05-01"),
        good("F", value="-3"),
        good("G", value="abc"),
        good("H", metric="religious_attendance"),
        good("I", metric="drunk_driving", value="1").replace("drunk_driving", "tax_arrears"),
        good("A"),
        good("=HYPERLINK(1)"),
        good("J", metric="parking_karma"),
    ]
    result = validate_batch(read_batch(batch(tmp_path, *rows)), policy, "traffic-police", TODAY)
    found = {(p.row, p.field): p.reason for p in result.problems}
    assert found[(2, "national_id")].startswith("not a valid national ID")
    assert found[(3, "act_date")] == "expected a real date YYYY-MM-DD"
    assert found[(4, "act_date")].startswith("in the future")
    assert found[(5, "decision_date")] == "before the act date"
    assert found[(6, "value")] == "outside the range of failure_to_yield: 1 (one record per act)"
    assert found[(7, "value")] == "expected a number"
    assert found[(8, "metric")].startswith("metric 'religious_attendance' is prohibited data")
    assert result.prohibited == {"religious_attendance": 1}
    assert found[(12, "metric")].startswith("unknown metric")
    assert found[(9, "metric")].startswith("department 'traffic-police' may not report it")
    assert found[(10, "source_ref")] == "repeats an earlier row of this batch"
    assert (11, "source_ref") not in found  # formula-like text is data, stored inertly
    assert result.ok.tolist() == [True] + [False] * 9 + [True, False]
    assert next(p for p in result.problems if p.row == 3).value == "2026-02-30"


def test_one_bad_row_at_the_end_of_a_large_batch(tmp_path: Path, policy: PolicySet) -> None:
    rows = [good(f"R{i}") for i in range(20_000)] + [good("LAST", act_date="2026-13-01")]
    result = validate_batch(read_batch(batch(tmp_path, *rows)), policy, "traffic-police", TODAY)
    assert [(p.row, p.field) for p in result.problems] == [(20_001, "act_date")]


def test_long_values_are_truncated_in_the_report(tmp_path: Path, policy: PolicySet) -> None:
    result = validate_batch(
        read_batch(batch(tmp_path, good("x" * 500))), policy, "traffic-police", TODAY
    )
    problem = result.problems[0]
    assert problem.field == "source_ref" and len(problem.value) == 41
