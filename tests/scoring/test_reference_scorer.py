"""The reference scorer's semantics, on records read back from a real ledger."""

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from factories import OPERATOR, POLICY_DIR, make_id
from osmanthus.ledger import Actor, Ledger, NewRecord, StoredRecord
from osmanthus.policy import load_policy
from osmanthus.scoring import explain, score

DEPT = Actor("department", "test")


def rows_of(ledger: Ledger) -> list[StoredRecord]:
    return ledger.read_resident(make_id(), actor=OPERATOR, purpose="test")[1]


@pytest.fixture
def resident(ledger: Ledger) -> Ledger:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    return ledger


def test_baseline_without_records(resident: Ledger) -> None:
    result = explain(rows_of(resident), resident.policy, dt.date(2026, 11, 1))
    assert (result.score, result.raw, result.lines) == (100, 100, ())


def test_record_counts_until_the_day_before_expiry(
    resident: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    resident.append_record(
        make_record(act_date=dt.date(2025, 11, 1), decision_date=dt.date(2025, 11, 2)), actor=DEPT
    )
    rows = rows_of(resident)
    assert score(rows, resident.policy, dt.date(2025, 10, 31)) == 100  # before the act
    assert score(rows, resident.policy, dt.date(2025, 11, 1)) == 97  # the act date
    assert score(rows, resident.policy, dt.date(2026, 10, 31)) == 97  # last day it counts
    last = explain(rows, resident.policy, dt.date(2026, 11, 1))  # the expiry date
    assert last.score == 100
    assert last.lines[0].status == "expired" and last.lines[0].expires_on == dt.date(2026, 11, 1)


def test_leap_day_act_counts_through_28_february(
    resident: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    resident.append_record(
        make_record(act_date=dt.date(2024, 2, 29), decision_date=dt.date(2024, 3, 1)), actor=DEPT
    )
    rows = rows_of(resident)
    assert score(rows, resident.policy, dt.date(2025, 2, 28)) == 97
    assert score(rows, resident.policy, dt.date(2025, 3, 1)) == 100


def test_explanation_lists_points_expiry_and_legal_basis(
    resident: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    resident.append_record(
        make_record(metric="volunteer_hours", department="volunteer-registry", value=45), actor=DEPT
    )
    resident.append_record(make_record(), actor=DEPT)
    result = explain(rows_of(resident), resident.policy, dt.date(2026, 11, 1))
    assert [(line.points, line.counted) for line in result.lines] == [(4, 4), (-3, -3)]
    assert result.score - 100 == result.counted_total == 1
    assert result.lines[0].legal_basis.startswith("Regulations on Volunteer Service, Art. 32")
    assert result.lines[1].expires_on == dt.date(2027, 6, 1)


def test_ceiling_is_shown_as_an_adjustment(
    resident: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    for month in range(1, 12):  # 11 commendations x 10 points: 210, held at 200
        day = min(dt.date(2026, month, 1), dt.date(2026, 10, 31))
        resident.append_record(
            make_record(
                metric="good_samaritan_commendation",
                department="civil-affairs",
                act_date=day,
                decision_date=day,
            ),
            actor=DEPT,
        )
    high = explain(rows_of(resident), resident.policy, dt.date(2026, 11, 1))
    assert (high.raw, high.score, high.adjustment) == (210, 200, -10)
    assert high.score - 100 == high.counted_total + high.adjustment


def test_cap_holds_back_gains_and_they_never_return(
    resident: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    for month in range(1, 11):  # 10 x 744 h x 0.1 = 740 points; at most 60 a year
        resident.append_record(
            make_record(
                metric="volunteer_hours",
                department="volunteer-registry",
                value=744,
                act_date=dt.date(2026, month, 1),
                decision_date=dt.date(2026, month, 2),
            ),
            actor=DEPT,
        )
    result = explain(rows_of(resident), resident.policy, dt.date(2026, 11, 1))
    assert [line.counted for line in result.lines] == [60] + [0] * 9
    assert result.score == 160
    assert "cap 'volunteering per year' held back 14 point(s)" in result.lines[0].notes
    assert explain(rows_of(resident), resident.policy, dt.date(2026, 12, 31)).score == 160
    # the first record expires on 1 January; the held-back points of the others never return
    assert explain(rows_of(resident), resident.policy, dt.date(2027, 1, 1)).score == 100


def test_floor_and_yearly_penalty_limit(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    for i in range(2):
        ledger.append_record(
            make_record(
                metric="dishonest_judgment_debtor", department="court", source_ref=f"C-{i}"
            ),
            actor=DEPT,
        )
    result = explain(rows_of(ledger), ledger.policy, dt.date(2026, 11, 1))
    assert [line.counted for line in result.lines] == [-60, -40]
    assert "cap 'yearly penalty limit' held back 20 point(s)" in result.lines[1].notes
    assert (result.raw, result.score, result.adjustment) == (0, 0, 0)


def test_corrected_value_counts_and_retraction_removes(
    resident: Ledger, make_record: Callable[..., NewRecord], clock: object
) -> None:
    resident.append_record(
        make_record(
            metric="volunteer_hours", department="volunteer-registry", value=30, source_ref="V"
        ),
        actor=DEPT,
    )
    day = dt.date(2026, 11, 1)
    assert score(rows_of(resident), resident.policy, day) == 103
    known_before = clock.now  # type: ignore[attr-defined]
    clock.advance(minutes=5)  # type: ignore[attr-defined]
    resident.correct_record(
        "volunteer-registry",
        "V",
        value=80,
        new_source_ref="V2",
        reason="hours under-counted",
        actor=DEPT,
    )
    rows = rows_of(resident)
    corrected = explain(rows, resident.policy, day)
    assert corrected.score == 108
    assert [line.status for line in corrected.lines] == ["superseded", "counted"]
    assert score(rows, resident.policy, day, known_at=known_before) == 103  # as known then
    resident.retract_record(
        "volunteer-registry", "V2", new_source_ref="V3", reason="not this resident", actor=DEPT
    )
    retracted = explain(rows_of(resident), resident.policy, day)
    assert retracted.score == 100
    assert [line.status for line in retracted.lines] == ["superseded", "superseded", "retraction"]


def test_record_is_scored_by_the_rule_of_its_act_date(
    tmp_path: Path, make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord]
) -> None:
    text = (POLICY_DIR / "2020-01-01.toml").read_text(encoding="utf-8")
    (tmp_path / "v1.toml").write_text(text, encoding="utf-8")
    for governing in ("charter.toml", "instruments.toml"):
        shutil.copy(POLICY_DIR / governing, tmp_path)
    harsher = text.replace("effective = 2020-01-01\n", "effective = 2026-07-01\n", 1).replace(
        'version = "2026.1"', 'version = "2026.2"'
    )
    start = harsher.index("[metrics.failure_to_yield]")
    harsher = harsher[:start] + harsher[start:].replace("points = -3", "points = -6", 1)
    (tmp_path / "v2.toml").write_text(harsher, encoding="utf-8")
    policy = load_policy(tmp_path)
    ledger = make_ledger(policy)
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.append_record(
        make_record(act_date=dt.date(2026, 6, 30), decision_date=dt.date(2026, 7, 2)), actor=DEPT
    )
    ledger.append_record(
        make_record(act_date=dt.date(2026, 7, 1), decision_date=dt.date(2026, 7, 2)), actor=DEPT
    )
    result = explain(rows_of(ledger), policy, dt.date(2026, 11, 1))
    assert [line.points for line in result.lines] == [-3, -6]
    assert [line.rule for line in result.lines] == [
        "suzhou-example 2026.1",
        "suzhou-example 2026.2",
    ]
    assert result.policy == "suzhou-example 2026.2"
    assert load_policy(POLICY_DIR).latest.metrics["failure_to_yield"].points == -3
