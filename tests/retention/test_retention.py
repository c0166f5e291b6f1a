"""The retention pass (SQLite and PostgreSQL, fixed clock): residents whose death or
departure the civil registry reported are erased once the policy's period has run (not
while a dispute of theirs is under way); records removed from sight longer ago than
their retention leave their resident, with their corrections; a dry run writes nothing;
the chain verifies after each pass."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from tests.factories import OPERATOR, make_id, table_count
from tests.retention.test_erasure import _everywhere

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import file_dispute
from osmanthus.errors import NotFound, RecordRefused
from osmanthus.ledger import Ledger, verify_ledger
from osmanthus.retention import retention_pass

POLICE = Actor("department", "traffic-police")
REGISTRY = Actor("department", "civil-registry")


def _resident(ledger: Ledger, sequence: int) -> tuple[str, str]:
    number = make_id(sequence=sequence)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    return number, ledger.pseudonym_of(number)


def _record(
    ledger: Ledger, make_record: Callable[..., NewRecord], number: str, act: dt.date, ref: str
) -> int:
    return ledger.append_record(
        make_record(national_id=number, act_date=act, decision_date=act, source_ref=ref),
        actor=OPERATOR,
    )


def _registry(ledger: Ledger, number: str, attribute: str, day: dt.date, ref: str) -> None:
    ledger.record_profile(
        number, attribute, day, department="civil-registry", source_ref=ref, actor=REGISTRY
    )


def test_residents_are_erased_when_their_retention_has_run(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    died, died_name = _resident(ledger, 91)
    left, left_name = _resident(ledger, 92)
    disputing, disputing_name = _resident(ledger, 93)
    for number, ref in ((died, "D-91"), (left, "D-92"), (disputing, "D-93")):
        _record(ledger, make_record, number, dt.date(2025, 3, 1), f"TP-{ref}")
    _registry(ledger, died, "died_on", dt.date(2025, 9, 1), "CR-91")  # + 1 year: past
    _registry(ledger, left, "left_city_on", dt.date(2025, 1, 1), "CR-92")  # + 3 years: not
    _registry(ledger, disputing, "died_on", dt.date(2025, 1, 1), "CR-93")
    disputed = _record(ledger, make_record, disputing, dt.date(2026, 10, 1), "TP-D-93b")
    file_dispute(ledger, disputing_name, disputed, "the estate disputes this record")

    dry = retention_pass(ledger, dry_run=True)
    assert dry.residents == {"death": 1} and len(dry.skipped) == 1
    assert _everywhere(ledger, died_name)  # nothing written

    done = retention_pass(ledger)
    assert done.residents == {"death": 1}
    assert "dispute" in done.skipped[0] and "is under way" in done.skipped[0]
    assert _everywhere(ledger, died_name) == []
    assert _everywhere(ledger, "TP-D-91") == [] and _everywhere(ledger, "CR-91") == []
    assert _everywhere(ledger, left_name) and _everywhere(ledger, disputing_name)
    verify_ledger(ledger.engine)
    assert retention_pass(ledger).residents == {}  # nothing twice
    verify_ledger(ledger.engine)


def test_a_registry_event_for_an_unknown_person_writes_nothing(ledger: Ledger) -> None:
    before = table_count(ledger, "profile_facts"), table_count(ledger, "audit_log")
    with pytest.raises(NotFound):
        _registry(ledger, make_id(sequence=94), "died_on", dt.date(2026, 1, 1), "CR-94")
    with pytest.raises(RecordRefused, match="may not report profile attribute"):
        number, _ = _resident(ledger, 95)
        ledger.record_profile(
            number,
            "died_on",
            dt.date(2026, 1, 1),
            department="traffic-police",
            source_ref="X-95",
            actor=POLICE,
        )
    assert table_count(ledger, "profile_facts") == before[0]


def test_records_leave_their_resident_when_their_retention_has_run(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, name = _resident(ledger, 96)
    old = _record(ledger, make_record, number, dt.date(2020, 2, 1), "OLD-96")  # ends 2021-02
    corrected = _record(ledger, make_record, number, dt.date(2020, 3, 1), "OLD-96b")
    ledger.correct_record(
        "traffic-police",
        "OLD-96b",
        value=1.0,
        new_source_ref="OLD-96c",
        reason="wrong street on the decision",
        actor=POLICE,
    )
    recent = _record(ledger, make_record, number, dt.date(2022, 6, 1), "NEW-96")  # 2028
    dry = retention_pass(ledger, dry_run=True)
    assert dry.records == 3
    done = retention_pass(ledger)
    assert done.records == 3 and done.entries_redacted >= 3
    _, rows = ledger.read_pseudonym(name, actor=OPERATOR, purpose="test")
    assert [r.id for r in rows] == [recent]
    for ref in ("OLD-96", "OLD-96b", "OLD-96c"):
        assert _everywhere(ledger, ref) == [], ref
    assert old != corrected
    verify_ledger(ledger.engine)
    assert retention_pass(ledger).records == 0
    with ledger.engine.connect() as conn:
        held = conn.execute(
            sa.text(
                "SELECT count(*) FROM records r JOIN residents s ON s.id = r.resident_id "
                "WHERE s.pseudonym = 'erased-records'"
            )
        ).scalar_one()
    assert held == 3


def test_a_pass_scores_again_only_whom_something_may_concern(
    ledger: Ledger, make_record: Callable[..., NewRecord], clock
) -> None:
    quiet, _ = _resident(ledger, 97)
    busy, _ = _resident(ledger, 98)
    _record(ledger, make_record, quiet, dt.date(2020, 4, 1), "Q-97")  # due 2026-04: retired
    _record(ledger, make_record, quiet, dt.date(2021, 9, 1), "Q-97b")  # due 2027-09
    _record(ledger, make_record, busy, dt.date(2021, 9, 1), "B-98")
    first = retention_pass(ledger)
    assert (first.records, first.scored) == (1, 2)
    clock.advance(days=1)
    assert retention_pass(ledger).scored == 0  # nothing of theirs changed, nothing due
    _record(ledger, make_record, busy, dt.date(2026, 10, 1), "B-98b")  # a new row of theirs
    again = retention_pass(ledger)
    assert (again.scored, again.records) == (1, 0)
    verify_ledger(ledger.engine)


def test_erasure_on_demand_needs_a_ground_a_person_and_no_dispute_under_way(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    from osmanthus.errors import ValidationError
    from osmanthus.retention import erase_on_demand

    number, name = _resident(ledger, 71)
    ledger.append_record(
        make_record(national_id=number, source_ref="DEMAND-REF-71"), actor=OPERATOR
    )
    entries = table_count(ledger, "audit_log")
    with pytest.raises(ValidationError, match="name the legal ground"):
        erase_on_demand(ledger, number, "  because  ", actor=OPERATOR)
    with pytest.raises(NotFound, match="no resident is registered"):
        erase_on_demand(
            ledger, make_id(sequence=72), "PIPL Art. 47 request 2026-12-01", actor=OPERATOR
        )
    (record_id,) = [r.id for r in ledger.read_pseudonym(name, actor=OPERATOR, purpose="t")[1]]
    file_dispute(ledger, name, record_id, "not my car")
    with pytest.raises(ValidationError, match="under way"):
        erase_on_demand(ledger, number, "PIPL Art. 47 request 2026-12-01", actor=OPERATOR)
    assert _everywhere(ledger, "DEMAND-REF-71")
    # the failed attempts wrote nothing but the reads above
    assert table_count(ledger, "audit_log") - entries <= 2


def test_erasure_on_demand_names_its_ground_in_the_chain(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    from osmanthus.retention import erase_on_demand

    number, name = _resident(ledger, 73)
    ledger.append_record(
        make_record(national_id=number, source_ref="DEMAND-REF-73"), actor=OPERATOR
    )
    counted = erase_on_demand(
        ledger, number, "court order 2026-12-01", actor=OPERATOR, dry_run=True
    )
    assert counted.changed["records"] == 1 and _everywhere(ledger, "DEMAND-REF-73")
    done = erase_on_demand(ledger, number, "court order 2026-12-01", actor=OPERATOR)
    assert _everywhere(ledger, "DEMAND-REF-73") == [] and _everywhere(ledger, name) == []
    with ledger.engine.connect() as conn:
        purpose = conn.execute(
            sa.text("SELECT purpose FROM audit_log WHERE seq = :s"), {"s": done.seq}
        ).scalar_one()
    assert purpose == "on demand: court order 2026-12-01"
    verify_ledger(ledger.engine)
