"""Signed documents through the web (SQLite and PostgreSQL): a resident's credit report
verifies offline against the published key; an eligibility proof made in the portal is
accepted by the provider API, and refused when altered, for another perk, or shown by
someone else."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from osmanthus.cli import app as cli
from osmanthus.reports import PublicKey, verify_document
from web_fixtures import ALICE, BOB, sign_in

pytestmark = pytest.mark.usefixtures("people")


def city_key(client: TestClient) -> PublicKey:
    published = client.get("/api/v1/signing-key").json()
    return PublicKey.parse(published["public_key"])


def test_a_resident_downloads_a_signed_report_that_verifies_offline(
    client: TestClient, tmp_path: Path
) -> None:
    sign_in(client, BOB)
    response = client.get("/me/report.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    signed = response.json()
    assert signed["body"]["score"] == client.get("/api/v1/me").json()["score"]
    issued = signed["body"]["as_of"]  # the ledger's clock stands still; checked on that day
    verify_document(signed, [city_key(client)], today=dt.date.fromisoformat(issued))
    path = tmp_path / "report.json"
    path.write_text(response.text, encoding="utf-8")
    # the demo city signs with the public demo key, which the CLI trusts only with --demo
    verified = CliRunner().invoke(cli, ["--demo", "verify", str(path), "--on", issued])
    assert verified.exit_code == 0, verified.output
    signed["body"]["score"] += 10  # a forged improvement
    path.write_text(json.dumps(signed), encoding="utf-8")
    forged = CliRunner().invoke(cli, ["--demo", "verify", str(path), "--on", issued])
    assert forged.exit_code == 1 and str(path) in forged.output
    page = client.get("/me/report", headers={"accept-language": "en"}).text
    assert 'data-testid="report-score"' in page and "Ed25519" in page


def make_proof(client: TestClient, national_id: str, perk: str = "civilization_loan") -> str:
    csrf = sign_in(client, national_id)
    page = client.post(f"/me/proof/{perk}", data={"csrf": csrf, "national_id": national_id})
    marker = 'data-testid="proof-token">'
    assert marker in page.text, page.text[-800:]
    return page.text.split(marker, 1)[1].split("<", 1)[0]


def ask(client: TestClient, key: str, **body: str) -> tuple[int, dict[str, object]]:
    question = {"perk": "civilization_loan", "purpose": "loan_application", **body}
    response = client.post(
        "/api/v1/eligibility", json=question, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code, response.json()


def test_a_proof_from_the_portal_is_accepted_by_the_provider_api(
    client: TestClient, keys: dict[str, str]
) -> None:
    token = make_proof(client, ALICE)
    assert token.startswith("OSM1.")
    status, found = ask(client, keys["provider"], proof=token)
    assert (status, found["eligible"], found["basis"]) == (200, True, "proof")
    status, found = ask(client, keys["provider"], proof=token, national_id=ALICE)
    assert (status, found["eligible"]) == (200, True)
    status, found = ask(client, keys["provider"], proof=token, national_id=BOB)
    assert status == 422 and "another resident" in str(found["error"])
    status, found = ask(client, keys["provider"], proof=token, perk="transit_discount")
    assert status == 422
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload[:-2]}AA.{signature}"
    status, found = ask(client, keys["provider"], proof=forged)
    assert status == 422 and found["ok"] is False


def test_no_proof_of_a_perk_not_held_and_not_for_anothers_number(
    client: TestClient,
) -> None:
    csrf = sign_in(client, BOB)  # below 100: no loan
    refused = client.post("/me/proof/civilization_loan", data={"csrf": csrf, "national_id": BOB})
    assert refused.status_code == 422 and "proof-token" not in refused.text
    other = client.post("/me/proof/civilization_loan", data={"csrf": csrf, "national_id": ALICE})
    assert other.status_code == 422 and "proof-token" not in other.text


def test_the_qr_code_carries_the_proof(client: TestClient) -> None:
    csrf = sign_in(client, ALICE)
    page = client.post(
        "/me/proof/civilization_loan",
        data={"csrf": csrf, "national_id": ALICE},
        headers={"accept-language": "en"},
    ).text
    assert 'data-testid="proof-qr"' in page and "<svg" in page
