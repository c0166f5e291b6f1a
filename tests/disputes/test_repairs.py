"""Early repair on the ledger (SQLite and PostgreSQL, fixed clock): an application before
the policy's minimum period, or without the obligation fulfilled, is refused at once with
nothing written; otherwise the department that sent the record decides within the
procedure; a grant ends the record on that day (a ``repair`` row, reproduced by
--as-of/--known-at); a refusal can be appealed; an unanswered application goes to the
reviewer."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.factories import OPERATOR, POLICY_DIR, FixedClock, explained, make_id, table_count

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import (
    answer_dispute,
    appeal_dispute,
    apply_repair,
    file_dispute,
    review_dispute,
    sweep_disputes,
)
from osmanthus.errors import AccessDenied, NotFound, StepRefused, ValidationError
from osmanthus.ledger import Ledger, dispute_by_id, verify_ledger
from osmanthus.policy import load_policy
from osmanthus.scoring import Explanation

POLICE = Actor("department", "traffic-police")
COURT = Actor("department", "court")
TAX = Actor("department", "tax")
OMBUDSMAN = Actor("reviewer", "city ombudsman")
READER = Actor("operator", "test")
STATEMENT = "I paid the fine and took the road-safety course"


def _resident(ledger: Ledger, sequence: int) -> tuple[str, str]:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    return number, ledger.pseudonym_of(number)


def _record(
    ledger: Ledger, make_record: Callable[..., NewRecord], number: str, act: dt.date, ref: str
) -> int:
    return ledger.append_record(
        make_record(
            national_id=number,
            act_date=act,
            decision_date=act + dt.timedelta(days=2),
            source_ref=ref,
        ),
        actor=OPERATOR,
    )


_explain = explained


def _line(found: Explanation, record_id: int) -> tuple[str, tuple[str, ...]]:
    line = next(ln for ln in found.lines if ln.record.id == record_id)
    return line.status, line.notes


def test_before_the_minimum_period_is_refused_with_the_day_it_becomes_possible(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, pseudonym = _resident(ledger, 61)
    record = _record(ledger, make_record, number, dt.date(2026, 10, 20), "TP-61")
    before = table_count(ledger, "disputes"), table_count(ledger, "dispute_events")
    with pytest.raises(StepRefused, match="may be requested from 2027-01-20"):
        apply_repair(ledger, pseudonym, record, STATEMENT)
    assert (table_count(ledger, "disputes"), table_count(ledger, "dispute_events")) == before
    assert _line(_explain(ledger, pseudonym, dt.date(2026, 11, 1)), record)[0] == "counted"


def test_granted_ends_the_record_on_the_grant_date(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    number, pseudonym = _resident(ledger, 62)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-62")
    filed = apply_repair(ledger, pseudonym, record, STATEMENT, evidence_ref="receipt 2026-118")
    assert (filed.kind, filed.status, filed.deadline) == ("repair", "open", dt.date(2026, 11, 21))
    assert filed.evidence_ref == "receipt 2026-118"
    with pytest.raises(ValidationError, match="already has an application for its repair"):
        apply_repair(ledger, pseudonym, record, STATEMENT)
    with pytest.raises(AccessDenied, match="only department 'traffic-police'"):
        answer_dispute(ledger, filed.id, "uphold", department="tax", actor=TAX, reason="x" * 12)
    with pytest.raises(ValidationError, match="no value to correct"):
        answer_dispute(
            ledger,
            filed.id,
            "uphold",
            department="traffic-police",
            actor=POLICE,
            reason="course certificate checked",
            correct=1.0,
        )
    clock.advance(days=3)  # 2026-11-04
    granted = answer_dispute(
        ledger,
        filed.id,
        "uphold",
        department="traffic-police",
        actor=POLICE,
        reason="course certificate checked",
    )
    assert granted.status == "upheld"
    repair_row = granted.steps[-1].record_id
    assert repair_row is not None
    now = _explain(ledger, pseudonym, dt.date(2026, 11, 4))
    assert now.score == 100
    status, notes = _line(now, record)
    assert status == "repaired" and "ends: repaired on 2026-11-04" in notes
    assert _line(now, repair_row)[0] == "repair"
    assert _explain(ledger, pseudonym, dt.date(2026, 11, 3)).score == 97  # before the grant
    known_before = clock.now - dt.timedelta(seconds=1)
    assert _explain(ledger, pseudonym, dt.date(2026, 11, 4), known_before).score == 97
    with pytest.raises(StepRefused, match="already repaired"):
        apply_repair(ledger, pseudonym, record, STATEMENT)
    verify_ledger(ledger.engine)  # raises on a row not under the chain


def test_a_correction_of_a_repaired_record_stays_repaired(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, pseudonym = _resident(ledger, 63)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-63")
    filed = apply_repair(ledger, pseudonym, record, STATEMENT)
    answer_dispute(
        ledger,
        filed.id,
        "uphold",
        department="traffic-police",
        actor=POLICE,
        reason="checked, all in order",
    )
    corrected = ledger.correct_record(
        "traffic-police",
        "TP-63",
        value=1.0,
        new_source_ref="TP-63-c",
        reason="wrong street on the decision",
        actor=POLICE,
    )
    found = _explain(ledger, pseudonym, dt.date(2026, 11, 2))
    assert found.score == 100
    assert _line(found, corrected)[0] == "repaired"
    verify_ledger(ledger.engine)  # raises on a row not under the chain


def test_refused_then_overturned_on_appeal(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    number, pseudonym = _resident(ledger, 64)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-64")
    filed = apply_repair(ledger, pseudonym, record, STATEMENT)
    refused = answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=POLICE,
        reason="no certificate of the course was sent",
    )
    assert (refused.status, refused.deadline) == ("rejected", dt.date(2026, 11, 16))
    assert _explain(ledger, pseudonym, dt.date(2026, 11, 1)).score == 97
    appeal_dispute(ledger, filed.id, "the certificate is attached now", actor=READER)
    clock.advance(days=5)
    decided = review_dispute(
        ledger, filed.id, "overturn", actor=OMBUDSMAN, reason="the certificate is valid"
    )
    assert decided.status == "overturned"
    assert _line(_explain(ledger, pseudonym, dt.date(2026, 11, 6)), record)[0] == "repaired"


def test_unanswered_goes_to_the_reviewer(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    number, pseudonym = _resident(ledger, 65)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-65")
    filed = apply_repair(ledger, pseudonym, record, STATEMENT)
    clock.advance(days=22)  # the answer was due by 2026-11-21
    swept = sweep_disputes(ledger)
    assert swept.suspended == () and [d.id for d in swept.escalated] == [filed.id]
    assert sweep_disputes(ledger).escalated == ()
    found = dispute_by_id(ledger.engine, filed.id)
    assert found.status == "appealed" and found.steps[-1].kind == "escalated"
    assert found.deadline == dt.date(2026, 12, 23)  # review within 30 days
    # nothing set aside: the record counts until the reviewer decides
    assert _line(_explain(ledger, pseudonym, dt.date(2026, 11, 23)), record)[0] == "counted"
    with pytest.raises(StepRefused, match="already answered"):
        answer_dispute(
            ledger,
            filed.id,
            "uphold",
            department="traffic-police",
            actor=POLICE,
            reason="late but checked",
        )
    review_dispute(ledger, filed.id, "overturn", actor=OMBUDSMAN, reason="no answer was given")
    assert _line(_explain(ledger, pseudonym, dt.date(2026, 11, 23)), record)[0] == "repaired"
    verify_ledger(ledger.engine)  # raises on a row not under the chain


def test_bad_applications_write_nothing(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, pseudonym = _resident(ledger, 66)
    _, other = _resident(ledger, 67)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-66")
    good = ledger.append_record(
        make_record(
            national_id=number,
            department="volunteer-registry",
            metric="volunteer_hours",
            value=10.0,
            act_date=dt.date(2026, 6, 1),
            decision_date=dt.date(2026, 6, 2),
            source_ref="CA-66",
        ),
        actor=OPERATOR,
    )
    before = table_count(ledger, "disputes")
    with pytest.raises(NotFound, match="no such record of yours"):
        apply_repair(ledger, other, record, STATEMENT)  # someone else's record
    with pytest.raises(StepRefused, match="not a negative record"):
        apply_repair(ledger, pseudonym, good, STATEMENT)
    with pytest.raises(ValidationError, match="statement: expected 10 to 2000"):
        apply_repair(ledger, pseudonym, record, "short")
    with pytest.raises(ValidationError, match="evidence_ref: at most 200"):
        apply_repair(ledger, pseudonym, record, STATEMENT, evidence_ref="x" * 201)
    retraction = ledger.retract_record(
        "traffic-police", "TP-66", new_source_ref="TP-66-r", reason="wrong person", actor=POLICE
    )
    with pytest.raises(
        ValidationError, match=r"does not count \(retraction of an earlier record\)"
    ):
        apply_repair(ledger, pseudonym, retraction, STATEMENT)
    with pytest.raises(ValidationError, match="replaced by a later correction or retraction"):
        apply_repair(ledger, pseudonym, record, STATEMENT)
    assert table_count(ledger, "disputes") == before


def test_a_retraction_closes_a_waiting_application(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, pseudonym = _resident(ledger, 68)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-68")
    filed = apply_repair(ledger, pseudonym, record, STATEMENT)
    ledger.retract_record(
        "traffic-police", "TP-68", new_source_ref="TP-68-r", reason="wrong person", actor=POLICE
    )
    assert dispute_by_id(ledger.engine, filed.id).status == "closed"
    # a dispute of the same kind of record is upheld by a correction, an application is not
    other = _record(ledger, make_record, number, dt.date(2026, 6, 2), "TP-69")
    app = apply_repair(ledger, pseudonym, other, STATEMENT)
    ledger.correct_record(
        "traffic-police",
        "TP-69",
        value=1.0,
        new_source_ref="TP-69-c",
        reason="typo in the value",
        actor=POLICE,
    )
    assert dispute_by_id(ledger.engine, app.id).status == "open"
    granted = answer_dispute(
        ledger,
        app.id,
        "uphold",
        department="traffic-police",
        actor=POLICE,
        reason="checked, all in order",
    )
    # granted on the corrected record, the one that counts
    repair_row = granted.steps[-1].record_id
    found = _explain(ledger, pseudonym, dt.date(2026, 11, 2))
    corrected = next(ln for ln in found.lines if ln.record.source_ref == "TP-69-c")
    assert corrected.status == "repaired"
    assert next(ln for ln in found.lines if ln.record.id == repair_row).record.supersedes_id == (
        corrected.record.id
    )
    verify_ledger(ledger.engine)  # raises on a row not under the chain


def test_the_obligation_must_be_fulfilled_first(
    tmp_path: Path, make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord]
) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, folder)
    path = folder / "2020-01-01.toml"
    text = path.read_text(encoding="utf-8")
    old = 'max_life = "5y"\nfulfilment_ends_early = true'
    assert old in text
    path.write_text(
        text.replace(old, 'max_life = "5y"\nrequires_fulfilment = true'), encoding="utf-8"
    )
    ledger = make_ledger(load_policy(folder))
    number, pseudonym = _resident(ledger, 70)
    debtor = ledger.append_record(
        make_record(
            national_id=number,
            department="court",
            metric="dishonest_judgment_debtor",
            act_date=dt.date(2026, 3, 1),
            decision_date=dt.date(2026, 3, 2),
            source_ref="CT-70",
            incident_ref="CASE-70",
        ),
        actor=OPERATOR,
    )
    with pytest.raises(StepRefused, match="the obligation is not fulfilled"):
        apply_repair(ledger, pseudonym, debtor, STATEMENT)
    ledger.append_record(
        make_record(
            national_id=number,
            department="court",
            metric="debt_repaid",
            act_date=dt.date(2026, 9, 1),
            decision_date=dt.date(2026, 9, 1),
            source_ref="CT-70-paid",
            incident_ref="CASE-70",
        ),
        actor=OPERATOR,
    )
    # the payment alone ends nothing under this tier: the resident applies
    assert _line(_explain(ledger, pseudonym, dt.date(2026, 11, 1)), debtor)[0] == "counted"
    filed = apply_repair(ledger, pseudonym, debtor, STATEMENT)
    answer_dispute(
        ledger, filed.id, "uphold", department="court", actor=COURT, reason="paid in full, checked"
    )
    assert _explain(ledger, pseudonym, dt.date(2026, 11, 1)).score == 100


def test_a_dispute_and_an_application_do_not_run_at_once(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, pseudonym = _resident(ledger, 71)
    record = _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-71")
    file_dispute(ledger, pseudonym, record, "I was not driving that day at all")
    with pytest.raises(ValidationError, match="already has dispute"):
        apply_repair(ledger, pseudonym, record, STATEMENT)


def test_a_correction_with_prohibited_data_is_refused_at_once_and_audited(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    """The reason is screened before the correction's transaction begins: inside it, the
    refusal's own audit entry waited for the write lock that transaction held (60 s on
    SQLite, found by schemathesis)."""
    from osmanthus.errors import ProhibitedData

    number, _ = _resident(ledger, 76)
    _record(ledger, make_record, number, dt.date(2026, 6, 1), "TP-76")
    with pytest.raises(ProhibitedData):  # before the fix: a LedgerError, "database is locked"
        ledger.correct_record(
            "traffic-police",
            "TP-76",
            value=1.0,
            new_source_ref="TP-76-c",
            reason="he attends religious services",
            actor=POLICE,
        )
    with ledger.engine.connect() as conn:
        refused = conn.exec_driver_sql(
            "SELECT count(*) FROM audit_log WHERE action = 'ledger.refused_prohibited'"
        ).scalar_one()
    assert refused == 1
