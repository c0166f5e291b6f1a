"""Every counting convention through the ledger, on SQLite and PostgreSQL, with a fixed
clock: a policy whose version declares the procedure, a dispute filed on the day of
receipt, the due date stored; then an extension and an appeal deadline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.factories import OPERATOR, FixedClock, make_id
from tests.minimal_policy import MINIMAL, policy_from

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, appeal_dispute, file_dispute
from osmanthus.ledger import Ledger

DEPT = Actor("department", "dept")
HOLIDAYS = (
    "holidays = [2026-09-25, 2026-09-26, 2026-09-27, "
    + ", ".join(f"2026-10-0{d}" for d in range(1, 8))
    + "]\nworking_weekends = [2026-09-20, 2026-10-10]\n"
)
BASIS = 'legal_basis = { instrument = "Test Measures", article = "Art. 2", effective = 2020-01-01 }'
PROCEDURES = {
    "city": "answer_within = 20\nextension = { max_days = 10 }\n",
    "credit": (
        "answer_within = 30\nreceipt_is_day_one = true\n"
        'extension = { max_days = 15, when = "new_information" }\n'
    ),
    "working": f'answer_within = 15\ndays = "working"\n{HOLIDAYS}'
    'extension = { max_days = 2, when = "any" }\n',
    "working, receipt day 1": f'answer_within = 15\ndays = "working"\n'
    f"receipt_is_day_one = true\n{HOLIDAYS}",
    "calendar, rolled": f"answer_within = 20\nroll_to_working_day = true\n{HOLIDAYS}",
}
#: convention, received, due, extended (days, new due) or None, appeal due (answered
#: on the day of receipt)
CASES = [
    ("city", dt.date(2026, 11, 1), dt.date(2026, 11, 21), (10, dt.date(2026, 12, 1))),
    ("city", dt.date(2026, 2, 10), dt.date(2026, 3, 2), None),
    ("credit", dt.date(2026, 11, 1), dt.date(2026, 11, 30), (15, dt.date(2026, 12, 15))),
    ("credit", dt.date(2026, 1, 31), dt.date(2026, 3, 1), None),
    ("working", dt.date(2026, 9, 28), dt.date(2026, 10, 23), (2, dt.date(2026, 10, 27))),
    ("working", dt.date(2026, 9, 15), dt.date(2026, 10, 12), None),
    ("working, receipt day 1", dt.date(2026, 10, 3), dt.date(2026, 10, 27), None),
    ("calendar, rolled", dt.date(2026, 11, 1), dt.date(2026, 11, 23), None),
    ("calendar, rolled", dt.date(2026, 9, 11), dt.date(2026, 10, 8), None),
]


@pytest.mark.parametrize(("convention", "received", "due", "extended"), CASES)
def test_the_stored_deadlines_follow_the_procedure(
    make_ledger: Callable[..., Ledger],
    make_record: Callable[..., NewRecord],
    clock: FixedClock,
    tmp_path: Path,
    convention: str,
    received: dt.date,
    due: dt.date,
    extended: tuple[int, dt.date] | None,
) -> None:
    text = MINIMAL + f"\n[procedure]\n{PROCEDURES[convention]}appeal_within = 15\n"
    text += f'review_within = 30\ntime_zone = "UTC"\n{BASIS}\n'
    ledger = make_ledger(policy_from(tmp_path, text))
    clock.now = dt.datetime.combine(received, dt.time(9, 0), tzinfo=dt.UTC)
    number = make_id(sequence=90)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    act = received - dt.timedelta(days=5)
    record = ledger.append_record(
        make_record(
            national_id=number,
            department="dept",
            metric="bad",
            act_date=act,
            decision_date=act,
            source_ref="DL-1",
        ),
        actor=OPERATOR,
    )
    filed = file_dispute(ledger, ledger.pseudonym_of(number), record, "not me, I was away")
    assert filed.deadline == due, convention
    if extended is not None:
        days, new_due = extended
        later = answer_dispute(
            ledger,
            filed.id,
            "extend",
            department="dept",
            actor=DEPT,
            reason="reading the new evidence",
            days=days,
            new_information=True,
        )
        assert later.deadline == new_due
    rejected = answer_dispute(
        ledger, filed.id, "reject", department="dept", actor=DEPT, reason="the record stands"
    )
    assert rejected.deadline == ledger.policy.latest.dispute_procedure.count(received, 15)
    appealed = appeal_dispute(ledger, filed.id, "the record is wrong", actor=OPERATOR)
    assert appealed.deadline == ledger.policy.latest.dispute_procedure.count(received, 30)
