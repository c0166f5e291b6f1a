"""Providers learn about their own perks only (SQLite and PostgreSQL): a provider key is
bound to the perks it provides, a purpose is a code the perk lists, and neither a
question about another perk nor one with a made-up purpose reads anything about the
resident. Attacks from the hardening issue: probing the score's band by asking about
perks at several thresholds, and writing whatever the provider likes as the purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from osmanthus.core import NewRecord
from osmanthus.errors import ValidationError
from osmanthus.ledger import Actor, Ledger, insert_key
from osmanthus.web import create_key
from osmanthus.web.access import key_digest
from web_fixtures import ALICE, sign_in_key

pytestmark = pytest.mark.usefixtures("people")


def _ask(client: TestClient, key: str, perk: str, purpose: str) -> tuple[int, dict]:
    response = client.post(
        "/api/v1/eligibility",
        json={"national_id": ALICE, "perk": perk, "purpose": purpose},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status_code, response.json()


def _reads(ledger: Ledger, actor: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM audit_log WHERE actor = :a"), {"a": actor}
            ).scalar_one()
        )


def test_a_bank_asking_about_other_perks_to_probe_the_band_is_refused_unread(
    client: TestClient, ledger: Ledger
) -> None:
    bank = create_key(
        ledger.engine, role="provider", name="Probing bank", perks=["civilization_loan"]
    )
    status, found = _ask(client, bank, "civilization_loan", "loan_application")
    assert status == 200 and set(found) >= {"eligible", "valid_until"}
    before = _reads(ledger, "provider:Probing bank")
    for perk, purpose in (
        ("transit_discount", "transit_card"),  # min 110
        ("library_extended_loans", "library_card"),  # min 110
        ("hospital_priority", "appointment_booking"),  # min 120
    ):
        status, found = _ask(client, bank, perk, purpose)
        assert status == 403, found
        assert f"does not provide perk '{perk}'" in found["error"]
        assert "eligible" not in found
    assert _reads(ledger, "provider:Probing bank") == before  # nothing read, nothing logged


def test_a_purpose_is_a_code_the_perk_lists(client: TestClient, ledger: Ledger) -> None:
    bank = create_key(
        ledger.engine, role="provider", name="Vague bank", perks=["civilization_loan"]
    )
    for purpose in ("x", "because we can", "transit_card"):  # the last: another perk's
        status, found = _ask(client, bank, "civilization_loan", purpose)
        assert status == 422, found
        assert "purpose: expected one of loan_application, loan_rate_review" in str(found)
    assert _reads(ledger, "provider:Vague bank") == 0


def test_a_provider_key_names_its_perks_and_an_old_unbound_one_answers_nothing(
    client: TestClient, ledger: Ledger
) -> None:
    with pytest.raises(ValidationError, match="a provider key names the perks"):
        create_key(ledger.engine, role="provider", name="Unbound bank")
    with pytest.raises(ValidationError, match="a provider key names the perks"):
        create_key(ledger.engine, role="operator", name="office", perks=["civilization_loan"])
    with pytest.raises(ValidationError, match="is not a perk code"):
        create_key(ledger.engine, role="provider", name="bank", perks=["Loan; DROP"])
    # a key issued before keys were bound (migration 0016 leaves it without perks)
    old = "osm_issued-before-binding-0000000000000000000000"
    insert_key(
        ledger.engine,
        digest=key_digest(old),
        role="provider",
        name="Old bank",
        department=None,
        actor=Actor("operator", "cli"),
    )
    status, found = _ask(client, old, "civilization_loan", "loan_application")
    assert status == 403 and "ask the operator for a key bound" in found["error"]


def test_the_check_page_offers_only_the_keys_perks_and_their_purposes(
    client: TestClient, ledger: Ledger
) -> None:
    library = create_key(
        ledger.engine, role="provider", name="City library", perks=["library_extended_loans"]
    )
    sign_in_key(client, library, "/provider")
    page = client.get("/provider", headers={"accept-language": "en"}).text
    assert 'value="library_extended_loans"' in page and 'value="library_card"' in page
    assert 'value="civilization_loan"' not in page and 'value="loan_application"' not in page


def test_a_perk_naming_an_undeclared_purpose_does_not_load(ledger: Ledger) -> None:
    from osmanthus.policy import PolicyVersion

    version = ledger.policy.latest
    loan = version.perks["civilization_loan"].model_copy(update={"purposes": ("loans",)})
    spec = dict(version) | {"perks": {**version.perks, "civilization_loan": loan}}
    with pytest.raises(ValueError, match="purpose 'loans' is not declared in \\[purposes\\]"):
        PolicyVersion.model_validate(spec)


def test_online_a_proof_says_what_the_ledger_says_today(
    client: TestClient, ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    """Alice's proof of the loan perk was true when issued; a new record since (not a
    correction: nothing revokes the proof) takes her below 100. Offline the signature
    still verifies; online the answer is the ledger's today, and the check is in
    Alice's access log."""
    from factories import OPERATOR
    from osmanthus.reports import issue_proof, verify_proof

    bank = create_key(
        ledger.engine, role="provider", name="Online bank", perks=["civilization_loan"]
    )
    key = client.app.state.signing_key  # type: ignore[attr-defined]
    proof = issue_proof(
        ledger, ALICE, "civilization_loan", key=key, actor=OPERATOR, purpose="resident's proof"
    )

    def online() -> dict:
        return client.post(
            "/api/v1/eligibility",
            json={"proof": proof, "perk": "civilization_loan", "purpose": "loan_application"},
            headers={"Authorization": f"Bearer {bank}"},
        ).json()

    assert online()["eligible"] is True
    day = ledger.today()
    ledger.append_record(
        make_record(national_id=ALICE, metric="drunk_driving", act_date=day, decision_date=day),
        actor=OPERATOR,
    )
    assert verify_proof(proof, [key.public], today=day).eligible is True  # offline: as issued
    found = online()
    assert (found["eligible"], found["valid_until"], found["basis"]) == (False, None, "proof")
    assert found["check_id"] is not None and found["revoked"] is None
    with ledger.engine.connect() as conn:
        seen = conn.execute(
            sa.text("SELECT action, purpose FROM audit_log WHERE seq = :s"),
            {"s": found["check_id"]},
        ).one()
    assert tuple(seen) == ("resident.read", "loan_application")


def test_a_provider_asks_about_one_resident_a_limited_number_of_times_a_day(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Asking again and again would tell a provider when the standing changes. The limit
    counts an unregistered number like a registered one: reaching it says nothing about
    whether anyone holds the number."""
    from factories import make_id
    from osmanthus.settings import get_settings
    from osmanthus.web import create_app

    settings = get_settings(
        demo_mode=True, data_dir=tmp_path, upkeep_process=False, provider_checks_per_day=3
    )
    bank = create_key(
        ledger.engine, role="provider", name="Eager bank", perks=["civilization_loan"]
    )
    nobody = make_id(sequence=777)  # valid, held by no one
    with TestClient(create_app(settings, ledger)) as client:
        for number in (ALICE, nobody):
            answers = [
                client.post(
                    "/api/v1/eligibility",
                    json={
                        "national_id": number,
                        "perk": "civilization_loan",
                        "purpose": "loan_application",
                    },
                    headers={"Authorization": f"Bearer {bank}"},
                )
                for _ in range(4)
            ]
            assert [a.status_code for a in answers] == [200, 200, 200, 429], number
            refused = answers[-1].json()
            assert refused["ok"] is False and "3 times today" in str(refused["error"])
            assert "eligible" not in refused
        other = create_key(
            ledger.engine, role="provider", name="Other bank", perks=["civilization_loan"]
        )
        again = client.post(
            "/api/v1/eligibility",
            json={"national_id": ALICE, "perk": "civilization_loan", "purpose": "loan_application"},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert again.status_code == 200  # per provider
