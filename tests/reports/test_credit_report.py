"""The signed credit report on a real ledger (SQLite and PostgreSQL): what it says, that
the read is audited, that it verifies and that any change to it does not."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from reports_fixtures import ALICE, BOB, CAROL

from factories import OPERATOR, make_id
from osmanthus.errors import NationalIdError, NotFound, SignatureInvalid
from osmanthus.ledger import Actor, Ledger, chain_head
from osmanthus.reports import SigningKey, credit_report, credit_report_of, read_credit_report
from osmanthus.reports import report_lines as lines_of

RESIDENT = Actor("resident", "self")


@pytest.fixture
def bob_report(people: Ledger, city_key: SigningKey) -> dict[str, object]:
    return credit_report(
        people, BOB, key=city_key, actor=RESIDENT, purpose="my credit report for a lease"
    )


def test_the_report_lists_the_score_every_record_with_its_basis_and_the_perks(
    people: Ledger, city_key: SigningKey, bob_report: dict[str, object]
) -> None:
    body = read_credit_report(bob_report, [city_key.public], today=people.today()).body
    today = people.today()
    assert body["issued_at"] == "2026-11-01T09:00:00Z"
    assert (body["as_of"], body["valid_from"]) == (today.isoformat(), today.isoformat())
    assert body["valid_until"] == (today + dt.timedelta(days=29)).isoformat()
    assert body["policy"]["name"] == "suzhou-example" and body["policy"]["version"] == "2026.1"
    assert (body["score"], body["scale"]["baseline"]) == (80, 100)
    [record] = body["records"]
    act = (today - dt.timedelta(days=30)).isoformat()
    assert record == {
        "department": "traffic-police",
        "metric": "drunk_driving",
        "description": "Driving under the influence (administrative penalty decision)",
        "source_ref": record["source_ref"],
        "kind": "original",
        "act_date": act,
        "decision_date": act,
        "points": -20,
        "counted": -20,
        "status": "counted",
        "status_text": "counts",
        "expires_on": record["expires_on"],
        "repair_from": record["repair_from"],
        "legal_basis": record["legal_basis"],
        "notes": [],
    }
    assert "Road Traffic Safety Law" in record["legal_basis"] and "Art. 91" in record["legal_basis"]
    assert record["expires_on"] > today.isoformat()
    loan = next(p for p in body["perks"] if p["perk"] == "civilization_loan")
    assert (loan["eligible"], loan["valid_until"]) == (False, None)


def test_the_report_never_carries_the_id_number_and_binds_its_holder(
    people: Ledger, city_key: SigningKey, bob_report: dict[str, object]
) -> None:
    text = json.dumps(bob_report, ensure_ascii=False)
    assert BOB not in text and BOB[6:14] not in text  # nor the birth date
    subject = bob_report["body"]["subject"]  # type: ignore[index]
    assert subject["masked_id"] == BOB[:4] + "*" * 10 + BOB[-4:]
    assert subject["pseudonym_ref"] == people.pseudonym_of(BOB)[:16]
    check = read_credit_report(bob_report, [city_key.public], national_id=BOB, today=people.today())
    assert (check.subject_matches, check.score, check.records) == (True, 80, 1)
    other = read_credit_report(
        bob_report, [city_key.public], national_id=ALICE, today=people.today()
    )
    assert other.subject_matches is False
    with pytest.raises(NationalIdError):
        read_credit_report(bob_report, [city_key.public], national_id="123", today=people.today())


def test_issuing_is_an_audited_read_and_the_report_carries_the_chain_head(
    people: Ledger, city_key: SigningKey, bob_report: dict[str, object]
) -> None:
    head = chain_head(people.engine)
    assert bob_report["body"]["audit_head"] == {"seq": head.seq, "hash": head.hash}  # type: ignore[index]
    with people.engine.connect() as conn:
        last = conn.execute(
            sa.text("SELECT actor, action, subject, purpose FROM audit_log ORDER BY seq DESC")
        ).first()
    assert last is not None
    assert tuple(last) == (
        "resident:self",
        "resident.read",
        people.pseudonym_of(BOB),
        "my credit report for a lease",
    )


def test_one_changed_byte_anywhere_in_the_report_fails(
    people: Ledger, city_key: SigningKey, bob_report: dict[str, object]
) -> None:
    text = json.dumps(bob_report, ensure_ascii=False)
    for old, new in (('"score": 80', '"score": 90'), ('"points": -20', '"points": -2')):
        assert old in text
        with pytest.raises(SignatureInvalid, match="does not match"):
            read_credit_report(
                json.loads(text.replace(old, new, 1)), [city_key.public], today=people.today()
            )
    with pytest.raises(SignatureInvalid, match="expired"):
        read_credit_report(
            bob_report, [city_key.public], today=people.today() + dt.timedelta(days=30)
        )


def test_a_report_on_a_past_date_and_one_made_from_a_session_read(
    people: Ledger, city_key: SigningKey
) -> None:
    before = people.today() - dt.timedelta(days=31)  # before Carol's commendation
    past = credit_report(
        people, CAROL, key=city_key, actor=OPERATOR, purpose="a past score", on=before
    )
    assert past["body"]["as_of"] == before.isoformat()
    assert past["body"]["valid_from"] == people.today().isoformat()
    assert past["body"]["score"] == 100
    resident, rows = people.read_resident(CAROL, actor=RESIDENT, purpose="portal")
    now = credit_report_of(people, resident, rows, key=city_key)
    assert now["body"]["score"] == 110
    assert now["body"]["subject"]["masked_id"] is None
    assert now["body"]["subject"]["binding"] is None
    check = read_credit_report(now, [city_key.public], national_id=CAROL, today=people.today())
    assert check.subject_matches is None


def test_the_text_rendering_comes_from_the_signed_json(
    people: Ledger, city_key: SigningKey, bob_report: dict[str, object]
) -> None:
    lines = lines_of(bob_report)  # type: ignore[arg-type]
    text = "\n".join(lines)
    assert "score 80" in text and "Driving under the influence" in text
    assert "legal basis: Road Traffic Safety Law" in text
    assert f"signed Ed25519 by key {city_key.key_id}" in text
    assert BOB not in text and BOB[:4] + "*" * 10 + BOB[-4:] in text


def test_an_unknown_resident_gets_no_report(people: Ledger, city_key: SigningKey) -> None:
    with pytest.raises(NotFound):
        credit_report(people, make_id(sequence=99), key=city_key, actor=OPERATOR, purpose="look-up")
