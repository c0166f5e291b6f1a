"""The JSON API through an in-process client (SQLite and PostgreSQL): operations, the
provider eligibility check, API keys, roles and the one error envelope."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from factories import PERKS, make_id
from osmanthus.ledger import Actor, Ledger
from osmanthus.ledger.audit_overflow import Overflow
from osmanthus.ledger.audit_subjects import index_subjects
from osmanthus.ledger.database import sqlite_file
from osmanthus.web import create_key, revoke_key
from web_fixtures import ALICE, BOB


def overflow_entries(ledger: Ledger, after: int) -> list[dict[str, object]]:
    """The chain's entries after ``after`` waiting in the SQLite audit overflow."""
    database = sqlite_file(ledger.engine)
    if database is None:
        return []
    overflow = Overflow(database)
    try:
        return overflow.entries_after(after)
    finally:
        overflow.close()


def ask(client: TestClient, key: str | None, **body: str) -> dict[str, object]:
    question = {"national_id": ALICE, "perk": "civilization_loan", "purpose": "loan_application"}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post("/api/v1/eligibility", json={**question, **body}, headers=headers)
    found: dict[str, object] = response.json()
    found["_status"] = response.status_code
    return found


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/health").json() == {"ok": True, "status": "alive"}
    assert client.get("/ready").json() == {"ok": True, "status": "ready"}
    assert client.get("/api/v1/ping").json()["status"] == "pong"
    metrics = client.get("/metrics").text
    assert 'osmanthus_http_requests_total{method="GET",route="/health",status="200"} 1.0' in metrics
    assert client.get("/health").headers["x-request-id"]


@pytest.mark.usefixtures("people")
def test_a_provider_learns_eligible_or_not_and_until_when_never_the_score(
    client: TestClient, ledger: Ledger
) -> None:
    key = create_key(ledger.engine, role="provider", name="Bank of Suzhou", perks=PERKS)
    alice = ask(client, key)
    check_id = alice.pop("check_id")
    assert isinstance(check_id, int) and check_id > 0  # the check's audit entry
    assert alice == {
        "ok": True,
        "perk": "civilization_loan",
        "eligible": True,
        "valid_until": (ledger.today() + dt.timedelta(days=29)).isoformat(),
        "decided_on": ledger.today().isoformat(),
        "basis": "ledger",
        "revoked": None,
        "_status": 200,
    }
    bob = ask(client, key, national_id=BOB)
    assert (bob["eligible"], bob["valid_until"]) == (False, None)
    with ledger.engine.connect() as conn:
        entries = conn.execute(
            sa.text("SELECT seq, actor, action, purpose, detail FROM audit_log ORDER BY seq")
        ).all()
        stored = json.dumps(
            [list(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM audit_log")).all()]
        )
    # the chain's newest entries may wait in the overflow (on SQLite, while another
    # writer holds the database's lock: docs/architecture.md), committed all the same
    waiting = overflow_entries(ledger, entries[-1].seq if entries else 0)
    stored += json.dumps(waiting, default=str)
    chain = [(e.actor, e.action, e.purpose) for e in entries]
    chain += [(w["actor"], w["action"], w["purpose"]) for w in waiting]
    reads = [(actor, purpose) for actor, action, purpose in chain if action == "resident.read"]
    assert reads[-2:] == [
        ("provider:Bank of Suzhou", "loan_application"),
        ("provider:Bank of Suzhou", "loan_application"),
    ]
    assert ALICE not in stored and BOB not in stored  # the number is hashed, never stored


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("role", "department", "status"),
    [("department", "traffic-police", 403), ("operator", None, 403), ("auditor", None, 403)],
)
def test_only_providers_may_ask(
    client: TestClient, ledger: Ledger, role: str, department: str | None, status: int
) -> None:
    key = create_key(ledger.engine, role=role, name="someone", department=department)
    answer = ask(client, key)
    assert answer["_status"] == status and answer["ok"] is False
    assert "may not" in str(answer["error"])


@pytest.mark.usefixtures("people")
def test_no_key_a_wrong_key_or_a_revoked_key_is_not_signed_in(
    client: TestClient, ledger: Ledger
) -> None:
    assert ask(client, None)["_status"] == 401
    assert ask(client, "osm_not-a-key")["_status"] == 401
    key = create_key(ledger.engine, role="provider", name="bank", perks=PERKS)
    assert ask(client, key)["_status"] == 200
    revoke_key(ledger.engine, key)
    refused = ask(client, key)
    assert refused["_status"] == 401
    assert set(refused) == {"ok", "error", "errors", "status", "_status"}
    with ledger.engine.connect() as conn:
        hashes = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalars().all()
    assert key not in hashes and all(len(h) == 64 for h in hashes)


@pytest.mark.usefixtures("people")
def test_bad_questions_get_the_envelope(client: TestClient, ledger: Ledger) -> None:
    key = create_key(ledger.engine, role="provider", name="bank", perks=PERKS)
    wrong_id = ask(client, key, national_id="320508198703150011")
    assert wrong_id["_status"] == 422 and "check" in str(wrong_id["error"]).lower()
    assert ask(client, key, perk="free_lunch")["_status"] == 404
    unknown = ask(client, key, national_id=make_id(sequence=9))  # no registration oracle
    assert (unknown["_status"], unknown["eligible"]) == (200, False)
    missing = client.post(
        "/api/v1/eligibility", json={"perk": "x"}, headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert missing["status"] == 422
    assert {e["path"] for e in missing["errors"]} == {"body/purpose"}  # and no ID nor proof


def test_html_clients_get_the_envelope_as_a_page(client: TestClient) -> None:
    page = client.get("/no-such-page", headers={"accept": "text/html", "accept-language": "en"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Error 404" in page.text
    assert client.get("/api/v1/none").json() == {
        "ok": False,
        "error": "Not Found",
        "errors": [],
        "status": 404,
    }


@pytest.mark.usefixtures("people")
def test_the_fast_path_and_the_declared_route_answer_alike(
    client: TestClient, ledger: Ledger
) -> None:
    key = create_key(ledger.engine, role="provider", name="Bank of Suzhou", perks=PERKS)
    body = json.dumps(
        {"national_id": ALICE, "perk": "civilization_loan", "purpose": "loan_rate_review"}
    )

    def post(content_type: str, text: str = body) -> tuple[int, object]:
        response = client.post(
            "/api/v1/eligibility",
            content=text,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
        )
        return response.status_code, response.json()

    def reads() -> int:
        with ledger.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM audit_log WHERE purpose = 'loan_rate_review'")
                ).scalar_one()
            )

    fast = post("application/json")  # answered before the framework's routing
    routed = post("application/json; charset=utf-8")  # passed on to the declared route
    assert fast[0] == routed[0] == 200
    first, second = dict(fast[1]), dict(routed[1])  # type: ignore[call-overload]
    assert second.pop("check_id") > first.pop("check_id")  # each check has its own number
    assert first == second
    assert reads() == 2  # both audited, once each
    metrics = client.get("/metrics").text
    assert (
        'osmanthus_http_requests_total{method="POST",route="/api/v1/eligibility",status="200"} 2.0'
        in metrics
    )
    unknown = post("application/json", body.replace(ALICE, make_id(sequence=999)))
    assert unknown[0] == 200 and unknown[1]["eligible"] is False  # type: ignore[index]
    broken = post("application/json", '{"national_id": ')
    assert broken[0] == 422 and reads() == 3  # the unknown number's check is on record


def test_metrics_count_the_audit_entries_not_yet_indexed(
    client: TestClient, ledger: Ledger
) -> None:
    """The gauge operators alert on when the upkeep stops: entries written since the
    last indexing pass (lookups scan them)."""
    for _ in range(3):
        ledger.record_access(actor=Actor("operator", "metrics test"), action="t", purpose="t")
    while index_subjects(ledger.engine):
        pass
    seen = []
    for _ in range(3):  # the service's own upkeep may index in between: look again
        with ledger.engine.begin() as conn:  # as if passes had stopped 3 entries ago
            conn.execute(sa.text("UPDATE audit_indexed SET upto = upto - 3"))
        scraped = client.get("/metrics").text
        found = re.search(r"^osmanthus_audit_unindexed_entries ([\d.]+)$", scraped, re.M)
        assert found is not None
        seen.append(float(found.group(1)))
        if seen[-1] >= 3:
            break
    assert max(seen) >= 3
    while index_subjects(ledger.engine):
        pass
    assert "osmanthus_audit_unindexed_entries 0.0" in client.get("/metrics").text


def test_error_pages_are_the_sites_own_in_the_sessions_language(client: TestClient) -> None:
    """A browser's error page has the site's layout, speaks the session's language and
    leads back; a 405 says which methods are allowed."""
    html = {"accept": "text/html", "accept-language": "en"}
    english = client.get("/no-such-page", headers=html)
    assert english.status_code == 404
    assert "Back to the start page" in english.text and 'href="/static/style.css"' in english.text
    client.cookies.set("lang", "zh")
    chinese = client.get("/no-such-page", headers=html)
    assert chinese.status_code == 404 and "错误 404" in chinese.text and "返回首页" in chinese.text
    wrong = client.put("/api/v1/ping")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
