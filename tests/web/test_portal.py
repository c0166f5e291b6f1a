"""The resident portal through an in-process client (SQLite and PostgreSQL): sign-in,
the score with every record and its legal basis, disputes, who read my data, the expiry
calendar, sessions (CSRF, idle sign-out, kiosk) and languages."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from osmanthus.ledger import Ledger
from osmanthus.residents import credentials
from osmanthus.settings import get_settings
from osmanthus.web import create_app
from osmanthus.web import session as web_session
from web_fixtures import ALICE, BOB, PASSWORD, sign_in, token_in

pytestmark = pytest.mark.usefixtures("people")


def test_a_resident_signs_in_and_sees_score_records_and_legal_basis(
    client: TestClient, ledger: Ledger, people: dict[str, int]
) -> None:
    sign_in(client, BOB)
    mine = client.get("/api/v1/me").json()
    [record] = mine["records"]
    assert record["id"] == people["bob_record"]
    assert record["counted"] == record["points"] < 0 and record["department"] == "traffic-police"
    assert (mine["score"], mine["baseline"]) == (100 + record["points"], 100)
    assert record["legal_basis"] and record["expires_on"]
    assert not any(p["eligible"] for p in mine["perks"] if p["code"] == "civilization_loan")
    page = client.get("/me", headers={"accept-language": "en"})
    assert page.status_code == 200 and f'data-testid="score">{mine["score"]}<' in page.text
    detail = client.get(f"/me/records/{record['id']}", headers={"accept-language": "en"}).text
    assert record["legal_basis"] in detail
    with ledger.engine.connect() as conn:
        reads = conn.execute(
            sa.text("SELECT actor, purpose FROM audit_log WHERE action = 'resident.read'")
        ).all()
    assert ("resident:" + mine_prefix(ledger, BOB), "resident views one record") in [
        tuple(r) for r in reads
    ]


def mine_prefix(ledger: Ledger, national_id: str) -> str:
    return ledger.pseudonym_of(national_id)[:12]


def test_a_wrong_password_or_unknown_number_is_refused_alike(client: TestClient) -> None:
    for number, password in ((ALICE, "wrong password"), ("110101199003070000", PASSWORD)):
        response = client.post(
            "/signin", data={"national_id": number, "password": password}, follow_redirects=False
        )
        assert response.status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    assert client.get(
        "/me", headers={"accept": "text/html"}, follow_redirects=False
    ).status_code in (
        303,
        401,
    )


def test_a_dispute_is_recorded_with_its_deadline_and_audited(
    client: TestClient, ledger: Ledger, people: dict[str, int]
) -> None:
    csrf = sign_in(client, BOB)
    record_id = people["bob_record"]
    body = {"record_id": record_id, "reason": "I was not driving that day."}
    assert client.post("/api/v1/me/disputes", json=body).status_code == 403  # no CSRF token
    filed = client.post("/api/v1/me/disputes", json=body, headers={"x-csrf-token": csrf})
    assert filed.status_code == 201, filed.text
    assert filed.json()["deadline"] == (ledger.today() + dt.timedelta(days=20)).isoformat()
    again = client.post("/api/v1/me/disputes", json=body, headers={"x-csrf-token": csrf})
    assert again.status_code == 422 and "already has dispute" in again.json()["error"]
    huge = {**body, "record_id": 10**30}  # beyond a database integer: refused, not a 500
    refused = client.post("/api/v1/me/disputes", json=huge, headers={"x-csrf-token": csrf})
    assert refused.status_code == 422 and refused.json()["ok"] is False
    listed = client.get("/api/v1/me/disputes").json()
    assert [(d["record_id"], d["status"]) for d in listed] == [(record_id, "open")]
    actions = [a["action"] for a in client.get("/api/v1/me/access").json()]
    assert "dispute.file" in actions and "resident.sign_in" in actions


def test_one_resident_cannot_reach_anothers_records(
    client: TestClient, people: dict[str, int]
) -> None:
    csrf = sign_in(client, ALICE)
    record_id = people["bob_record"]  # Bob's
    assert client.get(f"/me/records/{record_id}").status_code == 404
    stolen = client.post(
        "/api/v1/me/disputes",
        json={"record_id": record_id, "reason": "this is not even mine"},
        headers={"x-csrf-token": csrf},
    )
    assert stolen.status_code == 404
    assert client.get("/api/v1/me").json()["records"] == []


def test_the_access_page_names_the_provider_and_its_purpose(
    client: TestClient, keys: dict[str, str]
) -> None:
    asked = client.post(
        "/api/v1/eligibility",
        json={"national_id": ALICE, "perk": "civilization_loan", "purpose": "loan_application"},
        headers={"Authorization": f"Bearer {keys['provider']}"},
    )
    assert asked.status_code == 200
    sign_in(client, ALICE)
    entries = client.get("/api/v1/me/access").json()
    seen = next(e for e in entries if e["actor"].startswith("provider:"))
    assert seen["actor"] == "provider:Bank of Suzhou" and seen["purpose"] == "loan_application"
    assert seen["purpose_title"] == "assessing an application for a civilization loan"
    assert seen["purpose_title_zh"] == "审核文明贷申请"
    page = client.get("/me/access", headers={"accept-language": "en"}).text
    assert "assessing an application for a civilization loan" in page
    page = client.get("/me/access", headers={"accept-language": "zh"}).text
    assert "审核文明贷申请" in page


def test_the_calendar_projects_the_score_as_records_expire(client: TestClient) -> None:
    sign_in(client, BOB)
    page = client.get("/me/calendar", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "score 100" in page.text  # drunk driving expires; Bob is back at the baseline
    assert 'id="perk-civilization_loan"' in page.text


def test_an_idle_session_is_signed_out_and_a_kiosk_sooner(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, ALICE, kiosk=True)
    assert client.get("/api/v1/me").status_code == 200
    later = time.time() + web_session.KIOSK_IDLE_SECONDS + 5
    monkeypatch.setattr(web_session.time, "time", lambda: later)
    assert client.get("/api/v1/me").status_code == 401
    monkeypatch.undo()
    sign_in(client, ALICE)  # an ordinary session survives the kiosk's limit
    later = time.time() + web_session.KIOSK_IDLE_SECONDS + 5
    monkeypatch.setattr(web_session.time, "time", lambda: later)
    assert client.get("/api/v1/me").status_code == 200


def test_activity_keeps_a_session_alive(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client, ALICE, kiosk=True)
    start = time.time()
    for minutes in (1, 2, 3):  # a request each minute: under the 90 s limit every time
        monkeypatch.setattr(web_session.time, "time", lambda m=minutes: start + 60 * m)
        assert client.get("/api/v1/me").status_code == 200
    monkeypatch.setattr(web_session.time, "time", lambda: start + 180 + 95)
    assert client.get("/api/v1/me").status_code == 401


def test_sign_out_ends_the_session(client: TestClient) -> None:
    csrf = sign_in(client, ALICE)
    client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert client.get("/api/v1/me").status_code == 401


def test_a_copy_of_the_cookie_from_before_sign_out_is_refused(
    client: TestClient, ledger: Ledger
) -> None:
    """Someone who copied the session cookie (a shared kiosk, a stolen laptop) cannot use
    it after the resident signed out: the session ended in the ledger, for every worker."""
    from osmanthus.web import session as web_session

    csrf = sign_in(client, ALICE)
    copied = dict(client.cookies)
    assert client.get("/api/v1/me").status_code == 200
    client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    web_session._sessions.clear()  # another worker: it never saw this session end
    client.cookies.clear()
    for name, value in copied.items():
        client.cookies.set(name, value)
    assert client.get("/api/v1/me").status_code == 401
    with ledger.engine.connect() as conn:
        ended = conn.exec_driver_sql("SELECT count(*) FROM web_sessions WHERE ended_at IS NOT NULL")
        assert ended.scalar_one() >= 1
        assert conn.exec_driver_sql("SELECT count(*) FROM web_sessions").scalar_one() >= 1


def test_pages_speak_chinese_by_default_english_on_request_and_switch(
    client: TestClient,
) -> None:
    assert "登录" in client.get("/signin").text
    assert "Sign in" in client.get("/signin", headers={"accept-language": "en-GB,en;q=0.9"}).text
    assert "登录" in client.get("/signin", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    switched = client.get("/lang/en?back=/signin", follow_redirects=True)
    assert '<html lang="en">' in switched.text
    assert client.get("/lang/xx").status_code == 404
    away = client.get("/lang/zh?back=//evil.example", follow_redirects=False)
    assert away.headers["location"] == "/"


def test_the_kiosk_page_is_large_and_announces_its_sign_out(client: TestClient) -> None:
    sign_in(client, ALICE, kiosk=True)
    page = client.get("/me", headers={"accept-language": "en"}).text
    assert '<body class="kiosk"' in page and 'data-idle-seconds="90"' in page
    assert token_in(page)


def test_refused_sign_ins_slow_their_address_down_not_the_resident(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight refusals from one address: it waits 8 s before the account answers it again
    (the right password included); the resident at another address signs in at once.
    Past fifty refusals from everywhere (here six), every address waits. The counts are
    the audit chain's."""
    settings = get_settings(demo_mode=True, data_dir=tmp_path, upkeep_process=False)
    app = create_app(settings, ledger)
    right = {"national_id": ALICE, "password": PASSWORD}
    with TestClient(app, client=("203.0.113.7", 40000)) as attacker:
        for _ in range(8):
            wrong = attacker.post("/signin", data={"national_id": ALICE, "password": "guess"})
            assert wrong.status_code == 401
        held = attacker.post("/signin", data=right, follow_redirects=False)
        assert held.status_code == 401  # waits: even the right password
    with TestClient(app, client=("198.51.100.2", 40000)) as resident:
        assert resident.post("/signin", data=right, follow_redirects=False).status_code == 303
        monkeypatch.setattr(credentials, "ACCOUNT_FAILURES", 6)  # a guess from everywhere
        held = resident.post("/signin", data=right, follow_redirects=False)
        assert held.status_code == 401
        monkeypatch.setattr(credentials, "WINDOW", dt.timedelta(0))  # the window passes
        assert resident.post("/signin", data=right, follow_redirects=False).status_code == 303
    with ledger.engine.connect() as conn:
        details = (
            conn.exec_driver_sql(
                "SELECT detail FROM audit_log WHERE action = 'resident.sign_in_refused'"
            )
            .scalars()
            .all()
        )
    assert all("203.0.113.7" not in d for d in details)  # a keyed tag, not the address
    assert len({d for d in details if "address" in d}) >= 1


@pytest.mark.usefixtures("people")
def test_an_address_with_too_many_refused_sign_ins_is_refused_for_the_window(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Three refusals from one address, each for a different resident (no account lock
    is reached): the fourth attempt from it is refused even with the right password;
    another address signs in."""
    settings = get_settings(
        demo_mode=True, data_dir=tmp_path, upkeep_process=False, signin_refusals_per_address=3
    )
    app = create_app(settings, ledger)
    guesses = (ALICE, BOB, "110101199003070000")
    with TestClient(app, client=("203.0.113.7", 40000)) as sprayer:
        for number in guesses:
            wrong = sprayer.post("/signin", data={"national_id": number, "password": "guess"})
            assert wrong.status_code == 401
        held = sprayer.post(
            "/signin",
            data={"national_id": ALICE, "password": PASSWORD},
            headers={"accept-language": "en"},
            follow_redirects=False,
        )
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        assert sprayer.post("/signin/key", data={"key": "osm_guess"}).status_code == 429
        assert "Too many refused sign-ins from your network address" in held.text
        assert "try again in 15 minutes" in held.text
    with TestClient(app, client=("198.51.100.2", 40000)) as neighbour:
        signed = neighbour.post(
            "/signin", data={"national_id": ALICE, "password": PASSWORD}, follow_redirects=False
        )
        assert signed.status_code == 303


def test_signing_out_needs_the_sessions_own_token(client: TestClient) -> None:
    """A page elsewhere cannot sign a resident out (logout CSRF): without the token, or
    with another, the answer is 403 and the session goes on."""
    csrf = sign_in(client, ALICE)
    for sent in ({}, {"csrf": "not-the-token"}):
        refused = client.post("/signout", data=sent, follow_redirects=False)
        assert refused.status_code == 403
        assert client.get("/api/v1/me").status_code == 200  # still signed in
    done = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_a_resident_sees_and_disputes_the_profile_data_the_rules_use(
    client: TestClient, ledger: Ledger
) -> None:
    from osmanthus.web.access import create_key

    key = create_key(ledger.engine, role="department", name="cr", department="civil-registry")
    staff = {"Authorization": f"Bearer {key}"}
    event = {"attribute": "left_city_on", "value": "2026-09-01", "source_ref": "CR-ALICE"}
    sent = client.post("/api/v1/profile-facts", json={"national_id": ALICE, **event}, headers=staff)
    assert sent.status_code == 201, sent.text
    from factories import make_id

    unknown = {"national_id": make_id(sequence=99), **event, "source_ref": "CR-X"}
    refused = client.post("/api/v1/profile-facts", json=unknown, headers=staff)
    assert refused.status_code == 404 and refused.json()["ok"] is False  # nothing written
    csrf = sign_in(client, ALICE)
    page = client.get("/me/profile")
    assert page.status_code == 200 and "CR-ALICE" in page.text and "2026-09-01" in page.text
    (fact,) = client.get("/api/v1/me/profile").json()
    assert (fact["attribute"], fact["value"]) == ("left_city_on", "2026-09-01")
    body = {"fact_id": fact["id"], "reason": "I never left the city: I moved within Gusu"}
    filed = client.post("/api/v1/me/profile/disputes", json=body, headers={"x-csrf-token": csrf})
    assert filed.status_code == 201, filed.text
    dispute = filed.json()
    assert (dispute["kind"], dispute["record_id"], dispute["profile_fact_id"]) == (
        "profile",
        None,
        fact["id"],
    )
    answer = {
        "answer": "uphold",
        "reason": "the move was within the city",
        "correct_date": "2026-09-02",
    }
    decided = client.post(f"/api/v1/disputes/{dispute['id']}/answer", json=answer, headers=staff)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "upheld"
    (fact,) = client.get("/api/v1/me/profile").json()
    assert fact["value"] == "2026-09-02"
