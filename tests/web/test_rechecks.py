"""Re-decisions after a correction, through the API: a provider that checked a resident
learns (check id and perk, never the score) that its answer may have changed; the
resident's proof issued before is revoked in the status list, and an online check of it
says so; another provider learns nothing; a resident nobody checked makes no recheck."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from factories import OPERATOR, PERKS, FixedClock
from osmanthus.core import Actor, NewRecord
from osmanthus.disputes import answer_dispute, file_dispute, sweep_disputes
from osmanthus.ledger import Ledger, verify_ledger
from osmanthus.reports import issue_proof
from osmanthus.web import create_key
from web_fixtures import ALICE, BOB


def _ask(client: TestClient, key: str, **body: str) -> dict[str, object]:
    question = {"perk": "civilization_loan", "purpose": "loan_application", **body}
    response = client.post(
        "/api/v1/eligibility", json=question, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


@pytest.mark.usefixtures("people")
def test_a_correction_tells_the_providers_that_asked_and_revokes_proofs(
    client: TestClient, ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    bank = create_key(ledger.engine, role="provider", name="Bank of Suzhou", perks=PERKS)
    library = create_key(ledger.engine, role="provider", name="City library", perks=PERKS)
    day = ledger.today() - dt.timedelta(days=3)
    ledger.append_record(
        make_record(national_id=ALICE, source_ref="A-1", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    asked = _ask(client, bank, national_id=ALICE)
    assert asked["eligible"] is False  # 97 < 100
    _ask(client, library, national_id=BOB)  # about someone else
    ledger.retract_record(
        "traffic-police", "A-1", new_source_ref="A-1-R", reason="wrong plate", actor=OPERATOR
    )
    got = client.get("/api/v1/rechecks", headers={"Authorization": f"Bearer {bank}"}).json()
    assert [(r["check_id"], r["perk"], r["reason"]) for r in got] == [
        (asked["check_id"], "civilization_loan", "record retraction")
    ]
    assert "score" not in str(got)
    newer = client.get(
        "/api/v1/rechecks",
        params={"after": got[-1]["id"]},
        headers={"Authorization": f"Bearer {bank}"},
    ).json()
    assert newer == []
    other = client.get("/api/v1/rechecks", headers={"Authorization": f"Bearer {library}"})
    assert other.json() == []

    key = client.app.state.signing_key  # type: ignore[attr-defined]
    proof = issue_proof(ledger, ALICE, "civilization_loan", key=key, actor=OPERATOR, purpose="p")
    assert _ask(client, bank, proof=proof)["eligible"] is True
    assert client.get("/api/v1/proofs/revoked").json()["revoked"] == []
    ledger.append_record(
        make_record(national_id=ALICE, source_ref="A-2", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    ledger.correct_record(
        "traffic-police",
        "A-2",
        value=1.0,
        new_source_ref="A-2-C",
        reason="date fixed",
        actor=OPERATOR,
    )
    payload = proof.split(".")[1]
    salt = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["salt"]
    assert client.get("/api/v1/proofs/revoked").json()["revoked"] == [salt]
    online = _ask(client, bank, proof=proof)
    assert (online["eligible"], online["revoked"]) == (False, "record correction")
    verify_ledger(ledger.engine)


@pytest.mark.usefixtures("people")
def test_a_record_set_aside_stops_counting_for_the_providers_check(
    client: TestClient,
    ledger: Ledger,
    make_record: Callable[..., NewRecord],
    clock: FixedClock,
) -> None:
    """The service's quick read sees a suspension at once (the remembered decision is
    keyed by the suspension facts too), and the rejection brings the record back."""
    bank = create_key(ledger.engine, role="provider", name="Bank of Suzhou", perks=PERKS)
    day = ledger.today() - dt.timedelta(days=3)
    record = ledger.append_record(
        make_record(national_id=ALICE, source_ref="S-1", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    assert _ask(client, bank, national_id=ALICE)["eligible"] is False  # 97
    filed = file_dispute(ledger, ledger.pseudonym_of(ALICE), record, "that car is not mine")
    assert _ask(client, bank, national_id=ALICE)["eligible"] is False  # still counts
    clock.advance(days=21)
    sweep_disputes(ledger)
    assert _ask(client, bank, national_id=ALICE)["eligible"] is True  # set aside: 100
    answer_dispute(
        ledger,
        filed.id,
        "reject",
        department="traffic-police",
        actor=Actor("department", "traffic-police"),
        reason="the photo shows this car",
    )
    assert _ask(client, bank, national_id=ALICE)["eligible"] is False  # counts again
    reasons = [
        r["reason"]
        for r in client.get("/api/v1/rechecks", headers={"Authorization": f"Bearer {bank}"}).json()
    ]
    assert reasons[:2] == ["set aside", "set aside"] and reasons[-1] == "counts again"


@pytest.mark.usefixtures("people")
def test_an_unregistered_number_answers_like_a_resident_who_does_not_qualify(
    client: TestClient, ledger: Ledger
) -> None:
    """No registration oracle, on the fast path and the declared route alike: the same
    keys, a check id, not eligible; the pseudonym appears nowhere; the check is audited
    without a subject."""
    from factories import make_id

    bank = create_key(ledger.engine, role="provider", name="Bank of Suzhou", perks=PERKS)
    stranger = make_id(sequence=777)  # a valid number no resident holds
    unknown = _ask(client, bank, national_id=stranger)
    known = _ask(client, bank, national_id=BOB)  # registered, not eligible
    assert unknown.keys() == known.keys()
    assert (unknown["eligible"], unknown["valid_until"]) == (False, None)
    assert isinstance(unknown["check_id"], int)
    assert ledger.pseudonym_of(stranger)[:8] not in str(unknown)
    routed = client.post(
        "/api/v1/eligibility",
        content=json.dumps(
            {"national_id": stranger, "perk": "civilization_loan", "purpose": "loan_application"}
        ),
        headers={
            "Authorization": f"Bearer {bank}",
            "Content-Type": "application/json; charset=utf-8",  # the declared route
        },
    )
    assert routed.status_code == 200 and routed.json()["eligible"] is False
    with ledger.engine.connect() as conn:
        subject = conn.exec_driver_sql(
            f"SELECT subject FROM audit_log WHERE seq = {unknown['check_id']}"
        ).scalar_one()
    assert subject is None
