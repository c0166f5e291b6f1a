"""Profile corrections on the ledger (SQLite and PostgreSQL, fixed clock): a resident
disputes a profile fact a rule uses; the department that reported it upholds with the
corrected date, a new fact from which every score is derived (the old one stays for
--known-at): cycles move (the China 12-point example) and scope changes (residence);
bad steps write nothing; overdue goes to the reviewer."""

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
    file_dispute,
    file_profile_dispute,
    profile_facts_used,
    review_dispute,
    sweep_disputes,
)
from osmanthus.errors import AccessDenied, NotFound, ValidationError
from osmanthus.ledger import Ledger, dispute_by_id, verify_ledger
from osmanthus.policy import load_policy

POLICE = Actor("department", "traffic-police")
TAX = Actor("department", "tax")
OMBUDSMAN = Actor("reviewer", "city ombudsman")
CHINA = POLICY_DIR.parent / "china-12-point-example"


_explain = explained


def test_a_corrected_licence_date_moves_the_cycle(
    make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord], clock: FixedClock
) -> None:
    ledger = make_ledger(load_policy(CHINA))
    number = make_id(sequence=71)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    ledger.record_profile(
        number,
        "licence_issued",
        dt.date(2020, 4, 1),
        department="traffic-police",
        source_ref="LIC-71",
        actor=POLICE,
    )
    ledger.append_record(
        make_record(
            national_id=number,
            metric="traffic_violation",
            severity="six",
            act_date=dt.date(2026, 3, 1),
            decision_date=dt.date(2026, 3, 2),
            source_ref="TV-71",
        ),
        actor=OPERATOR,
    )
    today = dt.date(2026, 11, 1)
    assert _explain(ledger, name, today).score == 0  # its cycle ended on 2026-04-01
    (fact,) = profile_facts_used(ledger, name)
    assert (fact["attribute"], fact["value"]) == ("licence_issued", dt.date(2020, 4, 1))
    filed = file_profile_dispute(ledger, name, int(fact["id"]), "my licence dates from Feb 2020")
    assert (filed.kind, filed.record_id, filed.metric) == ("profile", None, "licence_issued")
    with pytest.raises(ValidationError, match="the corrected date is required"):
        answer_dispute(
            ledger,
            filed.id,
            "uphold",
            department="traffic-police",
            actor=POLICE,
            reason="the archive shows February",
        )
    with pytest.raises(AccessDenied, match="only department 'traffic-police'"):
        answer_dispute(
            ledger,
            filed.id,
            "uphold",
            department="tax",
            actor=TAX,
            reason="the archive shows February",
            correct_date=dt.date(2020, 2, 1),
        )
    before_answer = clock.now
    clock.advance(hours=1)
    done = answer_dispute(
        ledger,
        filed.id,
        "uphold",
        department="traffic-police",
        actor=POLICE,
        reason="the archive shows February",
        correct_date=dt.date(2020, 2, 1),
    )
    assert done.status == "upheld"
    assert _explain(ledger, name, today).score == 6  # now in the cycle 2026-02-01..
    assert _explain(ledger, name, today, known_at=before_answer).score == 0  # as known then
    (fact,) = profile_facts_used(ledger, name)
    assert fact["value"] == dt.date(2020, 2, 1)
    verify_ledger(ledger.engine)


def test_a_corrected_residence_date_brings_a_resident_into_scope(
    tmp_path: Path, make_ledger: Callable[..., Ledger], make_record: Callable[..., NewRecord]
) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, folder)
    path = folder / "2020-01-01.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "[profile.died_on]",
        '[scope]\nmin_residence = "1y"\n\n'
        "[profile.resident_since]\n"
        'title = "Date residence in the city began"\n'
        'category = "civil_status"\n'
        'reported_by = ["civil-registry"]\n'
        'legal_basis = { instrument = "Personal Information Protection Law", article = '
        '"Art. 47", effective = 2021-11-01 }\n\n[profile.died_on]',
        1,
    )
    path.write_text(text, encoding="utf-8")
    ledger = make_ledger(load_policy(folder))
    number = make_id(sequence=72)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    name = ledger.pseudonym_of(number)
    registry = Actor("department", "civil-registry")
    ledger.record_profile(
        number,
        "resident_since",
        dt.date(2026, 6, 1),
        department="civil-registry",
        source_ref="RS-72",
        actor=registry,
    )
    today = dt.date(2026, 11, 1)
    assert _explain(ledger, name, today).score is None  # not a year of residence yet
    (fact,) = profile_facts_used(ledger, name)
    filed = file_profile_dispute(ledger, name, int(fact["id"]), "I have lived here since 2019")
    done = answer_dispute(
        ledger,
        filed.id,
        "uphold",
        department="civil-registry",
        actor=registry,
        reason="household register checked",
        correct_date=dt.date(2019, 6, 1),
    )
    assert done.status == "upheld"
    assert _explain(ledger, name, today).score == 100
    verify_ledger(ledger.engine)


def test_bad_profile_disputes_write_nothing_and_overdue_goes_to_the_reviewer(
    make_ledger: Callable[..., Ledger], clock: FixedClock
) -> None:
    ledger = make_ledger(load_policy(CHINA))
    numbers = [make_id(sequence=73), make_id(sequence=74)]
    for number in numbers:
        ledger.register_resident(number, "gusu", actor=OPERATOR)
        ledger.record_profile(
            number,
            "licence_issued",
            dt.date(2020, 4, 1),
            department="traffic-police",
            source_ref=f"LIC-{number[-4:]}",
            actor=POLICE,
        )
    mine, theirs = (ledger.pseudonym_of(n) for n in numbers)
    (fact,) = profile_facts_used(ledger, mine)
    (other,) = profile_facts_used(ledger, theirs)
    before = table_count(ledger, "disputes")
    with pytest.raises(NotFound, match="no such fact of yours"):
        file_profile_dispute(ledger, mine, int(other["id"]), "this is not my licence date")
    with pytest.raises(ValidationError, match="reason: expected 10"):
        file_profile_dispute(ledger, mine, int(fact["id"]), "wrong")
    assert table_count(ledger, "disputes") == before
    filed = file_profile_dispute(ledger, mine, int(fact["id"]), "my licence dates from 2019")
    with pytest.raises(ValidationError, match="already has dispute"):
        file_profile_dispute(ledger, mine, int(fact["id"]), "my licence dates from 2019")
    clock.advance(days=22)
    swept = sweep_disputes(ledger)
    assert [d.id for d in swept.escalated] == [filed.id] and swept.suspended == ()
    assert dispute_by_id(ledger.engine, filed.id).status == "appealed"
    review_dispute(
        ledger,
        filed.id,
        "overturn",
        actor=OMBUDSMAN,
        reason="the licence archive says 2019",
        correct_date=dt.date(2019, 9, 1),
    )
    (fact,) = profile_facts_used(ledger, mine)
    assert fact["value"] == dt.date(2019, 9, 1)
    verify_ledger(ledger.engine)


def test_a_ledger_with_disputes_migrates_to_profile_disputes(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    """Migration 0015 rebuilds ``disputes`` on SQLite while dispute steps point at it."""
    from alembic import command

    from osmanthus.ledger import migrate
    from osmanthus.ledger.database import _alembic_config

    number = make_id(sequence=75)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    record = ledger.append_record(
        make_record(national_id=number, source_ref="TP-75"), actor=OPERATOR
    )
    filed = file_dispute(ledger, ledger.pseudonym_of(number), record, "not my car at all")
    with ledger.engine.connect() as raw:
        conn = raw.execution_options(osmanthus_references_checked=True)
        with conn.begin():
            command.downgrade(_alembic_config(conn), "0014")
    migrate(ledger.engine)
    assert dispute_by_id(ledger.engine, filed.id).record_id == record
    verify_ledger(ledger.engine)
