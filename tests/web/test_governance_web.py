"""The policy console and API and the public transparency page (SQLite and PostgreSQL):
who may propose, approve and reject; what the public sees, with small counts
suppressed and no personal data."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from factories import OPERATOR, approve_policy
from osmanthus.ledger import Ledger
from osmanthus.population import run_population
from osmanthus.reports.checkpoint import make_checkpoint
from osmanthus.web import create_key
from web_fixtures import ALICE, BOB, sign_in_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_propose_and_approve_over_the_api(
    client: TestClient, ledger: Ledger, keys: dict[str, str], tmp_path: Path
) -> None:
    approve_policy(ledger, population_dir=tmp_path / "first")
    approver = create_key(ledger.engine, role="policy-approver", name="legal office")
    proposed = client.post("/api/v1/policy/proposals", headers=bearer(keys["operator"]))
    assert proposed.status_code == 200, proposed.text
    body = proposed.json()
    assert body["status"] == "open" and body["validation"]["ok"] and body["required"] == 1
    assert body["impact"]["residents"] is not None
    number = body["id"]
    for role in ("provider", "department", "auditor", "operator"):
        refused = client.post(
            f"/api/v1/policy/proposals/{number}/approve", headers=bearer(keys[role])
        )
        assert refused.status_code == 403, (role, refused.text)
    assert (
        client.post("/api/v1/policy/proposals", headers=bearer(keys["provider"])).status_code == 403
    )
    empty = client.post(
        f"/api/v1/policy/proposals/{number}/reject", json={"reason": ""}, headers=bearer(approver)
    )
    assert empty.status_code == 422
    done = client.post(f"/api/v1/policy/proposals/{number}/approve", headers=bearer(approver))
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert done.json()["in_force"]
    listed = client.get("/api/v1/policy/proposals", headers=bearer(keys["auditor"])).json()
    assert [p["status"] for p in listed] == ["approved", "approved"]
    assert (
        client.get("/api/v1/policy/proposals", headers=bearer(keys["provider"])).status_code == 403
    )


def test_a_proposer_who_can_approve_may_not_approve_their_own(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    approve_policy(ledger, population_dir=tmp_path / "first")
    both = create_key(ledger.engine, role="policy-approver", name="author and approver")
    number = client.post("/api/v1/policy/proposals", headers=bearer(both)).json()["id"]
    own = client.post(f"/api/v1/policy/proposals/{number}/approve", headers=bearer(both))
    assert own.status_code == 403 and "its proposer may not approve it" in own.text


def test_the_console_pages_show_the_impact_report_and_decide(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    approve_policy(ledger, population_dir=tmp_path / "first")
    author = create_key(ledger.engine, role="operator", name="author")
    approver = create_key(ledger.engine, role="policy-approver", name="approver")
    csrf = sign_in_key(client, author, "/policy")
    made = client.post("/policy/propose", data={"csrf": csrf}, follow_redirects=False)
    assert made.status_code == 303
    page = client.get(made.headers["location"], headers={"accept-language": "en"}).text
    assert 'data-testid="validation"' in page and "Passed: the charter" in page
    assert 'data-testid="impact-summary"' in page and "Approve" not in page  # not an approver
    client.post("/signout", data={"csrf": csrf})
    csrf = sign_in_key(client, approver, "/policy")
    page = client.get(made.headers["location"], headers={"accept-language": "en"}).text
    assert "Approve" in page and "Reason for rejecting" in page
    done = client.post(
        made.headers["location"] + "/approve",
        data={"csrf": csrf},
        headers={"accept-language": "en"},
        follow_redirects=True,
    )
    assert 'data-testid="proposal-status">approved' in done.text
    forged = client.post(made.headers["location"] + "/reject", data={"reason": "x"})
    assert forged.status_code == 403  # no CSRF token


def test_the_transparency_page_is_public_and_suppresses_small_counts(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    approve_policy(ledger, population_dir=tmp_path / "first")
    for number in (ALICE, BOB):
        ledger.register_resident(number, "gusu", actor=OPERATOR)
    run_population(
        ledger,
        client.app.state.settings.resolved_population_dir,  # type: ignore[attr-defined]
        as_of=ledger.today(),
        actor=OPERATOR,
    )
    make_checkpoint(ledger.engine, client.app.state.signing_key)  # type: ignore[attr-defined]
    public = client.get("/api/v1/transparency")
    assert public.status_code == 200
    body = public.json()
    [policy] = body["approved"]
    assert policy["in_force"] and len(policy["approved_by"]) == 2
    assert any("legal basis" in line or "Art." in line for line in body["rules"][0]["lines"])
    rows = body["statistics"]["by_district"]
    assert rows and all(row["residents"] is None for row in rows)  # 2 residents: <10
    assert body["checkpoint"]["seq"] >= 1
    page = client.get("/transparency", headers={"accept-language": "en"}).text
    assert "Approved policies" in page and policy["content_hash"] in page
    assert "&lt;10" in page and ALICE not in page
    zh = client.get("/transparency", headers={"accept-language": "zh-CN"}).text
    assert "公开透明" in zh
    download = client.get("/transparency/checkpoint.json")
    assert download.status_code == 200 and '"osmanthus": "audit-checkpoint/1"' in download.text


def test_the_changes_chart_leaves_out_a_suppressed_count() -> None:
    from osmanthus.web.governance import _changes_chart

    svg = _changes_chart({"histogram": [[-30, 120], [-6, None], [2, 4000]]})
    assert svg.count('class="bar below"') == 1 and svg.count('class="bar above"') == 1
    assert "120" in svg and "4,000" in svg and "-6" not in svg  # the suppressed one
    assert _changes_chart(None) == "" and _changes_chart({"histogram": []}) == ""
