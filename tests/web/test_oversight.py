"""The oversight dashboard (SQLite and PostgreSQL): the distribution of the latest
population run, department coverage and freshness, open disputes with deadlines, and
the audit chain's head and verification."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import OPERATOR
from osmanthus.ledger import Ledger, chain_head, latest_checkpoint
from osmanthus.population import run_population
from osmanthus.reports.checkpoint import verify_checkpoint
from osmanthus.web.charts import bins
from web_fixtures import BOB, sign_in, sign_in_key

pytestmark = pytest.mark.usefixtures("people")


def population_dir(client: TestClient) -> Path:
    """Where the app under test looks for population runs."""
    found: Path = client.app.state.settings.resolved_population_dir  # type: ignore[attr-defined]
    return found


def test_the_dashboard_shows_the_latest_run_coverage_disputes_and_chain(
    client: TestClient,
    ledger: Ledger,
    keys: dict[str, str],
    people: dict[str, int],
    tmp_path: Path,
) -> None:
    auth = {"Authorization": f"Bearer {keys['auditor']}"}
    before = client.get("/api/v1/oversight", headers=auth).json()
    assert before["run"] is None and before["histogram"] == []
    run_population(ledger, population_dir(client), as_of=ledger.today(), actor=OPERATOR)
    csrf = sign_in(client, BOB)
    client.post(
        "/api/v1/me/disputes",
        json={"record_id": people["bob_record"], "reason": "I sold that car in May."},
        headers={"x-csrf-token": csrf},
    )
    figures = client.get("/api/v1/oversight", headers=auth).json()
    assert (figures["residents"], figures["above"], figures["at"], figures["below"]) == (2, 0, 1, 1)
    assert sum(n for _, n in figures["histogram"]) == 2
    [dispute] = figures["disputes"]
    assert (dispute["department"], dispute["overdue"]) == ("traffic-police", False)
    assert figures["chain"]["head"] == chain_head(ledger.engine).hash or figures["chain"]["seq"] < (
        chain_head(ledger.engine).seq
    )
    never = [d["department"] for d in figures["departments"] if d["never_sent"]]
    assert sorted(never) == sorted(set(ledger.policy.latest.departments) - {"traffic-police"})
    verified = client.post("/api/v1/audit/verify", headers=auth).json()
    assert verified["ok"] and verified["verified"] and verified["seq"] >= figures["chain"]["seq"]


def test_the_dashboard_page_draws_the_chart_for_an_operator(
    client: TestClient, ledger: Ledger, keys: dict[str, str], tmp_path: Path
) -> None:
    run_population(ledger, population_dir(client), as_of=ledger.today(), actor=OPERATOR)
    csrf = sign_in_key(client, keys["operator"], "/oversight")
    page = client.get("/oversight", headers={"accept-language": "en"}).text
    assert "<svg" in page and 'class="bar below"' in page and 'class="bar at"' in page
    verified = client.post(
        "/oversight/verify", data={"csrf": csrf}, headers={"accept-language": "en"}
    )
    assert 'data-testid="chain-status"' in verified.text and "verifies" in verified.text


def test_the_running_service_keeps_a_signed_checkpoint_the_dashboard_shows(
    client: TestClient, ledger: Ledger, keys: dict[str, str]
) -> None:
    """The app's default schedule (audit_checkpoint_hours = 24) signs one at start-up,
    since the ledger keeps none; the dashboard shows it and how far the chain has grown."""
    deadline = time.monotonic() + 30
    while latest_checkpoint(ledger.engine) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = latest_checkpoint(ledger.engine)
    assert kept is not None
    key = client.app.state.signing_key  # type: ignore[attr-defined]
    assert kept["signature"]["key_id"] == key.key_id
    verify_checkpoint(ledger.engine, kept, [key.public])
    auth = {"Authorization": f"Bearer {keys['auditor']}"}
    shown = client.get("/api/v1/oversight", headers=auth).json()["checkpoint"]
    assert (shown["seq"], shown["hash"]) == (kept["body"]["seq"], kept["body"]["hash"])
    assert shown["entries_since"] == chain_head(ledger.engine).seq - shown["seq"] > 0
    sign_in_key(client, keys["operator"], "/oversight")
    page = client.get("/oversight", headers={"accept-language": "en"}).text
    assert f"Latest signed checkpoint: entry {shown['seq']:,}" in page


def test_bins_keep_the_baseline_apart() -> None:
    bars = bins([[40, 1], [95, 2], [99, 1], [100, 7], [101, 3], [109, 1], [150, 2]], 100)
    assert [(b.low, b.high, b.count, b.band) for b in bars] == [
        (40, 49, 1, "below"),
        (90, 99, 3, "below"),
        (100, 100, 7, "at"),
        (101, 109, 4, "above"),
        (150, 159, 2, "above"),
    ]
