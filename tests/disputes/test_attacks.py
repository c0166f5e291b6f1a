"""The dispute procedure attacked as a hostile caller or operator would: another
department answering, a resident appealing someone else's dispute, forged or deleted
rows of suspensions, steps and revocations written straight into the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import OPERATOR, make_id, tamper

from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, appeal_dispute, file_dispute
from osmanthus.errors import AccessDenied, AuditChainBroken
from osmanthus.ledger import Ledger, verify_ledger
from osmanthus.settings import Settings
from osmanthus.web import create_app, create_key


def _disputed(
    ledger: Ledger, make_record: Callable[..., NewRecord], n: int
) -> tuple[str, int, int]:
    number = make_id(sequence=200 + n)
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    record = ledger.append_record(
        make_record(national_id=number, source_ref=f"ATK-{n}"), actor=OPERATOR
    )
    filed = file_dispute(ledger, ledger.pseudonym_of(number), record, "this is not my car")
    return number, record, filed.id


def test_a_forged_suspension_or_step_written_into_the_database_is_found(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    number, record, dispute = _disputed(ledger, make_record, 1)
    resident = ledger.pseudonym_of(number)
    with ledger.engine.connect() as conn:
        resident_id = conn.exec_driver_sql(
            f"SELECT id FROM residents WHERE pseudonym = '{resident}'"
        ).scalar_one()
    # an operator "suspends" the record without the procedure: no entry claims the row
    tamper(
        ledger,
        "INSERT INTO suspensions (record_id, resident_id, dispute_id, starts, lifted, "
        f"recorded_at) VALUES ({record}, {resident_id}, {dispute}, '2026-11-02', "
        f"{'false' if ledger.engine.dialect.name == 'postgresql' else 0}, "
        "'2026-11-02 09:00:00')",
    )
    with pytest.raises(AuditChainBroken, match="suspensions"):
        verify_ledger(ledger.engine)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE dispute_events SET kind = 'upheld' WHERE kind = 'filed'",
        "DELETE FROM dispute_events",
        "UPDATE disputes SET deadline = '2030-01-01'",
    ],
)
def test_a_rewritten_step_or_deadline_is_found(
    ledger: Ledger, make_record: Callable[..., NewRecord], statement: str
) -> None:
    _disputed(ledger, make_record, 2)
    tamper(ledger, statement)
    with pytest.raises(AuditChainBroken):
        verify_ledger(ledger.engine)


def test_another_department_and_another_resident_are_refused_through_the_api(
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    tmp_path: Path,
) -> None:
    _, _, dispute = _disputed(ledger, make_record, 3)
    tax = create_key(ledger.engine, role="department", name="tax office", department="tax")
    police = create_key(
        ledger.engine, role="department", name="police", department="traffic-police"
    )
    settings = Settings(data_dir=tmp_path, demo_mode=True)
    with TestClient(create_app(settings, ledger)) as client:

        def as_(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}"}

        assert client.get(f"/api/v1/disputes/{dispute}", headers=as_(tax)).status_code == 404
        body = {"answer": "reject", "reason": "we say it stands anyway"}
        refused = client.post(f"/api/v1/disputes/{dispute}/answer", json=body, headers=as_(tax))
        assert refused.status_code == 403, refused.text
        assert "only department 'traffic-police'" in refused.json()["error"]
        listed = client.get("/api/v1/disputes", headers=as_(tax)).json()
        assert listed == []  # another department's disputes are not even listed
        shown = client.get(f"/api/v1/disputes/{dispute}", headers=as_(police)).json()
        assert shown["reason"] == "this is not my car" and shown["source_ref"] == "ATK-3"
    with pytest.raises(AccessDenied, match="reviewer does not answer"):
        answer_dispute(
            ledger,
            dispute,
            "reject",
            department="traffic-police",
            actor=Actor("reviewer", "ombudsman"),
            reason="the reviewer pretends to be the police",
        )
    answer_dispute(
        ledger,
        dispute,
        "reject",
        department="traffic-police",
        actor=Actor("department", "traffic-police"),
        reason="the photo shows the car",
    )
    other, _, _ = _disputed(ledger, make_record, 4)
    with pytest.raises(AccessDenied, match="not a dispute of yours"):
        appeal_dispute(
            ledger,
            dispute,
            "appealing for somebody else",
            actor=Actor("resident", "x"),
            pseudonym=ledger.pseudonym_of(other),
        )


def test_the_reviewer_reads_a_dispute_only_once_it_is_appealed(
    ledger: Ledger, make_record: Callable[..., NewRecord], tmp_path: Path
) -> None:
    _, _, dispute = _disputed(ledger, make_record, 5)
    ombudsman = create_key(ledger.engine, role="reviewer", name="ombudsman")
    settings = Settings(data_dir=tmp_path, demo_mode=True)
    with TestClient(create_app(settings, ledger)) as client:
        headers = {"Authorization": f"Bearer {ombudsman}"}
        assert client.get(f"/api/v1/disputes/{dispute}", headers=headers).status_code == 404
        answer_dispute(
            ledger,
            dispute,
            "reject",
            department="traffic-police",
            actor=Actor("department", "traffic-police"),
            reason="the photo shows the car",
        )
        appeal_dispute(ledger, dispute, "the photo is of another car", actor=OPERATOR)
        shown = client.get(f"/api/v1/disputes/{dispute}", headers=headers)
        assert shown.status_code == 200 and shown.json()["reason"] == "this is not my car"


def test_a_dispute_number_beyond_a_database_integer_is_no_such_dispute(ledger: Ledger) -> None:
    from osmanthus.errors import NotFound
    from osmanthus.ledger import dispute_by_id

    for number in (0, -1, 2**63, 10**30):
        with pytest.raises(NotFound, match="no such dispute"):
            dispute_by_id(ledger.engine, number)
        with pytest.raises(NotFound, match="no such dispute"):
            appeal_dispute(ledger, number, "appealing nothing at all", actor=OPERATOR)
