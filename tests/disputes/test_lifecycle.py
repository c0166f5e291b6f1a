"""The dispute procedure on the ledger (SQLite and PostgreSQL, fixed clock): deadlines
from the policy's procedure, answers only by the department that sent the record,
suspension when a deadline passes (reproduced by --as-of/--known-at), appeals to the
reviewer, and every refused step writing nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.factories import OPERATOR, FixedClock, make_id, table_count

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import (
    answer_dispute,
    appeal_dispute,
    file_dispute,
    review_dispute,
    sweep_disputes,
)
from osmanthus.errors import AccessDenied, StepRefused, ValidationError
from osmanthus.ledger import Ledger, dispute_by_id, verify_ledger
from osmanthus.scoring import explain

POLICE = Actor("department", "traffic-police")
TAX = Actor("department", "tax")
OMBUDSMAN = Actor("reviewer", "city ombudsman")
READER = Actor("operator", "test")


def _setup(ledger: Ledger, make_record: Callable[..., NewRecord]) -> tuple[str, int]:
    number = make_id(sequence=41)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    record = ledger.append_record(
        make_record(
            national_id=number,
            act_date=dt.date(2026, 10, 20),
            decision_date=dt.date(2026, 10, 22),
            source_ref="TP-41",
        ),
        actor=OPERATOR,
    )
    return ledger.pseudonym_of(number), record


def _score(
    ledger: Ledger, pseudonym: str, as_of: dt.date, known_at: dt.datetime | None = None
) -> tuple[int | None, str]:
    resident, rows = ledger.read_pseudonym(
        pseudonym, actor=READER, purpose="test", known_at=known_at
    )
    found = explain(rows, ledger.policy, as_of, known_at=known_at, subject=resident.subject)
    return found.score, found.lines[0].status


def test_the_whole_procedure_with_its_deadlines(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "I was not driving that day at all")
    # Suzhou: 20 calendar days from 2026-11-01 (17:00 in Suzhou), receipt not counted
    assert (filed.status, filed.deadline) == ("open", dt.date(2026, 11, 21))
    assert _score(ledger, pseudonym, dt.date(2026, 11, 1)) == (97, "counted")

    with pytest.raises(AccessDenied, match="only department 'traffic-police'"):
        answer_dispute(
            ledger, filed.id, "reject", department="tax", actor=TAX, reason="not our record at all"
        )
    clock.advance(days=22)  # 2026-11-23: the deadline passed two days ago
    swept = sweep_disputes(ledger)
    assert [d.id for d in swept.suspended] == [filed.id]
    assert swept.suspended[0].suspended_from == dt.date(2026, 11, 22)
    assert sweep_disputes(ledger).suspended == ()  # twice: nothing more
    after_sweep = clock.now
    assert _score(ledger, pseudonym, dt.date(2026, 11, 23)) == (100, "suspended")
    assert _score(ledger, pseudonym, dt.date(2026, 11, 21)) == (97, "counted")
    before_sweep = after_sweep - dt.timedelta(seconds=1)
    assert _score(ledger, pseudonym, dt.date(2026, 11, 23), before_sweep) == (97, "counted")

    clock.advance(days=2)  # 2026-11-25: the department rejects, late
    rejected = answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="camera footage shows the vehicle and its plate",
    )
    assert (rejected.status, rejected.deadline) == ("rejected", dt.date(2026, 12, 10))
    assert rejected.suspended_from is None
    assert _score(ledger, pseudonym, dt.date(2026, 11, 25)) == (97, "counted")
    assert _score(ledger, pseudonym, dt.date(2026, 11, 24)) == (100, "suspended")  # as it was
    explained = explain(
        ledger.read_pseudonym(pseudonym, actor=READER, purpose="test")[1],
        ledger.policy,
        dt.date(2026, 11, 25),
    )
    assert explained.lines[0].expires_on == dt.date(2027, 10, 20)  # the expiry did not move

    with pytest.raises(StepRefused, match="already answered"):
        answer_dispute(
            ledger,
            filed.id,
            "uphold",
            department="traffic-police",
            actor=POLICE,
            reason="second thoughts about it",
        )
    with pytest.raises(AccessDenied, match="only the reviewer"):
        review_dispute(ledger, filed.id, "overturn", actor=POLICE, reason="we changed our mind")
    appealed = appeal_dispute(
        ledger, filed.id, "the footage shows another car", actor=Actor("resident", "x")
    )
    assert (appealed.status, appealed.deadline) == ("appealed", dt.date(2026, 12, 25))
    with pytest.raises(StepRefused, match="only a rejected dispute"):
        appeal_dispute(ledger, filed.id, "once more with feeling", actor=Actor("resident", "x"))

    clock.advance(days=3)
    overturned = review_dispute(
        ledger, filed.id, "overturn", actor=OMBUDSMAN, reason="the plate in the footage differs"
    )
    assert overturned.status == "overturned"
    retraction = overturned.steps[-1].record_id
    assert retraction is not None
    _, rows = ledger.read_pseudonym(pseudonym, actor=READER, purpose="test")
    replaced = next(r for r in rows if r.id == retraction)
    assert (replaced.kind, replaced.supersedes_id) == ("retraction", record)
    assert "overturned on appeal" in (replaced.reason or "")
    assert _score(ledger, pseudonym, dt.date(2026, 11, 28)) == (100, "superseded")
    assert [s.kind for s in dispute_by_id(ledger.engine, filed.id).steps] == [
        "filed",
        "suspended",
        "rejected",
        "appealed",
        "overturned",
    ]
    verify_ledger(ledger.engine)  # every step's rows are under the chain


def test_an_upheld_dispute_corrects_the_record_in_the_same_step(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "the amount recorded is wrong")
    upheld = answer_dispute(
        ledger,
        filed.id,
        "uphold",
        department="traffic-police",
        actor=POLICE,
        reason="the wrong offence was entered",
        correct=1.0,
    )
    assert upheld.status == "upheld"
    _, rows = ledger.read_pseudonym(pseudonym, actor=READER, purpose="test")
    correction = next(r for r in rows if r.id == upheld.steps[-1].record_id)
    assert (correction.kind, correction.supersedes_id) == ("correction", record)
    with pytest.raises(StepRefused, match="only a rejected dispute"):
        appeal_dispute(ledger, filed.id, "appeal an upheld one", actor=Actor("resident", "x"))
    with pytest.raises(ValidationError, match="replaced by record"):
        file_dispute(ledger, pseudonym, record, "the old one once more")


def test_extensions_only_as_the_procedure_allows(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "I sent the parking receipt too")
    extend = {"department": "traffic-police", "actor": POLICE, "reason": "reviewing the receipt"}
    with pytest.raises(StepRefused, match="new information"):
        answer_dispute(ledger, filed.id, "extend", **extend)
    with pytest.raises(StepRefused, match="1 to 10 days"):
        answer_dispute(ledger, filed.id, "extend", days=11, new_information=True, **extend)
    events = table_count(ledger, "dispute_events")
    extended = answer_dispute(ledger, filed.id, "extend", new_information=True, **extend)
    assert (extended.status, extended.deadline) == ("open", dt.date(2026, 12, 1))
    assert table_count(ledger, "dispute_events") == events + 1
    with pytest.raises(StepRefused, match="already extended 1"):
        answer_dispute(ledger, filed.id, "extend", days=2, new_information=True, **extend)
    clock.advance(days=29)  # 2026-11-30: still within the extended deadline
    assert sweep_disputes(ledger).suspended == ()
    clock.advance(days=2)  # 2026-12-02
    assert [d.id for d in sweep_disputes(ledger).suspended] == [filed.id]


def test_refused_steps_write_nothing(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "this was not my car at all")
    before = {t: table_count(ledger, t) for t in ("dispute_events", "records", "suspensions")}
    attempts: list[Callable[[], object]] = [
        lambda: appeal_dispute(ledger, filed.id, "appeal before any answer", actor=POLICE),
        lambda: review_dispute(ledger, filed.id, "confirm", actor=OMBUDSMAN, reason="too early"),
        lambda: answer_dispute(
            ledger, filed.id, "reject", department="traffic-police", actor=POLICE, reason="short"
        ),
        lambda: answer_dispute(
            ledger, filed.id, "reject", department="tax", actor=TAX, reason="long enough reason"
        ),
        lambda: answer_dispute(
            ledger,
            filed.id,
            "reject",
            department="traffic-police",
            actor=OMBUDSMAN,
            reason="a reviewer answering",
        ),
        lambda: file_dispute(ledger, pseudonym, record, "a second dispute at once"),
        lambda: sweep_disputes(ledger, dt.date(2027, 1, 1)),
    ]
    for attempt in attempts:
        with pytest.raises((StepRefused, AccessDenied, ValidationError)):
            attempt()
    answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="the footage shows this vehicle",
    )
    clock.advance(days=16)  # past the 15-day appeal window
    with pytest.raises(StepRefused, match="appeal deadline 2026-11-16 has passed"):
        appeal_dispute(ledger, filed.id, "appealing too late now", actor=POLICE)
    after = {t: table_count(ledger, t) for t in ("dispute_events", "records", "suspensions")}
    assert after == {**before, "dispute_events": before["dispute_events"] + 1}


def test_an_overdue_appeal_sets_the_record_aside_until_reviewed(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "it was somebody else driving")
    answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="the footage shows this vehicle",
    )
    appealed = appeal_dispute(ledger, filed.id, "the driver was my brother", actor=POLICE)
    assert appealed.deadline == dt.date(2026, 12, 1)
    clock.advance(days=31)  # 2026-12-02
    assert [d.id for d in sweep_disputes(ledger).suspended] == [filed.id]
    assert _score(ledger, pseudonym, dt.date(2026, 12, 2)) == (100, "suspended")
    clock.advance(days=1)
    confirmed = review_dispute(
        ledger, filed.id, "confirm", actor=OMBUDSMAN, reason="the record stands as sent"
    )
    assert confirmed.status == "confirmed"
    assert _score(ledger, pseudonym, dt.date(2026, 12, 3)) == (97, "counted")
    assert _score(ledger, pseudonym, dt.date(2026, 12, 2)) == (100, "suspended")


def test_a_retraction_outside_the_procedure_decides_the_dispute(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    pseudonym, record = _setup(ledger, make_record)
    filed = file_dispute(ledger, pseudonym, record, "this was somebody else's car")
    clock.advance(days=25)
    sweep_disputes(ledger)  # overdue: set aside
    retraction = ledger.retract_record(
        "traffic-police", "TP-41", new_source_ref="TP-41-R", reason="wrong plate", actor=POLICE
    )
    found = dispute_by_id(ledger.engine, filed.id)
    assert (found.status, found.steps[-1].kind, found.steps[-1].record_id) == (
        "upheld",
        "upheld",
        retraction,
    )
    assert found.suspended_from is None
    assert sweep_disputes(ledger).suspended == ()
    verify_ledger(ledger.engine)


def test_the_metrics_count_overdue_disputes(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from osmanthus.settings import Settings
    from osmanthus.web import create_app

    pseudonym, record = _setup(ledger, make_record)
    file_dispute(ledger, pseudonym, record, "this was somebody else's car")
    with TestClient(create_app(Settings(data_dir=tmp_path, demo_mode=True), ledger)) as client:
        assert "osmanthus_disputes_overdue 0.0" in client.get("/metrics").text
        clock.advance(days=21)
        assert "osmanthus_disputes_overdue 1.0" in client.get("/metrics").text
        assert "osmanthus_notice_backlog 0.0" in client.get("/metrics").text
