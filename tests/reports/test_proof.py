"""Eligibility proofs on a real ledger (SQLite and PostgreSQL): issued only when eligible,
never the score, verified offline with the city key and the holder's ID number."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
import segno
import sqlalchemy as sa
from reports_fixtures import ALICE, BOB, CAROL

from osmanthus.errors import AccessDenied, NotFound, ProofRefused, SignatureInvalid
from osmanthus.ledger import Actor, Ledger
from osmanthus.reports import SigningKey, issue_proof, proof_qr_svg, verify_proof

RESIDENT = Actor("resident", "self")
LOAN = "civilization_loan"


def payload_of(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@pytest.fixture
def alice_proof(people: Ledger, city_key: SigningKey) -> str:
    return issue_proof(people, ALICE, LOAN, key=city_key, actor=RESIDENT, purpose="loan 17")


def test_a_proof_says_eligible_and_until_when_never_the_score_or_the_number(
    people: Ledger, city_key: SigningKey, alice_proof: str
) -> None:
    assert re.fullmatch(r"OSM1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}", alice_proof)
    payload = payload_of(alice_proof)
    today = people.today()
    assert set(payload) == {
        "perk", "eligible", "issued_at", "valid_from", "valid_until", "key_id", "salt", "subject"
    }  # fmt: skip
    assert (payload["perk"], payload["eligible"], payload["key_id"]) == (
        LOAN,
        True,
        city_key.key_id,
    )
    assert payload["valid_from"] == today.isoformat()
    assert payload["valid_until"] == (today + dt.timedelta(days=6)).isoformat()  # proof's life
    assert ALICE not in alice_proof and ALICE[-4:] not in json.dumps(payload)
    assert len(alice_proof) < 600
    check = verify_proof(alice_proof, [city_key.public], today=today)
    assert (check.perk, check.eligible, check.subject_matches) == (LOAN, True, None)
    assert check.issued_at == "2026-11-01T09:00:00Z"


def test_the_proof_ends_with_the_perk_when_that_is_earlier(
    people: Ledger, city_key: SigningKey
) -> None:
    token = issue_proof(
        people, CAROL, "transit_discount", key=city_key, actor=RESIDENT, purpose="metro",
        valid_days=90,
    )  # fmt: skip
    perk_until = people.today() + dt.timedelta(days=29)  # the perk's 30 days
    assert verify_proof(token, [city_key.public], today=people.today()).valid_until == perk_until


def test_the_subject_binding_matches_the_right_id_card_only(
    people: Ledger, city_key: SigningKey, alice_proof: str
) -> None:
    keys, today = [city_key.public], people.today()
    assert verify_proof(alice_proof, keys, national_id=ALICE, today=today).subject_matches
    assert verify_proof(f" {alice_proof}\n", keys, national_id=ALICE.lower(), today=today)
    assert not verify_proof(alice_proof, keys, national_id=BOB, today=today).subject_matches
    other = issue_proof(people, ALICE, LOAN, key=city_key, actor=RESIDENT, purpose="again")
    assert payload_of(other)["subject"] != payload_of(alice_proof)["subject"]  # fresh salt


def test_no_proof_of_a_perk_the_resident_does_not_hold(
    people: Ledger, city_key: SigningKey
) -> None:
    with pytest.raises(ProofRefused, match="not eligible on 2026-11-01"):
        issue_proof(people, BOB, LOAN, key=city_key, actor=RESIDENT, purpose="loan 18")
    with pytest.raises(NotFound, match="not offered"):
        issue_proof(people, ALICE, "free_beer", key=city_key, actor=RESIDENT, purpose="x")


def test_issuing_is_audited_and_bound_to_the_signed_in_resident(
    people: Ledger, city_key: SigningKey
) -> None:
    issue_proof(
        people, ALICE, LOAN, key=city_key, actor=RESIDENT, purpose="loan 19",
        pseudonym=people.pseudonym_of(ALICE),
    )  # fmt: skip
    with people.engine.connect() as conn:
        read, issued = conn.execute(
            sa.text("SELECT actor, subject, purpose FROM audit_log ORDER BY seq DESC LIMIT 2")
        ).all()[::-1]
    assert tuple(read) == ("resident:self", people.pseudonym_of(ALICE), "loan 19")
    assert tuple(issued) == (
        "resident:self",
        people.pseudonym_of(ALICE),
        "eligibility proof issued to the resident",
    )
    with pytest.raises(AccessDenied, match="not the signed-in resident's"):
        issue_proof(
            people, ALICE, LOAN, key=city_key, actor=RESIDENT, purpose="loan 20",
            pseudonym=people.pseudonym_of(BOB),
        )  # fmt: skip


def test_tampered_foreign_expired_and_malformed_proofs_fail(
    people: Ledger, city_key: SigningKey, other_key: SigningKey, alice_proof: str
) -> None:
    keys, today = [city_key.public], people.today()
    prefix, payload, signature = alice_proof.split(".")
    forged_payload = json.dumps(
        {**payload_of(alice_proof), "perk": "hospital_priority"},
        sort_keys=True, separators=(",", ":"),
    ).encode()  # fmt: skip
    forged = base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode()
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_proof(f"{prefix}.{forged}.{signature}", keys, today=today)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_proof(f"{prefix}.{payload}.{flipped}", keys, today=today)
    foreign = issue_proof(people, ALICE, LOAN, key=other_key, actor=RESIDENT, purpose="x")
    with pytest.raises(SignatureInvalid, match="not trusted"):
        verify_proof(foreign, keys, today=today)
    with pytest.raises(SignatureInvalid, match="expired") as caught:
        verify_proof(alice_proof, keys, today=today + dt.timedelta(days=7))
    assert caught.value.reason == "expired"
    for bad in ("OSM2.a.b", "OSM1.onlytwo", "OSM1.!!.x", "hello", "OSM1.e30." + signature):
        with pytest.raises(SignatureInvalid, match="malformed proof"):
            verify_proof(bad, keys, today=today)


def test_the_qr_code_is_an_svg_for_a_phone_screen(alice_proof: str) -> None:
    svg = proof_qr_svg(alice_proof, title="Civilization loan: eligible")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<title>Civilization loan: eligible</title>" in svg
    version = segno.make(alice_proof, error="m", micro=False).version
    assert isinstance(version, int) and 10 <= version <= 20  # about 450 characters
    side = (version * 4 + 17 + 2 * 4) * 4  # modules plus the quiet zone, at scale 4
    assert f'width="{side}"' in svg and 250 <= side <= 450
