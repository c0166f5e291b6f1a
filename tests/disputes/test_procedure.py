"""Counting the days of the dispute procedure: every convention, on fixed dates (the
same table is in docs/due-process.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from osmanthus.policy.base import LegalBasis
from osmanthus.policy.procedure import DEFAULT_PROCEDURE, Extension, Procedure

D = dt.date
BASIS = LegalBasis(instrument="Test Measures", article="Art. 1", effective=D(2020, 1, 1))
# an example calendar: Mid-Autumn and National Day 2026 as holidays, with the two
# make-up working days (a Sunday and a Saturday) of such a calendar
HOLIDAYS = (D(2026, 9, 25), D(2026, 9, 26), D(2026, 9, 27), *(D(2026, 10, d) for d in range(1, 8)))
MAKE_UP = (D(2026, 9, 20), D(2026, 10, 10))

#: The city example: 20 calendar days, the day of receipt not counted.
CITY = Procedure(
    answer_within=20,
    appeal_within=15,
    review_within=30,
    time_zone="Asia/Shanghai",
    extension=Extension(max_days=10),
    legal_basis=BASIS,
)
#: Credit-reporting style: 30 days counting the day of receipt as day 1, one extension
#: of at most 15 days when the consumer sends new information.
CREDIT = Procedure(
    answer_within=30,
    receipt_is_day_one=True,
    appeal_within=30,
    review_within=30,
    time_zone="America/New_York",
    extension=Extension(max_days=15, when="new_information"),
    legal_basis=BASIS,
)
WORKING = Procedure(
    answer_within=15,
    days="working",
    appeal_within=15,
    review_within=30,
    time_zone="Asia/Shanghai",
    holidays=HOLIDAYS,
    working_weekends=MAKE_UP,
    legal_basis=BASIS,
)
WORKING_DAY_ONE = WORKING.model_copy(update={"receipt_is_day_one": True})
ROLLING = CITY.model_copy(
    update={"roll_to_working_day": True, "holidays": HOLIDAYS, "working_weekends": MAKE_UP}
)

CASES = [
    # procedure, received, due, what it shows
    (CITY, D(2026, 11, 1), D(2026, 11, 21), "20 days after a Sunday: a Saturday stays"),
    (CITY, D(2026, 2, 10), D(2026, 3, 2), "across the end of a 28-day February"),
    (CITY, D(2026, 12, 20), D(2027, 1, 9), "across the end of the year"),
    (CITY, D(2026, 9, 11), D(2026, 10, 1), "calendar days ignore holidays"),
    (CREDIT, D(2026, 11, 1), D(2026, 11, 30), "receipt is day 1: 30 days end on day 30"),
    (CREDIT, D(2026, 1, 31), D(2026, 3, 1), "receipt is day 1, across February"),
    (WORKING, D(2026, 9, 28), D(2026, 10, 23), "working days skip National Day, count Sat 10"),
    (WORKING, D(2026, 11, 1), D(2026, 11, 20), "received on a Sunday: three weeks of work"),
    (WORKING, D(2026, 9, 15), D(2026, 10, 12), "the make-up Sunday and Saturday count"),
    (WORKING_DAY_ONE, D(2026, 10, 3), D(2026, 10, 27), "received on a holiday: day 1 is Oct 8"),
    (WORKING_DAY_ONE, D(2026, 9, 28), D(2026, 10, 22), "a working receipt day is day 1"),
    (ROLLING, D(2026, 11, 1), D(2026, 11, 23), "a Saturday deadline moves to Monday"),
    (ROLLING, D(2026, 9, 11), D(2026, 10, 8), "a deadline in the holidays moves past them"),
    (ROLLING, D(2026, 9, 20), D(2026, 10, 10), "a make-up Saturday is a working day"),
]


@pytest.mark.parametrize(("procedure", "received", "due", "why"), CASES)
def test_answer_deadlines(procedure: Procedure, received: dt.date, due: dt.date, why: str) -> None:
    assert procedure.count(received, procedure.answer_within) == due, why


def test_the_day_of_receipt_is_the_date_in_the_procedures_time_zone() -> None:
    late_utc = dt.datetime(2026, 11, 1, 17, 30, tzinfo=dt.UTC)  # 01:30 on Nov 2 in Suzhou
    assert CITY.received_on(late_utc) == D(2026, 11, 2)
    assert CITY.answer_due(late_utc) == D(2026, 11, 22)
    early_utc = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC)  # 23:00 on Oct 31 in New York
    assert CREDIT.answer_due(early_utc) == D(2026, 11, 29)


def test_extensions_count_from_the_day_after_the_current_due_date() -> None:
    assert CREDIT.extended_due(D(2026, 11, 30), 15) == D(2026, 12, 15)
    assert CITY.extended_due(D(2026, 11, 21), 10) == D(2026, 12, 1)
    assert WORKING.extended_due(D(2026, 9, 30), 2) == D(2026, 10, 9)


def test_appeal_and_review_deadlines_follow_the_same_counting() -> None:
    answered = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
    assert CITY.appeal_due(answered) == D(2026, 12, 6)
    assert CITY.review_due(answered) == D(2026, 12, 21)


def test_the_default_keeps_twenty_calendar_days() -> None:
    assert DEFAULT_PROCEDURE.count(D(2026, 11, 1), 20) == D(2026, 11, 21)
    assert DEFAULT_PROCEDURE.extension is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"holidays": (D(2026, 10, 10),), "working_weekends": (D(2026, 10, 10),)}, "both"),
        ({"working_weekends": (D(2026, 10, 9),)}, "not a Saturday or Sunday"),
        ({"answer_within": 0}, "answer_within"),
        ({"answer_within": 365}, "answer_within"),
        ({"extension": {"max_days": 200}}, "max_days"),
    ],
)
def test_a_procedure_that_makes_no_sense_does_not_load(
    change: dict[str, object], message: str
) -> None:
    data = {**CITY.model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        Procedure.model_validate(data)


def test_the_credit_reporting_procedure_in_the_docs_loads_and_counts_as_tested() -> None:
    import re
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "due-process.md").read_text("utf-8")
    block = re.search(r"```toml\n(\[procedure\].*?)```", text, re.S)
    assert block is not None
    documented = Procedure.model_validate(tomllib.loads(block.group(1))["procedure"])
    assert documented.model_dump(exclude={"legal_basis"}) == CREDIT.model_dump(
        exclude={"legal_basis"}
    )
    rows = re.findall(r"^\| ([^|]+) \| (\d{4}-\d\d-\d\d) \(\w+\) \| (\d{4}-\d\d-\d\d) ", text, re.M)
    assert len(rows) == len(CASES)  # the table in the docs is the table tested here
    for (_, received, due, _), (_, doc_received, doc_due) in zip(CASES, rows, strict=True):
        assert (received.isoformat(), due.isoformat()) == (doc_received, doc_due)
