"""The authorization matrix: every route x every role (and no one), on SQLite.

A route the matrix does not list fails the test, so a new endpoint cannot ship without
deciding who may call it. "Allowed" means neither 401 nor 403 (the call may still be a
404 or a 422 on the sample input); "denied" means 403 for a signed-in role of the wrong
kind and 401 for no one. One resident asking for another's data is in test_portal.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from osmanthus.ledger import Ledger
from web_fixtures import BOB, sign_in

pytestmark = pytest.mark.usefixtures("people")

EVERYONE = "everyone"
RESIDENT = ("resident",)
DEPARTMENT = ("department",)
PROVIDER = ("provider",)
OVERSIGHT = ("operator", "auditor")
APPROVER = ("policy-approver",)
POLICY_READERS = ("operator", "auditor", "policy-approver")
PROPOSERS = ("operator", "policy-approver")
REVIEWER = ("reviewer",)
STAFF = ("department", "provider", "operator", "auditor", "policy-approver", "reviewer")
CALLERS = (
    None,
    "resident",
    "department",
    "provider",
    "operator",
    "auditor",
    "policy-approver",
    "reviewer",
)
ANSWER = {"answer": "reject", "reason": "the record stands as sent"}
DECISION = {"decision": "confirm", "reason": "the rejection stands as given"}

#: (method, path) -> who may call it, and a sample request.
MATRIX: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {
    ("GET", "/health"): (EVERYONE, {}),
    ("GET", "/ready"): (EVERYONE, {}),
    ("GET", "/metrics"): (EVERYONE, {}),
    ("GET", "/api/v1/ping"): (EVERYONE, {}),
    ("GET", "/"): (EVERYONE, {}),
    ("GET", "/signin"): (EVERYONE, {}),
    ("POST", "/signin"): (EVERYONE, {"data": {"national_id": BOB, "password": "x" * 9}}),
    ("POST", "/signin/key"): (EVERYONE, {"data": {"key": "osm_unknown"}}),
    ("POST", "/signout"): (EVERYONE, {}),
    ("GET", "/signin/oidc"): (EVERYONE, {}),
    ("GET", "/signin/oidc/callback"): (EVERYONE, {}),
    ("GET", "/lang/{code}"): (EVERYONE, {"path": {"code": "en"}}),
    ("GET", "/staff"): (STAFF + RESIDENT, {}),
    ("GET", "/me"): (RESIDENT, {}),
    ("GET", "/me/records/{record_id}"): (RESIDENT, {"path": {"record_id": "bob_record"}}),
    ("GET", "/me/calendar"): (RESIDENT, {}),
    ("GET", "/me/access"): (RESIDENT, {}),
    ("GET", "/me/disputes"): (RESIDENT, {}),
    ("POST", "/me/disputes"): (
        RESIDENT,
        {"data": {"record_id": "bob_record", "reason": "not me at all"}},
    ),
    ("POST", "/api/v1/profile-facts"): (
        DEPARTMENT,
        {
            "json": {
                "national_id": "320508198703150019",
                "attribute": "left_city_on",
                "value": "2026-01-01",
                "source_ref": "X-1",
            }
        },
    ),
    ("GET", "/me/profile"): (RESIDENT, {}),
    ("GET", "/api/v1/me/profile"): (RESIDENT, {}),
    ("POST", "/me/profile/disputes"): (
        RESIDENT,
        {"data": {"fact_id": "999", "reason": "this date is wrong"}},
    ),
    ("POST", "/api/v1/me/profile/disputes"): (
        RESIDENT,
        {"json": {"fact_id": 999, "reason": "this date is wrong"}},
    ),
    ("POST", "/me/repairs"): (
        RESIDENT,
        {"data": {"record_id": "bob_record", "statement": "I paid it in full"}},
    ),
    ("POST", "/api/v1/me/repairs"): (
        RESIDENT,
        {"json": {"record_id": "bob_record", "statement": "I paid it in full"}},
    ),
    ("GET", "/api/v1/me"): (RESIDENT, {}),
    ("GET", "/api/v1/me/access"): (RESIDENT, {}),
    ("GET", "/api/v1/me/disputes"): (RESIDENT, {}),
    ("POST", "/api/v1/me/disputes"): (
        RESIDENT,
        {"json": {"record_id": "bob_record", "reason": "not me at all"}},
    ),
    ("POST", "/me/disputes/{dispute_id}/appeal"): (
        RESIDENT,
        {"path": {"dispute_id": "999"}, "data": {"reason": "the answer is wrong"}},
    ),
    ("POST", "/api/v1/me/disputes/{dispute_id}/appeal"): (
        RESIDENT,
        {"path": {"dispute_id": "999"}, "json": {"reason": "the answer is wrong"}},
    ),
    ("GET", "/me/notices"): (RESIDENT, {}),
    ("POST", "/me/contact"): (RESIDENT, {"data": {"email": "", "language": "en"}}),
    ("GET", "/api/v1/me/notices"): (RESIDENT, {}),
    ("GET", "/api/v1/me/contact"): (RESIDENT, {}),
    ("PUT", "/api/v1/me/contact"): (RESIDENT, {"json": {"email": "", "language": "en"}}),
    ("GET", "/console/disputes/{dispute_id}"): (
        DEPARTMENT + REVIEWER,
        {"path": {"dispute_id": "999"}},
    ),
    ("POST", "/console/disputes/{dispute_id}/answer"): (
        DEPARTMENT,
        {"path": {"dispute_id": "999"}, "data": ANSWER},
    ),
    ("POST", "/console/disputes/{dispute_id}/review"): (
        REVIEWER,
        {"path": {"dispute_id": "999"}, "data": DECISION},
    ),
    ("GET", "/review"): (REVIEWER, {}),
    ("GET", "/api/v1/disputes"): (DEPARTMENT + REVIEWER + OVERSIGHT, {}),
    ("GET", "/api/v1/disputes/{dispute_id}"): (
        DEPARTMENT + REVIEWER,
        {"path": {"dispute_id": "999"}},
    ),
    ("POST", "/api/v1/disputes/{dispute_id}/answer"): (
        DEPARTMENT,
        {"path": {"dispute_id": "999"}, "json": ANSWER},
    ),
    ("POST", "/api/v1/disputes/{dispute_id}/review"): (
        REVIEWER,
        {"path": {"dispute_id": "999"}, "json": DECISION},
    ),
    ("GET", "/me/report"): (RESIDENT, {}),
    ("GET", "/me/report.json"): (RESIDENT, {}),
    ("GET", "/me/proof/{perk}"): (RESIDENT, {"path": {"perk": "civilization_loan"}}),
    ("POST", "/me/proof/{perk}"): (
        RESIDENT,
        {"path": {"perk": "civilization_loan"}, "data": {"national_id": BOB}},
    ),
    ("GET", "/api/v1/signing-key"): (EVERYONE, {}),
    ("GET", "/console"): (DEPARTMENT, {}),
    ("POST", "/console/batches"): (
        DEPARTMENT,
        {"files": {"file": ("b.csv", b"national_id\n", "text/csv")}},
    ),
    ("GET", "/console/batches/{batch_id}"): (DEPARTMENT, {"path": {"batch_id": "none"}}),
    ("POST", "/console/records"): (
        DEPARTMENT,
        {"data": {"source_ref": "none", "new_source_ref": "n", "reason": "why"}},
    ),
    ("POST", "/api/v1/batches"): (
        DEPARTMENT,
        {"content": b"national_id\n", "headers": {"content-type": "text/csv"}},
    ),
    ("GET", "/api/v1/batches/{batch_id}"): (DEPARTMENT, {"path": {"batch_id": "none"}}),
    ("POST", "/api/v1/records/supersede"): (
        DEPARTMENT,
        {"json": {"source_ref": "none", "new_source_ref": "n", "reason": "why"}},
    ),
    ("GET", "/api/v1/coverage"): (DEPARTMENT + OVERSIGHT, {}),
    ("POST", "/api/v1/eligibility"): (
        PROVIDER,
        {"json": {"national_id": BOB, "perk": "civilization_loan", "purpose": "loan_application"}},
    ),
    ("GET", "/provider"): (PROVIDER, {}),
    ("GET", "/api/v1/rechecks"): (PROVIDER, {}),
    ("GET", "/api/v1/proofs/revoked"): (EVERYONE, {}),
    ("POST", "/provider"): (
        PROVIDER,
        {"data": {"national_id": BOB, "perk": "civilization_loan", "purpose": "loan_application"}},
    ),
    ("GET", "/oversight"): (OVERSIGHT, {}),
    ("POST", "/oversight/verify"): (OVERSIGHT, {}),
    ("GET", "/api/v1/oversight"): (OVERSIGHT, {}),
    ("POST", "/api/v1/audit/verify"): (OVERSIGHT, {}),
    ("GET", "/policy"): (POLICY_READERS, {}),
    ("POST", "/policy/propose"): (PROPOSERS, {"data": {}}),
    ("GET", "/policy/{proposal_id}"): (POLICY_READERS, {"path": {"proposal_id": "1"}}),
    ("POST", "/policy/{proposal_id}/approve"): (APPROVER, {"path": {"proposal_id": "999"}}),
    ("POST", "/policy/{proposal_id}/reject"): (
        APPROVER,
        {"path": {"proposal_id": "1"}, "data": {"reason": "no"}},
    ),
    ("GET", "/api/v1/policy/proposals"): (POLICY_READERS, {}),
    ("POST", "/api/v1/policy/proposals"): (PROPOSERS, {}),
    ("GET", "/api/v1/policy/proposals/{proposal_id}"): (
        POLICY_READERS,
        {"path": {"proposal_id": "1"}},
    ),
    ("POST", "/api/v1/policy/proposals/{proposal_id}/approve"): (
        APPROVER,
        {"path": {"proposal_id": "999"}},  # (proposal 1 is the approver's own: refused)
    ),
    ("POST", "/api/v1/policy/proposals/{proposal_id}/reject"): (
        APPROVER,
        {"path": {"proposal_id": "1"}, "json": {"reason": "no"}},
    ),
    ("GET", "/docs"): (EVERYONE, {}),
    ("GET", "/transparency"): (EVERYONE, {}),
    ("GET", "/transparency/checkpoint.json"): (EVERYONE, {}),
    ("GET", "/api/v1/transparency"): (EVERYONE, {}),
}
DOCS = {"/openapi.json", "/docs"}


def routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers too."""
    found = set()
    pending = list(client.app.routes)  # type: ignore[attr-defined]
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found |= {(method, route.path) for method in route.methods}
        elif hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
            pending.extend(route.original_router.routes)
    return found


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    unlisted = sorted(routes(client) - set(MATRIX))
    assert not unlisted, f"add these routes to the authorization matrix: {unlisted}"
    gone = sorted(set(MATRIX) - routes(client))
    assert not gone, f"the matrix lists routes that no longer exist: {gone}"


def call(
    client: TestClient,
    method: str,
    path: str,
    sample: dict[str, Any],
    headers: dict[str, str],
    ids: dict[str, int],
    csrf: str,
) -> int:
    sample = dict(sample)
    for name, value in sample.pop("path", {}).items():
        path = path.replace("{" + name + "}", str(ids.get(value, value)))
    for part in ("data", "json"):
        if part in sample:
            sample[part] = {
                k: ids.get(v, v) if isinstance(v, str) else v for k, v in sample[part].items()
            }
    if method in ("POST", "PUT", "DELETE") and csrf:
        if "data" in sample or "files" in sample:
            sample["data"] = {**sample.get("data", {}), "csrf": csrf}
        headers = {**headers, "x-csrf-token": csrf}
    headers = {**headers, **sample.pop("headers", {})}
    response = client.request(method, path, headers=headers, follow_redirects=False, **sample)
    return response.status_code


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("who", CALLERS, ids=lambda w: w or "no-one")
def test_each_role_reaches_exactly_its_routes(
    client: TestClient,
    ledger: Ledger,
    keys: dict[str, str],
    people: dict[str, int],
    who: str | None,
) -> None:
    headers: dict[str, str] = {}
    csrf = ""
    if who == "resident":
        csrf = sign_in(client, BOB)
    elif who is not None:
        headers = {"Authorization": f"Bearer {keys[who]}"}
    wrong = []
    for (method, path), (allowed, sample) in sorted(MATRIX.items()):
        if method == "POST" and path == "/signout":
            continue  # would end the session the other rows use
        status = call(client, method, path, sample, headers, people, csrf)
        if allowed == EVERYONE:
            ok = status not in (403, 500) and (status != 401 or path.startswith("/signin"))
        elif who in allowed:
            ok = status not in (401, 403, 500)
        else:
            ok = status == (401 if who is None else 403)
        if not ok:
            wrong.append(f"{method} {path}: {status}")
    assert not wrong, f"{who or 'no one'}: {wrong}"


def _rows(ledger: Ledger) -> dict[str, int]:
    """Every ledger table's row count (what a refused request must not change); not the
    derived tables, which the service's upkeep fills in on its own time."""
    import sqlalchemy as sa

    from osmanthus.ledger.roles import DERIVED

    with ledger.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {
            name: int(conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one())
            for name in names
            if name not in DERIVED
        }


def settled(ledger: Ledger) -> None:
    """Wait until what the service writes on its own at start (its upkeep's first
    round) is written: the counts stand still for a moment."""
    import time

    last = _rows(ledger)
    for _ in range(50):
        time.sleep(0.1)
        now = _rows(ledger)
        if now == last:
            return
        last = now


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("who", [c for c in CALLERS if c is not None])
def test_a_browser_session_without_its_csrf_token_changes_nothing(
    client: TestClient,
    ledger: Ledger,
    keys: dict[str, str],
    people: dict[str, int],
    who: str,
) -> None:
    """The CSRF column of the matrix: every state-changing route a browser session of
    this role may use, sent once without the session's token and once with a wrong one,
    answers 403 and writes nothing (no row, no audit entry)."""
    if who == "resident":
        sign_in(client, BOB)
    else:
        opened = client.post("/signin/key", data={"key": keys[who]}, follow_redirects=False)
        assert opened.status_code == 303
    routes = [
        (method, path, sample)
        for (method, path), (allowed, sample) in sorted(MATRIX.items())
        if method in ("POST", "PUT", "DELETE") and allowed != EVERYONE and who in allowed
    ]
    assert routes or who == "auditor", who
    settled(ledger)
    wrong = []
    for method, path, sample in routes:
        for token in ("", "not-the-sessions-token"):
            before = _rows(ledger)
            status = call(client, method, path, sample, {}, people, token)
            after = _rows(ledger)
            changed = {t: (before.get(t), n) for t, n in after.items() if before.get(t) != n}
            if status != 403 or changed:
                wrong.append(f"{method} {path} with token {token!r}: {status} {changed}")
    assert not wrong, wrong
