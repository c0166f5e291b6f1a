"""The web service's hot read (a kept DBAPI connection, SQLite and PostgreSQL) gives what
the SQLAlchemy read gives, sees every new commit, and feeds the remembered decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from factories import OPERATOR, make_id
from osmanthus.ledger import Ledger, NewRecord, read_only
from osmanthus.ledger.quick_read import QuickReader
from osmanthus.ledger.reading import resident_and_records
from osmanthus.scoring.eligibility import decide
from osmanthus.scoring.remembered import Decisions


def test_the_quick_read_equals_the_sqlalchemy_read(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number = make_id(sequence=11)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    ledger.append_record(make_record(national_id=number, source_ref="A-1"), actor=OPERATOR)
    ledger.append_record(
        make_record(national_id=number, source_ref="A-2", act_date=dt.date(2026, 6, 2)),
        actor=OPERATOR,
    )
    ledger.retract_record(
        "traffic-police", "A-2", new_source_ref="A-2R", reason="wrong plate", actor=OPERATOR
    )
    for day, ref in ((dt.date(2026, 5, 1), "CR-1"), (dt.date(2026, 5, 9), "CR-2")):
        ledger.record_profile(  # on PostgreSQL read in the resident's round trip
            number, "left_city_on", day, department="civil-registry", source_ref=ref, actor=OPERATOR
        )
    lonely = make_id(sequence=12)
    ledger.register_resident(lonely, "gusu", actor=OPERATOR)
    quick = QuickReader(ledger.engine, with_profile=True)
    try:
        for person in (number, lonely):
            name = ledger.pseudonym_of(person)
            with read_only(ledger.engine) as conn:
                expected = resident_and_records(conn, name)
            found = quick.resident_and_records(name)
            assert expected is not None and found is not None
            resident, rows = found
            assert resident.id == expected[0].id and resident.birth_year == 1987
            with read_only(ledger.engine) as conn:
                facts = ledger_profile(conn, resident.id)
            assert resident.profile == facts
            assert resident.profile == (
                {"left_city_on": dt.date(2026, 5, 9)} if person == number else {}
            )
            assert rows.stored() == expected[1]
            assert rows.ids == tuple(r.id for r in expected[1])
        assert len(found_rows(quick, ledger, number)) == 3
        assert quick.resident_and_records("no-such-pseudonym") is None
    finally:
        quick.close()


def ledger_profile(conn: object, resident_id: int) -> dict[str, object]:
    """The resident's profile facts as the ledger's SQLAlchemy read gives them."""
    from osmanthus.ledger.reading import PROFILE

    rows = conn.execute(PROFILE, {"resident": resident_id}).all()  # type: ignore[attr-defined]
    return {attribute: value for attribute, value in rows}


def found_rows(quick: QuickReader, ledger: Ledger, number: str) -> tuple[int, ...]:
    found = quick.resident_and_records(ledger.pseudonym_of(number))
    assert found is not None
    return found[1].ids


def test_the_kept_connection_sees_each_new_commit(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number = make_id(sequence=13)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    quick = QuickReader(ledger.engine, with_profile=False)
    try:
        assert found_rows(quick, ledger, number) == ()
        ledger.append_record(make_record(national_id=number), actor=OPERATOR)
        assert len(found_rows(quick, ledger, number)) == 1
    finally:
        quick.close()


def test_a_remembered_decision_is_never_stale(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number = make_id(sequence=14)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    quick = QuickReader(ledger.engine, with_profile=False)
    decisions = Decisions(ledger.policy, size=2)
    day = dt.date(2026, 7, 1)
    try:

        def check() -> bool:
            found = quick.resident_and_records(ledger.pseudonym_of(number))
            assert found is not None
            resident, rows = found
            answer = decisions.decide(resident, rows, "civilization_loan", day)
            direct = decide(ledger.policy, resident, rows.stored(), "civilization_loan", day)
            assert answer == direct  # the same decision as the reference scorer's
            return answer.eligible

        assert check() and check()
        assert (decisions.hits, decisions.misses) == (1, 1)
        ledger.append_record(  # a serious record: below the perk's minimum score
            make_record(national_id=number, metric="failure_to_yield", value=1.0), actor=OPERATOR
        )
        check()
        assert decisions.misses == 2  # new rows, new key: decided afresh
    finally:
        quick.close()
